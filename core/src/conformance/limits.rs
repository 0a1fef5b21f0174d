//! Checks of delivery options and limits: delay, FIFO, batches, foreign messages, sizes,
//! unknown entities, provisioning, time to live, attributes.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{none, provision, publish, queue, receive_n, receive_one, unique, ABSENT, ARRIVES};
use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use crate::{Broker, Destination, Error, Message, Source};

/// A delayed message arrives no earlier than its delay; beyond the limit it is refused.
pub async fn delay(broker: &dyn Broker) {
    let q = queue(broker, "delay", 30, 5).await;
    let dest = Destination::queue(&q);
    let Some(max) = broker.capabilities().max_delay else {
        let err = broker
            .publish(&dest, Message::new("d").with_delay(Duration::from_secs(1)))
            .await;
        assert!(matches!(err, Err(Error::Unsupported { .. })), "{err:?}");
        return;
    };
    publish(
        broker,
        &dest,
        Message::new("late").with_delay(Duration::from_secs(3)),
    )
    .await;
    none(broker, &Source::queue(&q), "delayed by 3 s").await;
    receive_one(broker, &Source::queue(&q))
        .await
        .ack()
        .await
        .expect("ack");
    let err = broker
        .publish(
            &dest,
            Message::new("x").with_delay(max + Duration::from_secs(1)),
        )
        .await;
    assert!(
        matches!(err, Err(Error::Unsupported { .. })),
        "delay beyond {max:?}: {err:?}"
    );
}

/// FIFO: in order per group, one group member in flight at a time, duplicates dropped.
pub async fn fifo_order_and_dedup(broker: &dyn Broker) {
    let name = unique("fifo");
    let mut spec = QueueSpec::new(&name);
    spec.fifo = true;
    let t = Topology {
        queues: vec![spec],
        ..Topology::default()
    };
    if !broker.capabilities().fifo {
        let err = broker.provision(&t).await.expect_err("fifo unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    }
    provision(broker, t).await;
    let dest = Destination::queue(&name);
    let src = Source::queue(&name);
    let msg = |body: &str, group: &str| Message::new(body).with_group_id(group).with_dedup_id(body);
    for (body, group) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")] {
        publish(broker, &dest, msg(body, group)).await;
    }
    publish(broker, &dest, msg("a1", "a")).await; // a duplicate: dropped
    let err = broker
        .publish(&dest, Message::new("no group").with_dedup_id("z"))
        .await;
    assert!(
        matches!(err, Err(Error::InvalidInput { .. })),
        "FIFO without group: {err:?}"
    );

    let first = receive_one(broker, &src).await;
    let first_group = first
        .message()
        .group_id
        .clone()
        .expect("group id comes back");
    // While `first` is in flight, its group is blocked; only the other group may come.
    let others = broker.receive(&src, 10, ABSENT).await.expect("receive");
    for d in &others {
        assert_ne!(
            d.message().group_id.as_ref(),
            Some(&first_group),
            "group blocked while in flight"
        );
    }
    let mut bodies = vec![String::from_utf8_lossy(&first.message().body).into_owned()];
    first.ack().await.expect("ack");
    for d in others {
        bodies.push(String::from_utf8_lossy(&d.message().body).into_owned());
        d.ack().await.expect("ack");
    }
    while bodies.len() < 4 {
        let d = receive_one(broker, &src).await;
        bodies.push(String::from_utf8_lossy(&d.message().body).into_owned());
        d.ack().await.expect("ack");
    }
    let a: Vec<&String> = bodies.iter().filter(|b| b.starts_with('a')).collect();
    assert_eq!(
        a,
        ["a1", "a2", "a3"],
        "group a in order, duplicate dropped (all: {bodies:?})"
    );
    none(broker, &src, "the duplicate a1 was dropped").await;
}

/// A batch of 25 is published (in chunks where the backend needs) and all arrive.
pub async fn batch_publish(broker: &dyn Broker) {
    let q = queue(broker, "batch", 30, 5).await;
    let messages: Vec<Message> = (0..25).map(|i| Message::new(format!("m{i}"))).collect();
    let results = broker
        .publish_batch(&Destination::queue(&q), messages)
        .await
        .expect("batch");
    assert_eq!(results.len(), 25);
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "entry {i}: {r:?}");
    }
    let got = receive_n(broker, &Source::queue(&q), 25, ARRIVES * 2).await;
    let bodies: BTreeSet<Vec<u8>> = got.iter().map(|d| d.message().body.clone()).collect();
    assert_eq!(bodies.len(), 25, "all 25 distinct messages arrived");
    for d in got {
        d.ack().await.expect("ack");
    }
}

/// Messages from foreign producers (no CloudEvent attributes) arrive as raw deliveries.
pub async fn foreign_messages(broker: &dyn Broker) {
    let q = queue(broker, "foreign", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("plain text")).await;
    publish(
        broker,
        &Destination::queue(&q),
        Message::new(r#"{"legacy":true}"#),
    )
    .await;
    let got = receive_n(broker, &Source::queue(&q), 2, ARRIVES).await;
    assert_eq!(got.len(), 2, "both foreign messages arrive");
    for d in got {
        assert_eq!(d.event_type(), None);
        let err = d.event::<serde_json::Value>().expect_err("not an event");
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        assert!(d.message().body == b"plain text" || d.message().body == br#"{"legacy":true}"#);
        d.ack().await.expect("ack");
    }
}

/// A message over the size limit is refused before anything is sent.
pub async fn oversize_refused(broker: &dyn Broker) {
    let q = queue(broker, "big", 30, 5).await;
    let limit = broker.capabilities().max_message_size;
    let err = broker
        .publish(&Destination::queue(&q), Message::new(vec![b'x'; limit + 1]))
        .await;
    match err {
        Err(Error::PayloadTooLarge { size, limit: l }) => assert!(size > l && l == limit),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    publish(
        broker,
        &Destination::queue(&q),
        Message::new(vec![b'y'; limit - 64]),
    )
    .await;
    let d = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(
        d.message().body.len(),
        limit - 64,
        "a message just under the limit arrives whole"
    );
    d.ack().await.expect("ack");
}

/// Unknown topics, queues and subscriptions are `NotFound`.
pub async fn unknown_entities_not_found(broker: &dyn Broker) {
    let missing = unique("missing");
    for dest in [Destination::topic(&missing), Destination::queue(&missing)] {
        let err = broker.publish(&dest, Message::new("x")).await;
        assert!(
            matches!(err, Err(Error::NotFound { .. })),
            "{dest}: {err:?}"
        );
    }
    for src in [Source::queue(&missing), Source::subscription(&missing, "s")] {
        let err = broker.receive(&src, 1, Duration::ZERO).await;
        assert!(matches!(err, Err(Error::NotFound { .. })), "{src}: {err:?}");
    }
}

/// Provisioning the same topology twice changes nothing the second time.
pub async fn provision_is_idempotent(broker: &dyn Broker) {
    let topic = unique("idem");
    let mut sub = SubscriptionSpec::new(&topic, "s");
    sub.filter = Some(serde_json::from_value(serde_json::json!({"type": ["A"]})).expect("policy"));
    let t = Topology {
        topics: vec![TopicSpec::new(&topic)],
        queues: vec![QueueSpec::new(format!("{topic}-q"))],
        subscriptions: vec![sub],
    };
    let first = broker.provision(&t).await.expect("first provision");
    assert!(!first.is_unchanged(), "the first run creates: {first}");
    let second = broker.provision(&t).await.expect("second provision");
    assert!(
        second.is_unchanged(),
        "the second run changes nothing: {second}"
    );
}

/// `extend(by)` keeps a delivery hidden beyond its visibility timeout.
pub async fn extend_keeps_hidden(broker: &dyn Broker) {
    let q = queue(broker, "ext", 1, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("slow")).await;
    let d = receive_one(broker, &Source::queue(&q)).await;
    if !broker.capabilities().extend {
        let err = d
            .extend(Duration::from_secs(5))
            .await
            .expect_err("unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    }
    d.extend(Duration::from_secs(5)).await.expect("extend");
    none(
        broker,
        &Source::queue(&q),
        "extended past the 1 s visibility timeout",
    )
    .await;
    d.ack().await.expect("ack after extend");
}

/// Settling consumes a delivery (it cannot be settled twice); a settlement that fails
/// hands the delivery back, still unsettled, and it can then be settled another way.
pub async fn failed_settlement_hands_back(broker: &dyn Broker) {
    let q = queue(broker, "back", 30, 5).await;
    let src = Source::queue(&q);
    publish(broker, &Destination::queue(&q), Message::new("x")).await;
    let mut d = receive_one(broker, &src).await;
    if broker.capabilities().explicit_dead_letter {
        // A message in a dead-letter queue cannot be dead-lettered again.
        d.dead_letter("first").await.expect("dead_letter");
        d = receive_one(broker, &src.dead_letter()).await;
    }
    let refused = d
        .dead_letter("again")
        .await
        .expect_err("no further dead-letter queue / no dead-lettering on request");
    assert!(
        matches!(refused.error, Error::Unsupported { .. }),
        "{}",
        refused.error
    );
    assert_eq!(refused.delivery.message().body, b"x", "handed back");
    let src_of = refused.delivery.info().source.clone();
    refused
        .delivery
        .ack()
        .await
        .expect("ack the handed-back delivery");
    none(broker, &src_of, "acked after the refused settlement").await;
}

/// A message past its time to live is not delivered, or TTL is refused as unsupported.
pub async fn time_to_live(broker: &dyn Broker) {
    let q = queue(broker, "ttl", 30, 5).await;
    let dest = Destination::queue(&q);
    let msg = Message::new("stale").with_time_to_live(Duration::from_secs(1));
    if !broker.capabilities().time_to_live {
        let err = broker.publish(&dest, msg).await;
        assert!(matches!(err, Err(Error::Unsupported { .. })), "{err:?}");
        return;
    }
    publish(broker, &dest, msg).await;
    publish(broker, &dest, Message::new("fresh")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let d = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(d.message().body, b"fresh");
    d.ack().await.expect("ack");
    none(broker, &Source::queue(&q), "the expired message is gone").await;
}

/// As many attributes as the backend allows round-trip; one more is refused.
pub async fn attribute_limit(broker: &dyn Broker) {
    let q = queue(broker, "attrs", 30, 5).await;
    let dest = Destination::queue(&q);
    let limit = broker.capabilities().max_attributes.unwrap_or(20);
    let with = |n: usize| {
        (0..n).fold(Message::new("a"), |m, i| {
            m.with_attribute(format!("a{i}"), format!("v{i}"))
        })
    };
    publish(broker, &dest, with(limit)).await;
    let d = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(
        d.message()
            .attributes
            .iter()
            .filter(|(k, _)| k.starts_with('a'))
            .count(),
        limit
    );
    d.ack().await.expect("ack");
    if broker.capabilities().max_attributes.is_some() {
        let err = broker.publish(&dest, with(limit + 1)).await;
        assert!(
            matches!(
                err,
                Err(Error::Unsupported { .. }) | Err(Error::InvalidInput { .. })
            ),
            "{} attributes: {err:?}",
            limit + 1
        );
    }
}
