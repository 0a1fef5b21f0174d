//! Checks of the operator's tools: depth, and dead-letter queues peeked, redriven and
//! purged through the same API on every backend.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::{none, order, provision, receive_n, receive_one, unique, ARRIVES};
use crate::dead_letter::RedriveOptions;
use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use crate::{Broker, Delivery, Destination, Event, PublisherExt, Source};

/// Dead-letters `d`: on request where the backend can, else by its max delivery count
/// (the queue was made with `max_receive_count: 1`).
async fn dead_letter(broker: &dyn Broker, d: Delivery, reason: &str) {
    if broker.capabilities().explicit_dead_letter {
        d.dead_letter(reason).await.expect("dead_letter");
    } else {
        d.nack(Duration::ZERO)
            .await
            .expect("release to the redrive");
    }
}

fn max_receive(broker: &dyn Broker) -> u32 {
    if broker.capabilities().explicit_dead_letter {
        5
    } else {
        1
    }
}

/// Polls `depth` until `visible` reaches `ready` (SQS counts approximately and late), then
/// asserts it. A backend that counts ready and in-flight messages only as one sum
/// (`active`) is held to that sum instead: `ready` plus the `in_flight` the caller holds.
async fn expect_ready(
    broker: &dyn Broker,
    source: &Source,
    ready: u64,
    in_flight: u64,
    what: &str,
) {
    let deadline = Instant::now() + ARRIVES;
    loop {
        let depth = broker.depth(source).await.expect("depth");
        let (seen, want) = match (depth.visible, depth.active) {
            (Some(v), _) => (v, ready),
            (None, Some(active)) => (active, ready + in_flight),
            (None, None) => panic!("the backend counts neither visible nor active: {depth:?}"),
        };
        if seen == want || Instant::now() >= deadline {
            assert_eq!(seen, want, "{what}: {source}: {depth:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Depth counts what waits, what is in flight, and what a dead-letter queue holds.
pub async fn depth_counts(broker: &dyn Broker) {
    let q = unique("depth");
    let mut spec = QueueSpec::new(&q);
    spec.max_receive_count = max_receive(broker);
    provision(
        broker,
        Topology {
            queues: vec![spec],
            ..Topology::default()
        },
    )
    .await;
    let src = Source::queue(&q);
    for n in 0..3 {
        broker
            .publish_event(&Destination::queue(&q), &order(n))
            .await
            .expect("publish");
    }
    expect_ready(broker, &src, 3, 0, "three waiting").await;
    let d = receive_one(broker, &src).await;
    expect_ready(broker, &src, 2, 1, "one taken").await;
    let depth = broker.depth(&src).await.expect("depth");
    if let Some(in_flight) = depth.in_flight {
        assert_eq!(in_flight, 1, "one in flight: {depth:?}");
    }
    dead_letter(broker, d, "depth check").await;
    expect_ready(broker, &src.dead_letter(), 1, 0, "one dead-lettered").await;
}

/// Peek shows dead letters with their reasons and leaves them; redrive moves them back
/// unchanged (by type, dry run first); purge needs nothing more and empties the queue.
pub async fn dead_letters_peek_redrive_purge(broker: &dyn Broker) {
    let q = unique("dlq");
    let mut spec = QueueSpec::new(&q);
    spec.max_receive_count = max_receive(broker);
    provision(
        broker,
        Topology {
            queues: vec![spec],
            ..Topology::default()
        },
    )
    .await;
    let (src, dest) = (Source::queue(&q), Destination::queue(&q));
    let mut sent: Vec<Event<super::Order>> = (1..=3).map(order).collect();
    sent[2].ty = "OrderCancelled".into();
    for e in &mut sent {
        *e = e.clone().with_subject("s").with_attribute("tenant", "acme");
        broker.publish_event(&dest, e).await.expect("publish");
    }
    let before = std::time::SystemTime::now() - Duration::from_secs(60);
    for d in receive_n(broker, &src, 3, ARRIVES).await {
        dead_letter(broker, d, "invalid order").await;
    }

    let peeked = broker.peek_dead_letters(&src, 10).await.expect("peek");
    assert_eq!(peeked.len(), 3, "every dead letter shown");
    for p in &peeked {
        assert!(p.reason.is_some(), "a reason is recorded: {p:?}");
        assert!(p.event_id.is_some() && p.event_type.is_some(), "{p:?}");
        if broker.capabilities().explicit_dead_letter {
            // courier dead-lettered it itself, so it knows when.
            let at = p.dead_lettered_at.expect("when it was dead-lettered");
            assert!(at > before, "dead-lettered just now: {p:?}");
        }
    }
    let again = broker
        .peek_dead_letters(&src, 10)
        .await
        .expect("peek again");
    assert_eq!(again.len(), 3, "peeking leaves them in place");

    let cancelled = RedriveOptions {
        event_type: Some("OrderCreated".into()),
        dry_run: true,
        ..RedriveOptions::default()
    };
    let dry = broker
        .redrive_dead_letters(&src, &cancelled)
        .await
        .expect("dry run");
    assert_eq!((dry.moved, dry.skipped), (2, 1), "{dry:?}");
    none(broker, &src, "a dry run moves nothing").await;

    let real = RedriveOptions {
        dry_run: false,
        ..cancelled
    };
    let report = broker
        .redrive_dead_letters(&src, &real)
        .await
        .expect("redrive");
    assert_eq!((report.moved, report.skipped), (2, 1), "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let back = receive_n(broker, &src, 2, ARRIVES).await;
    let ids: BTreeSet<String> = back
        .iter()
        .map(|d| d.event_id().unwrap().into_owned())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([sent[0].id.clone(), sent[1].id.clone()]),
        "ids unchanged"
    );
    for d in back {
        let e: Event<super::Order> = d.event().expect("body and context unchanged");
        assert_eq!(e.attributes.get("tenant").map(String::as_str), Some("acme"));
        assert_eq!(e.subject.as_deref(), Some("s"));
        assert_eq!(
            d.dead_letter_reason(),
            None,
            "the reason is not carried back"
        );
        assert_eq!(d.delivery_count(), 1, "a new life");
        d.ack().await.expect("ack");
    }

    let purged = broker.purge_dead_letters(&src).await.expect("purge");
    assert_eq!(purged, 1, "the cancelled one was left, then purged");
    assert!(broker
        .peek_dead_letters(&src, 10)
        .await
        .expect("peek")
        .is_empty());
}

/// A subscription's dead letters go back to that subscription only, never to its topic.
pub async fn redrive_reaches_only_its_subscription(broker: &dyn Broker) {
    let topic = unique("rd");
    let mut a = SubscriptionSpec::new(&topic, "a");
    a.max_receive_count = max_receive(broker);
    let b = SubscriptionSpec::new(&topic, "b");
    provision(
        broker,
        Topology {
            topics: vec![TopicSpec::new(&topic)],
            subscriptions: vec![a, b],
            ..Topology::default()
        },
    )
    .await;
    let e = order(7);
    broker
        .publish_event(&Destination::topic(&topic), &e)
        .await
        .expect("publish");
    let (sa, sb) = (
        Source::subscription(&topic, "a"),
        Source::subscription(&topic, "b"),
    );
    receive_one(broker, &sb)
        .await
        .ack()
        .await
        .expect("b handles it");
    dead_letter(broker, receive_one(broker, &sa).await, "a failed").await;
    let report = broker
        .redrive_dead_letters(&sa, &RedriveOptions::default())
        .await
        .expect("redrive");
    assert_eq!(report.moved, 1, "{report:?}");
    let back = receive_one(broker, &sa).await;
    assert_eq!(back.event_id().as_deref(), Some(e.id.as_str()));
    back.ack().await.expect("ack");
    none(
        broker,
        &sb,
        "the other subscription does not see the redrive",
    )
    .await;
}
