//! What a run did.

use std::time::Duration;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunnerReport {
    /// Invocations made.
    pub invocations: u64,
    /// Records handed over.
    pub records: u64,
    /// Records reported failed (left for redelivery).
    pub failed_records: u64,
    /// Invocations that failed whole (function error, invalid answer, timeout, crash).
    pub failed_invocations: u64,
    /// Invocations the function did not answer within its timeout.
    pub timeouts: u64,
    /// Processes started again after a timeout or a crash.
    pub restarts: u64,
    /// From starting the binary to its first request for an event.
    pub cold_start: Option<Duration>,
    /// Time spent inside invocations.
    pub busy: Duration,
}

impl std::fmt::Display for RunnerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} invocation(s), {} record(s), {} record(s) failed, {} invocation(s) failed whole",
            self.invocations, self.records, self.failed_records, self.failed_invocations
        )?;
        if self.timeouts > 0 || self.restarts > 0 {
            write!(
                f,
                ", {} timeout(s), {} restart(s)",
                self.timeouts, self.restarts
            )?;
        }
        if let Some(c) = self.cold_start {
            write!(f, ", cold start {:.1} ms", c.as_secs_f64() * 1000.0)?;
        }
        if self.invocations > 0 {
            write!(
                f,
                ", {:.1} ms per invocation",
                self.busy.as_secs_f64() * 1000.0 / self.invocations as f64
            )?;
        }
        Ok(())
    }
}
