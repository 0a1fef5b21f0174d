//! A worker's live counters and its report.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

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
    pub(crate) parked: AtomicU64,
    /// Deliveries received and not yet settled (or given up on).
    pub(crate) in_flight: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
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
            parked: get(&self.parked),
            in_flight: get(&self.in_flight),
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
    /// Messages that failed on a dead-letter queue and were left there for inspection.
    pub parked: u64,
    /// Deliveries being handled right now.
    pub in_flight: u64,
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
        if self.parked > 0 {
            write!(f, ", left in the dead-letter queue {}", self.parked)?;
        }
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
