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

use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use crate::{Broker, Delivery, Destination, Event, Message, PublisherExt, Source};

mod limits;
mod operations;
mod requests;
mod settlement;

pub use limits::*;
pub use operations::*;
pub use requests::*;
pub use settlement::*;

/// How long a check waits for something that should arrive.
pub(super) const ARRIVES: Duration = Duration::from_secs(10);
/// How long a check waits to be sure that something does not arrive.
pub(super) const ABSENT: Duration = Duration::from_millis(1500);

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
/// `dyn Broker` (e.g. `Arc<dyn Broker>`, or a broker with the server it talks to); it runs
/// once per test. Checks that need to share the broker with tasks get it through
/// [`Shared`].
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            round_trip, event_codec, fan_out_with_filters, ack_removes, nack_redelivers_with_count,
            nack_with_delay, visibility_expiry_redelivers, dead_letter_after_max_deliveries,
            dead_letter_on_request, delay, fifo_order_and_dedup, batch_publish, foreign_messages,
            oversize_refused, unknown_entities_not_found, provision_is_idempotent, extend_keeps_hidden,
            failed_settlement_hands_back, time_to_live, attribute_limit, depth_counts,
            dead_letters_peek_redrive_purge, redrive_reaches_only_its_subscription);
        $crate::conformance_tests!(@shared $make;
            requests_match_replies, request_timeouts_late_replies_and_faults);
    };
    (@shared $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let broker = $crate::conformance::SharedBroker::new($make.await);
                $crate::conformance::$case(std::sync::Arc::new(broker)).await;
            }
        )*
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

/// Any handle that dereferences to a broker (and may keep what it talks to alive), as a
/// broker that can be shared with spawned tasks: every call goes to the handle's broker.
pub struct SharedBroker<T>(T);

impl<T> SharedBroker<T> {
    /// Wraps a handle.
    pub fn new(handle: T) -> Self {
        SharedBroker(handle)
    }
}

#[async_trait::async_trait]
impl<T> crate::Publisher for SharedBroker<T>
where
    T: std::ops::Deref<Target = dyn Broker> + Send + Sync,
{
    async fn publish(&self, d: &Destination, m: Message) -> crate::Result<String> {
        self.0.publish(d, m).await
    }
    async fn publish_batch(
        &self,
        d: &Destination,
        m: Vec<Message>,
    ) -> crate::Result<Vec<crate::Result<String>>> {
        self.0.publish_batch(d, m).await
    }
}

#[async_trait::async_trait]
impl<T> crate::Consumer for SharedBroker<T>
where
    T: std::ops::Deref<Target = dyn Broker> + Send + Sync,
{
    async fn receive(
        &self,
        s: &Source,
        max: usize,
        wait: Duration,
    ) -> crate::Result<Vec<Delivery>> {
        self.0.receive(s, max, wait).await
    }
}

#[async_trait::async_trait]
impl<T> Broker for SharedBroker<T>
where
    T: std::ops::Deref<Target = dyn Broker> + Send + Sync,
{
    fn name(&self) -> &str {
        self.0.name()
    }
    fn capabilities(&self) -> crate::Capabilities {
        self.0.capabilities()
    }
    async fn provision(&self, t: &Topology) -> crate::Result<crate::ProvisionReport> {
        self.0.provision(t).await
    }
    async fn depth(&self, s: &Source) -> crate::Result<crate::Depth> {
        self.0.depth(s).await
    }
    async fn resubmit(&self, s: &Source, m: Message) -> crate::Result<String> {
        self.0.resubmit(s, m).await
    }
    async fn create_reply_queue(&self) -> crate::Result<crate::request::ReplyQueue> {
        self.0.create_reply_queue().await
    }
    async fn delete_reply_queue(&self, q: &crate::request::ReplyQueue) -> crate::Result<()> {
        self.0.delete_reply_queue(q).await
    }
    async fn peek_dead_letters(
        &self,
        s: &Source,
        max: usize,
    ) -> crate::Result<Vec<crate::DeadLetter>> {
        self.0.peek_dead_letters(s, max).await
    }
    async fn redrive_dead_letters(
        &self,
        s: &Source,
        o: &crate::RedriveOptions,
    ) -> crate::Result<crate::RedriveReport> {
        self.0.redrive_dead_letters(s, o).await
    }
    async fn purge_dead_letters(&self, s: &Source) -> crate::Result<u64> {
        self.0.purge_dead_letters(s).await
    }
}

/// The event data the suite sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub order_id: String,
    /// Total in cents.
    pub total_cents: u64,
}

pub(super) async fn provision(broker: &dyn Broker, topology: Topology) {
    broker
        .provision(&topology)
        .await
        .unwrap_or_else(|e| panic!("provisioning {topology:?} failed: {e}"));
}

/// A fresh standard queue with this visibility timeout and max receive count.
pub(super) async fn queue(
    broker: &dyn Broker,
    prefix: &str,
    visibility: u32,
    max_receive: u32,
) -> String {
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

pub(super) async fn receive_one(broker: &dyn Broker, source: &Source) -> Delivery {
    receive_n(broker, source, 1, ARRIVES)
        .await
        .pop()
        .unwrap_or_else(|| panic!("nothing arrived on {source} within {ARRIVES:?}"))
}

pub(super) async fn none(broker: &dyn Broker, source: &Source, why: &str) {
    let got = broker.receive(source, 10, ABSENT).await.expect("receive");
    assert!(
        got.is_empty(),
        "{why}: yet {} message(s) arrived on {source}: {got:?}",
        got.len()
    );
}

pub(super) fn order(n: u64) -> Event<Order> {
    Event::new(
        "/conformance",
        "OrderCreated",
        Order {
            order_id: format!("o-{n}"),
            total_cents: n,
        },
    )
}

pub(super) async fn publish(broker: &dyn Broker, dest: &Destination, message: Message) -> String {
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
    let d = receive_one(broker, &Source::queue(&q)).await;
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
    let d = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(d.event_type().as_deref(), Some("OrderCreated"));
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
        let got = receive_one(broker, &src).await;
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
    receive_one(broker, &Source::queue(&q))
        .await
        .ack()
        .await
        .expect("ack");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    none(broker, &Source::queue(&q), "acked").await;
}
