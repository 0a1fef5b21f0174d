//! What the worker leans on: backoff, idempotency, counters, the shutdown signal.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::error::Result;

/// Exponential backoff between retries: `base * 2^(attempt-1)`, capped at `max`, with
/// "equal jitter" (a random point in the upper half) so that retries of many messages
/// spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Whether to randomise within the upper half of the delay.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay before the next attempt after `attempt` failed attempts (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Remembers which event ids were handled, so that a redelivered event is skipped.
///
/// The worker checks [`seen`](IdempotencyStore::seen) before handling and calls
/// [`record`](IdempotencyStore::record) after the handler succeeded and before acking.
/// Two deliveries of one event handled at the very same moment can both run: the store
/// narrows duplicates, it cannot remove them under at-least-once delivery.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Whether this event id was handled already.
    async fn seen(&self, event_id: &str) -> Result<bool>;
    /// Records that this event id was handled.
    async fn record(&self, event_id: &str) -> Result<()>;
}

/// An [`IdempotencyStore`] in memory, forgetting ids after a retention period.
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    retention: Duration,
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    ids: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl MemoryIdempotencyStore {
    /// A store keeping ids for `retention`.
    pub fn new(retention: Duration) -> Self {
        MemoryIdempotencyStore {
            retention,
            inner: Mutex::new(Seen::default()),
        }
    }
}

impl Default for MemoryIdempotencyStore {
    /// Keeps ids for 24 hours.
    fn default() -> Self {
        Self::new(Duration::from_secs(24 * 3600))
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn seen(&self, event_id: &str) -> Result<bool> {
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Seen { ids, order } = &mut *guard;
        while let Some((at, _)) = order.front() {
            if now.duration_since(*at) < self.retention {
                break;
            }
            if let Some((at, id)) = order.pop_front() {
                if ids.get(&id) == Some(&at) {
                    ids.remove(&id);
                }
            }
        }
        Ok(ids.contains_key(event_id))
    }

    async fn record(&self, event_id: &str) -> Result<()> {
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.ids.insert(event_id.to_owned(), now);
        guard.order.push_back((now, event_id.to_owned()));
        Ok(())
    }
}

/// Live counters of a worker.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) settle_failures: AtomicU64,
    pub(crate) receive_errors: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> WorkerReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WorkerReport {
            received: get(&self.received),
            acked: get(&self.acked),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            duplicates: get(&self.duplicates),
            settle_failures: get(&self.settle_failures),
            receive_errors: get(&self.receive_errors),
        }
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Deliveries received.
    pub received: u64,
    /// Acknowledged after the handler succeeded.
    pub acked: u64,
    /// Given back for a retry.
    pub retried: u64,
    /// Sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Skipped as already handled (idempotency store), and acked.
    pub duplicates: u64,
    /// Settlements that failed (the message comes back when its lock expires).
    pub settle_failures: u64,
    /// Receive calls that failed.
    pub receive_errors: u64,
}

impl WorkerReport {
    /// Deliveries that reached a final outcome (acked, dead-lettered or skipped).
    pub fn finished(&self) -> u64 {
        self.acked + self.dead_lettered + self.duplicates
    }
}

impl fmt::Display for WorkerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, acked {}, retried {}, dead-lettered {}, duplicates skipped {}",
            self.received, self.acked, self.retried, self.dead_lettered, self.duplicates
        )?;
        if self.settle_failures + self.receive_errors > 0 {
            write!(
                f,
                ", settle failures {}, receive errors {}",
                self.settle_failures, self.receive_errors
            )?;
        }
        Ok(())
    }
}

/// Resolves on ctrl-c or (on Unix) SIGTERM: pass it to [`Worker::run`](super::Worker::run).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: false,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
        let j = Backoff { jitter: true, ..b };
        for a in 1..=6 {
            let d = j.delay(a);
            assert!(d >= b.delay(a) / 2 && d <= b.delay(a), "{a}: {d:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idempotency_store_forgets_after_retention() {
        let s = MemoryIdempotencyStore::new(Duration::from_secs(60));
        assert!(!s.seen("e1").await.unwrap());
        s.record("e1").await.unwrap();
        assert!(s.seen("e1").await.unwrap());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!s.seen("e1").await.unwrap());
    }
}
