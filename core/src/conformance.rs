//! The conformance suite: one set of checks every backend runs.
//!
//! Each check is a plain `async fn(&dyn Broker)` that provisions its own uniquely named
//! entities (so checks run in parallel and against shared cloud accounts) and panics with
//! a message on failure. What a backend cannot do is read from
//! [`Broker::capabilities`]: the check then asserts a clear [`Error::Unsupported`].
//!
//! A backend's test file runs all of them with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```text
//! courier_core::conformance_tests!(async { std::sync::Arc::new(courier_core::MemoryBroker::new()) });
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::attr;
use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use crate::{Broker, Delivery, Destination, Error, Event, Message, PublisherExt, Source};

/// How long a check waits for something that should arrive.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long a check waits to be sure that something does not arrive.
const ABSENT: Duration = Duration::from_millis(1500);

/// A name no other test uses: `<prefix>-<8 hex digits>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs every check of the suite as its own `#[tokio::test]`.
///
/// `$make` is an expression evaluating to a future of something that dereferences to
/// `dyn Broker` (e.g. `Arc<dyn Broker>`); it runs once per test.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            round_trip, event_codec, fan_out_with_filters, ack_removes, nack_redelivers_with_count,
            nack_with_delay, visibility_expiry_redelivers, dead_letter_after_max_deliveries,
            dead_letter_on_request, delay, fifo_order_and_dedup, batch_publish, foreign_messages,
            oversize_refused, unknown_entities_not_found, provision_is_idempotent, extend_keeps_hidden,
            settle_once, time_to_live, attribute_limit);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let broker = $make.await;
                $crate::conformance::$case(&*broker).await;
            }
        )*
    };
}

/// The event data the suite sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub order_id: String,
    /// Total in cents.
    pub total_cents: u64,
}

async fn provision(broker: &dyn Broker, topology: Topology) {
    broker
        .provision(&topology)
        .await
        .unwrap_or_else(|e| panic!("provisioning {topology:?} failed: {e}"));
}

/// A fresh standard queue with this visibility timeout and max receive count.
async fn queue(broker: &dyn Broker, prefix: &str, visibility: u32, max_receive: u32) -> String {
    let name = unique(prefix);
    let mut q = QueueSpec::new(&name);
    q.visibility_timeout_secs = visibility;
    q.max_receive_count = max_receive;
    provision(
        broker,
        Topology {
            queues: vec![q],
            ..Topology::default()
        },
    )
    .await;
    name
}

/// Receives until `n` deliveries arrived or `within` passed.
pub async fn receive_n(
    broker: &dyn Broker,
    source: &Source,
    n: usize,
    within: Duration,
) -> Vec<Delivery> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = left.min(Duration::from_secs(5));
        let got = broker
            .receive(source, (n - out.len()).min(10), wait)
            .await
            .unwrap_or_else(|e| panic!("receive from {source} failed: {e}"));
        out.extend(got);
    }
    out
}

async fn one(broker: &dyn Broker, source: &Source) -> Delivery {
    receive_n(broker, source, 1, ARRIVES)
        .await
        .pop()
        .unwrap_or_else(|| panic!("nothing arrived on {source} within {ARRIVES:?}"))
}

async fn none(broker: &dyn Broker, source: &Source, why: &str) {
    let got = broker.receive(source, 10, ABSENT).await.expect("receive");
    assert!(
        got.is_empty(),
        "{why}: yet {} message(s) arrived on {source}: {got:?}",
        got.len()
    );
}

fn order(n: u64) -> Event<Order> {
    Event::new(
        "/conformance",
        "OrderCreated",
        Order {
            order_id: format!("o-{n}"),
            total_cents: n,
        },
    )
}

async fn publish(broker: &dyn Broker, dest: &Destination, message: Message) -> String {
    broker
        .publish(dest, message)
        .await
        .unwrap_or_else(|e| panic!("publish to {dest} failed: {e}"))
}

/// Body, attributes, content type and ids survive a publish/receive; count starts at 1.
pub async fn round_trip(broker: &dyn Broker) {
    let q = queue(broker, "rt", 30, 5).await;
    let msg = Message::new(r#"{"hello":"world"}"#)
        .with_content_type("application/json")
        .with_attribute("tenant", "acme")
        .with_message_id("m-1")
        .with_correlation_id("c-1");
    publish(broker, &Destination::queue(&q), msg.clone()).await;
    let d = one(broker, &Source::queue(&q)).await;
    assert_eq!(d.message().body, msg.body, "body");
    assert_eq!(
        d.message().attributes.get("tenant").map(String::as_str),
        Some("acme"),
        "attribute"
    );
    assert_eq!(
        d.message().content_type.as_deref(),
        Some("application/json"),
        "content type"
    );
    assert_eq!(d.message().message_id.as_deref(), Some("m-1"), "message id");
    assert_eq!(
        d.message().correlation_id.as_deref(),
        Some("c-1"),
        "correlation id"
    );
    assert_eq!(d.delivery_count(), 1, "first delivery counts 1");
    assert!(!d.info().broker_message_id.is_empty(), "broker message id");
    d.ack().await.expect("ack");
}

/// An event comes back equal, context and trace included.
pub async fn event_codec(broker: &dyn Broker) {
    let q = queue(broker, "ev", 30, 5).await;
    let e = order(7)
        .with_subject("o-7")
        .with_trace(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("vendor=1".into()),
        )
        .with_attribute("region", "eu-west");
    broker
        .publish_event(&Destination::queue(&q), &e)
        .await
        .expect("publish event");
    let d = one(broker, &Source::queue(&q)).await;
    assert_eq!(d.event_type(), Some("OrderCreated"));
    let back: Event<Order> = d.event().expect("decode");
    assert_eq!(back.id, e.id);
    assert_eq!(back.source, e.source);
    assert_eq!(back.subject, e.subject);
    assert_eq!(back.data, e.data);
    assert_eq!(back.traceparent, e.traceparent);
    assert_eq!(back.tracestate, e.tracestate);
    assert_eq!(back.attributes, e.attributes);
    let (sent, got) = (e.time.expect("time"), back.time.expect("time survives"));
    assert!(
        (sent - got).num_milliseconds().abs() < 1,
        "time {sent} came back as {got}"
    );
    d.ack().await.expect("ack");
}

/// A topic copies each message to every subscription whose filter matches.
pub async fn fan_out_with_filters(broker: &dyn Broker) {
    let topic = unique("fan");
    let policy = |v: serde_json::Value| Some(serde_json::from_value(v).expect("policy"));
    let all = SubscriptionSpec::new(&topic, "all");
    let mut created = SubscriptionSpec::new(&topic, "created");
    created.filter = policy(serde_json::json!({"type": ["OrderCreated"]}));
    let mut eu = SubscriptionSpec::new(&topic, "eu");
    eu.filter = policy(
        serde_json::json!({"region": [{"prefix": "eu-"}], "type": [{"anything-but": ["OrderTest"]}]}),
    );
    let t = Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![all, created, eu],
        ..Topology::default()
    };
    provision(broker, t).await;
    let dest = Destination::topic(&topic);
    let created_eu = order(1).with_attribute("region", "eu-west");
    let mut cancelled_us = order(2).with_attribute("region", "us-east");
    cancelled_us.ty = "OrderCancelled".into();
    broker
        .publish_event(&dest, &created_eu)
        .await
        .expect("publish");
    broker
        .publish_event(&dest, &cancelled_us)
        .await
        .expect("publish");

    let ids = |ds: &[Delivery]| -> BTreeSet<String> {
        ds.iter()
            .map(|d| d.event::<Order>().expect("decode").id)
            .collect()
    };
    let got_all = receive_n(broker, &Source::subscription(&topic, "all"), 2, ARRIVES).await;
    assert_eq!(
        ids(&got_all),
        BTreeSet::from([created_eu.id.clone(), cancelled_us.id.clone()]),
        "unfiltered gets both"
    );
    for (sub, expected) in [("created", &created_eu.id), ("eu", &created_eu.id)] {
        let src = Source::subscription(&topic, sub);
        let got = one(broker, &src).await;
        assert_eq!(
            &got.event::<Order>().expect("decode").id,
            expected,
            "{sub} gets only its match"
        );
        got.ack().await.expect("ack");
        none(broker, &src, "the filter excludes the other event").await;
    }
    for d in got_all {
        d.ack().await.expect("ack");
    }
}

/// An acked message is gone: not redelivered after its visibility timeout.
pub async fn ack_removes(broker: &dyn Broker) {
    let q = queue(broker, "ack", 1, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("x")).await;
    one(broker, &Source::queue(&q))
        .await
        .ack()
        .await
        .expect("ack");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    none(broker, &Source::queue(&q), "acked").await;
}

/// `nack(0)` gives the message back at once, with the delivery count one higher.
pub async fn nack_redelivers_with_count(broker: &dyn Broker) {
    let q = queue(broker, "nack", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("again")).await;
    let first = one(broker, &Source::queue(&q)).await;
    first.nack(Duration::ZERO).await.expect("nack");
    let second = one(broker, &Source::queue(&q)).await;
    assert_eq!(second.message().body, b"again");
    assert_eq!(
        second.delivery_count(),
        first.delivery_count() + 1,
        "count + 1"
    );
    second.ack().await.expect("ack");
}

/// `nack(after)` hides the message for `after`, or is refused as unsupported.
pub async fn nack_with_delay(broker: &dyn Broker) {
    let q = queue(broker, "nackd", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("later")).await;
    let d = one(broker, &Source::queue(&q)).await;
    if !broker.capabilities().nack_delay {
        let err = d
            .nack(Duration::from_secs(2))
            .await
            .expect_err("nack with delay is unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        d.ack().await.expect("ack after refused nack");
        return;
    }
    d.nack(Duration::from_secs(3)).await.expect("nack");
    none(broker, &Source::queue(&q), "nacked for 3 s").await;
    let again = one(broker, &Source::queue(&q)).await;
    assert_eq!(again.delivery_count(), 2);
    again.ack().await.expect("ack");
}

/// A delivery left unsettled comes back after the visibility timeout.
pub async fn visibility_expiry_redelivers(broker: &dyn Broker) {
    let q = queue(broker, "vis", 1, 5).await;
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("lost consumer"),
    )
    .await;
    let first = one(broker, &Source::queue(&q)).await;
    drop(first); // the consumer "crashed"
    let again = one(broker, &Source::queue(&q)).await;
    assert_eq!(again.message().body, b"lost consumer");
    assert_eq!(again.delivery_count(), 2);
    again.ack().await.expect("ack");
}

/// After `max_receive_count` deliveries the message moves to the dead-letter queue.
pub async fn dead_letter_after_max_deliveries(broker: &dyn Broker) {
    let q = queue(broker, "redrive", 1, 2).await;
    let src = Source::queue(&q);
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("poison").with_attribute("k", "v"),
    )
    .await;
    for attempt in 1..=2 {
        let d = one(broker, &src).await;
        assert_eq!(d.delivery_count(), attempt);
        d.nack(Duration::ZERO).await.expect("nack");
    }
    none(broker, &src, "delivered max_receive_count times").await;
    let dead = one(broker, &src.dead_letter()).await;
    assert_eq!(dead.message().body, b"poison");
    assert_eq!(
        dead.message().attributes.get("k").map(String::as_str),
        Some("v"),
        "attributes kept"
    );
    dead.ack().await.expect("ack in the dead-letter queue");
}

/// `dead_letter(reason)` moves the message at once and keeps the reason.
pub async fn dead_letter_on_request(broker: &dyn Broker) {
    let q = queue(broker, "dlr", 30, 5).await;
    let src = Source::queue(&q);
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("bad").with_attribute("k", "v"),
    )
    .await;
    let d = one(broker, &src).await;
    if !broker.capabilities().explicit_dead_letter {
        let err = d.dead_letter("x").await.expect_err("unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    }
    d.dead_letter("invalid order: quantity 0")
        .await
        .expect("dead_letter");
    let dead = one(broker, &src.dead_letter()).await;
    assert_eq!(dead.message().body, b"bad");
    assert_eq!(
        dead.message().attributes.get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(
        dead.message()
            .attributes
            .get(attr::DEAD_LETTER_REASON)
            .map(String::as_str),
        Some("invalid order: quantity 0"),
        "reason kept"
    );
    none(broker, &src, "dead-lettered").await;
}

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
    one(broker, &Source::queue(&q))
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

    let first = one(broker, &src).await;
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
    first.ack().await.expect("ack");
    let mut bodies = vec![String::from_utf8_lossy(&first.message().body).into_owned()];
    for d in others {
        bodies.push(String::from_utf8_lossy(&d.message().body).into_owned());
        d.ack().await.expect("ack");
    }
    while bodies.len() < 4 {
        let d = one(broker, &src).await;
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
    let d = one(broker, &Source::queue(&q)).await;
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
    let d = one(broker, &Source::queue(&q)).await;
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

/// A delivery settles once; the next settlement is `AlreadySettled`.
pub async fn settle_once(broker: &dyn Broker) {
    let q = queue(broker, "once", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("x")).await;
    let d = one(broker, &Source::queue(&q)).await;
    d.ack().await.expect("ack");
    assert!(matches!(d.ack().await, Err(Error::AlreadySettled)));
    assert!(matches!(
        d.nack(Duration::ZERO).await,
        Err(Error::AlreadySettled)
    ));
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
    let d = one(broker, &Source::queue(&q)).await;
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
    let d = one(broker, &Source::queue(&q)).await;
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
