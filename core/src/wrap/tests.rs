//! The wrappers over a broker that fails or stalls on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{Limited, Retrying};
use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::error::{Error, Result};
use crate::message::{Destination, Message, Source};
use crate::provision::ProvisionReport;
use crate::topology::Topology;
use crate::worker::Backoff;
use crate::Delivery;

/// Fails the messages whose body is in `failing` (transiently, `times` times each), and
/// counts calls in flight.
#[derive(Default)]
struct Faulty {
    failing: Mutex<Vec<(Vec<u8>, usize, bool)>>,
    calls: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Faulty {
    fn fail(self, body: &str, times: usize, transient: bool) -> Self {
        self.failing
            .lock()
            .push((body.as_bytes().to_vec(), times, transient));
        self
    }
}

#[async_trait]
impl Publisher for Faulty {
    async fn publish(&self, _d: &Destination, m: Message) -> Result<String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        let mut failing = self.failing.lock();
        if let Some(f) = failing.iter_mut().find(|f| f.0 == m.body && f.1 > 0) {
            f.1 -= 1;
            return Err(if f.2 {
                Error::transient("throttled")
            } else {
                Error::invalid_input("bad")
            });
        }
        Ok(String::from_utf8_lossy(&m.body).into_owned())
    }
}

#[async_trait]
impl Consumer for Faulty {
    async fn receive(&self, _s: &Source, _max: usize, _w: Duration) -> Result<Vec<Delivery>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Broker for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(1024)
    }
    async fn provision(&self, _t: &Topology) -> Result<ProvisionReport> {
        Ok(ProvisionReport::default())
    }
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
        jitter: false,
    }
}

#[tokio::test]
async fn transient_failures_are_retried_and_others_are_not() {
    let dest = Destination::queue("q");
    let b = Retrying::new(
        Faulty::default().fail("a", 2, true).fail("b", 1, false),
        quick(),
        3,
    );
    assert_eq!(b.publish(&dest, Message::new("a")).await.unwrap(), "a");
    assert_eq!(
        b.inner().calls.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );
    assert!(matches!(
        b.publish(&dest, Message::new("b")).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(b.inner().calls.load(Ordering::SeqCst), 4, "not retried");
    let b = Retrying::new(Faulty::default().fail("c", 5, true), quick(), 3);
    assert!(
        b.publish(&dest, Message::new("c"))
            .await
            .unwrap_err()
            .is_transient(),
        "gave up"
    );
}

#[tokio::test]
async fn a_batch_retries_only_its_failed_entries() {
    let dest = Destination::queue("q");
    let b = Retrying::new(Faulty::default().fail("b", 1, true), quick(), 3);
    let batch = ["a", "b", "c"].map(Message::new).to_vec();
    let results = b.publish_batch(&dest, batch).await.unwrap();
    let ids: Vec<String> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        b.inner().calls.load(Ordering::SeqCst),
        4,
        "three, then the failed one again"
    );
}

#[tokio::test]
async fn at_most_n_calls_run_at_once() {
    let b = Arc::new(Limited::new(Faulty::default(), 3));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let b = b.clone();
        calls.spawn(async move {
            b.publish(&Destination::queue("q"), Message::new(i.to_string()))
                .await
        });
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(b.inner().peak.load(Ordering::SeqCst), 3);
}
