//! One receive loop of a worker: take permits for free handler slots, receive that many,
//! hand them to their tasks; back off on failures that may pass.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::backoff::Backoff;
use super::stats::WorkerStats;
use super::{handle, RunningWorker};
use crate::error::{display_chain, Error, Result};

/// The pause after failed receives: 200 ms doubling to 30 s, with jitter.
const RECEIVE_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(30),
    jitter: true,
};

/// Whether a receive error makes receiving pointless: the source is gone, the
/// credentials are refused, the configuration is wrong, or the backend cannot receive
/// from such a source. Anything else (throttling, timeouts, outages, a message that does
/// not decode) passes: the worker backs off and goes on.
pub(super) fn stops_the_worker(e: &Error) -> bool {
    matches!(
        e.inner(),
        Error::NotFound { .. }
            | Error::Unauthorized { .. }
            | Error::InvalidConfig { .. }
            | Error::Unsupported { .. }
    )
}

/// Runs until `stop`, or until receiving fails for good.
pub(super) async fn poll(
    shared: Arc<RunningWorker>,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let first = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        };
        let mut held: Vec<OwnedSemaphorePermit> =
            Vec::with_capacity(shared.config.batch_size.min(64));
        held.push(first);
        while held.len() < shared.config.batch_size {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let receiving = shared
            .broker
            .receive(&shared.source, held.len(), shared.config.poll_wait);
        tokio::pin!(receiving);
        let received = tokio::select! {
            r = &mut receiving => r,
            _ = stop.changed() => {
                if shared.capabilities.cancel_safe_receive {
                    return Ok(());
                }
                // A long poll left behind goes on taking messages on the broker's side
                // (SQS hands them to it although nobody waits for the answer), hiding
                // them from every consumer until their visibility timeout ends: let it
                // end (within `poll_wait`) and give back at once what it brought.
                give_back(receiving.await).await;
                return Ok(());
            }
        };
        match received {
            Ok(deliveries) => {
                failures = 0;
                let n = deliveries.len() as u64;
                shared
                    .stats
                    .received
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                shared
                    .stats
                    .in_flight
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                handle::spawn_all(&shared, deliveries, held);
            }
            Err(e) if stops_the_worker(&e) => {
                WorkerStats::add(&shared.stats.receive_errors);
                tracing::error!(source = %shared.source, error = %display_chain(&e), "receive failed; stopping");
                return Err(e);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                WorkerStats::add(&shared.stats.receive_errors);
                let pause = RECEIVE_BACKOFF
                    .delay(failures)
                    .max(e.retry_after().unwrap_or_default());
                tracing::warn!(source = %shared.source, error = %display_chain(&e), ?pause, "receive failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
        }
    }
}

/// Makes deliveries received while stopping visible again at once.
async fn give_back(received: Result<Vec<crate::Delivery>>) {
    let Ok(deliveries) = received else { return };
    let given_back = deliveries.into_iter().map(|d| d.nack(Duration::ZERO));
    for result in futures_util::future::join_all(given_back).await {
        if let Err(e) = result {
            tracing::debug!(error = %display_chain(&e.error), "a delivery received while stopping reappears when its lock expires");
        }
    }
}
