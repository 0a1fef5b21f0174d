//! Turning the pipeline's [`Outcome`] into a settlement of the delivery.

use std::time::Duration;

use super::dispatch::Outcome;
use super::stats::WorkerStats;
use super::RunningWorker;
use crate::delivery::{Delivery, SettleError};
use crate::error::{display_chain, Error};

/// How long a message that failed on a dead-letter queue is put aside, where the backend
/// can delay a redelivery. SQS allows at most 12 hours of visibility *counted from the
/// receipt* ("ChangeMessageVisibility": asking for more than the time left is an error),
/// and the handler has already run: 11 hours leaves it an hour.
pub(super) const PARK_FOR: Duration = Duration::from_secs(11 * 3600);

/// Whether the message left the queue (acked or dead-lettered): for a FIFO group, the
/// next message may go.
pub(super) type Removed = bool;

pub(super) async fn apply(shared: &RunningWorker, delivery: Delivery, outcome: Outcome) -> Removed {
    let stats = &shared.stats;
    match outcome {
        Outcome::Ack => done(shared, delivery.ack().await, &stats.acked),
        Outcome::Duplicate => done(shared, delivery.ack().await, &stats.duplicates),
        Outcome::Retry { reason, after } => {
            retry(shared, delivery, &reason, after).await;
            false
        }
        Outcome::DeadLetter { reason } => dead_letter(shared, delivery, &reason).await,
    }
}

async fn retry(shared: &RunningWorker, delivery: Delivery, reason: &str, after: Duration) {
    if shared.capabilities.nack_delay || after.is_zero() {
        done(shared, delivery.nack(after).await, &shared.stats.retried);
    } else {
        WorkerStats::add(&shared.stats.retried);
        // The backend cannot delay a redelivery: leaving the delivery unsettled lets its
        // lock expire, which is the backoff it offers.
        tracing::debug!(%reason, "retrying when the lock expires");
        drop(delivery);
    }
}

async fn dead_letter(shared: &RunningWorker, delivery: Delivery, reason: &str) -> Removed {
    if shared.source.is_dead_letter() {
        park(shared, delivery, reason).await;
        return false;
    }
    if shared.capabilities.explicit_dead_letter {
        return done(
            shared,
            delivery.dead_letter(reason).await,
            &shared.stats.dead_lettered,
        );
    }
    // The broker's own redrive moves it after its max deliveries; release it now.
    tracing::warn!(%reason, "backend cannot dead-letter on request; releasing it for the broker's redrive");
    done(
        shared,
        delivery.nack(Duration::ZERO).await,
        &shared.stats.retried,
    );
    false
}

/// A message that fails on a dead-letter queue has nowhere further to go: it is left
/// there for inspection, put aside as long as the backend allows, and its handler is not
/// run again by this worker.
async fn park(shared: &RunningWorker, delivery: Delivery, reason: &str) {
    WorkerStats::add(&shared.stats.parked);
    shared.park(delivery.info().broker_message_id.clone());
    tracing::warn!(
        %reason,
        source = %shared.source,
        message = %delivery.info().broker_message_id,
        "failed on a dead-letter queue: left there for inspection"
    );
    put_aside(shared, delivery).await;
}

/// Delays the redelivery of a parked message as long as the backend allows (a parked
/// message that comes back, e.g. after a failed put-aside, is put aside again).
pub(super) async fn put_aside(shared: &RunningWorker, delivery: Delivery) {
    if shared.capabilities.nack_delay {
        if let Err(e) = delivery.nack(PARK_FOR).await {
            tracing::warn!(error = %display_chain(&e.error), "could not put a parked message aside; it returns when its lock expires");
        }
    }
}

fn done(
    shared: &RunningWorker,
    result: Result<(), SettleError>,
    counter: &std::sync::atomic::AtomicU64,
) -> Removed {
    match result {
        Ok(()) => {
            WorkerStats::add(counter);
            true
        }
        Err(e) => {
            WorkerStats::add(&shared.stats.settle_failures);
            let lost = matches!(e.error.inner(), Error::LockLost { .. });
            tracing::warn!(error = %display_chain(&e.error), lock_lost = lost, "settlement failed; the message will be redelivered");
            false
        }
    }
}
