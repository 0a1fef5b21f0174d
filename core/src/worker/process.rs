//! The receive loop and the life of one delivery inside the worker.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use super::handler::{Context, HandlerError, Router};
use super::support::{IdempotencyStore, WorkerStats};
use super::{Unrouted, WorkerConfig};
use crate::broker::{Broker, Capabilities};
use crate::delivery::Delivery;
use crate::error::{display_chain, Error, Result};
use crate::event::attr;
use crate::message::Source;

pub(super) struct Shared {
    pub(super) broker: Arc<dyn Broker>,
    pub(super) source: Source,
    pub(super) router: Router,
    pub(super) config: WorkerConfig,
    pub(super) idempotency: Option<Arc<dyn IdempotencyStore>>,
    pub(super) stats: Arc<WorkerStats>,
    pub(super) capabilities: Capabilities,
}

/// One receive loop: takes permits for free handler slots, receives that many, and
/// spawns a task per delivery. Ends on stop, or with the error that makes receiving
/// pointless (not transient).
pub(super) async fn poll(
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let first = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.changed() => return Ok(()),
        };
        let mut held = vec![first];
        while held.len() < shared.config.batch_size {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let received = tokio::select! {
            r = shared.broker.receive(&shared.source, held.len(), shared.config.poll_wait) => r,
            // Dropping an in-flight receive loses nothing: what it had taken reappears
            // when its visibility timeout ends.
            _ = stop.changed() => return Ok(()),
        };
        match received {
            Ok(deliveries) => {
                failures = 0;
                for (delivery, permit) in deliveries.into_iter().zip(held) {
                    WorkerStats::add(&shared.stats.received);
                    tokio::spawn(process(shared.clone(), delivery, permit));
                }
            }
            Err(e) if e.is_transient() => {
                failures += 1;
                WorkerStats::add(&shared.stats.receive_errors);
                let pause = super::Backoff {
                    base: Duration::from_millis(200),
                    max: Duration::from_secs(30),
                    jitter: true,
                }
                .delay(failures);
                tracing::warn!(source = %shared.source, error = %display_chain(&e), ?pause, "receive failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
            Err(e) => {
                WorkerStats::add(&shared.stats.receive_errors);
                tracing::error!(source = %shared.source, error = %display_chain(&e), "receive failed; stopping");
                return Err(e);
            }
        }
    }
}

async fn process(shared: Arc<Shared>, delivery: Delivery, _permit: OwnedSemaphorePermit) {
    let attrs = &delivery.message().attributes;
    let span = tracing::info_span!(
        "courier.handle",
        source = %shared.source,
        event.id = attrs.get(attr::ID).map(String::as_str).unwrap_or(""),
        event.r#type = delivery.event_type().unwrap_or(""),
        traceparent = attrs.get(attr::TRACEPARENT).map(String::as_str).unwrap_or(""),
        delivery_count = delivery.delivery_count(),
    );
    handle(&shared, &delivery).instrument(span).await;
}

async fn handle(shared: &Shared, delivery: &Delivery) {
    let route = match shared.router.route_for(delivery.message()) {
        Ok(route) => route,
        Err(why) => {
            match shared.config.unrouted {
                Unrouted::DeadLetter => dead_letter(shared, delivery, &why).await,
                Unrouted::Ack => {
                    tracing::debug!(%why, "acking unrouted message");
                    settle(shared, delivery.ack().await, &shared.stats.acked);
                }
            }
            return;
        }
    };
    let event_id = delivery.message().attributes.get(attr::ID).cloned();
    if let (Some(store), Some(id)) = (&shared.idempotency, &event_id) {
        match store.seen(id).await {
            Ok(true) => {
                tracing::info!("event already handled; acking the duplicate");
                settle(shared, delivery.ack().await, &shared.stats.duplicates);
                return;
            }
            Ok(false) => {}
            // Without the store we cannot tell; handling again is the at-least-once answer.
            Err(e) => {
                tracing::warn!(error = %display_chain(&e), "idempotency store unavailable; handling anyway")
            }
        }
    }
    let ctx = Context {
        source: shared.source.clone(),
        delivery_count: delivery.delivery_count(),
        broker_message_id: delivery.info().broker_message_id.clone(),
        attributes: delivery.message().attributes.clone(),
    };
    // A panic fails this delivery, not the worker.
    let task = AssertUnwindSafe(route.dispatch(delivery.message(), &ctx)).catch_unwind();
    let outcome = match run_extending(shared, delivery, task).await {
        Ok(result) => result,
        Err(panic) => Err(HandlerError::retry(format!(
            "handler panicked: {}",
            panic_text(&*panic)
        ))),
    };
    match outcome {
        Ok(()) => {
            if let (Some(store), Some(id)) = (&shared.idempotency, &event_id) {
                if let Err(e) = store.record(id).await {
                    tracing::warn!(error = %display_chain(&e), "could not record the event as handled");
                }
            }
            settle(shared, delivery.ack().await, &shared.stats.acked);
        }
        Err(HandlerError::Permanent(reason)) => {
            tracing::warn!(%reason, "permanent failure");
            dead_letter(shared, delivery, &format!("permanent: {reason}")).await;
        }
        Err(HandlerError::Retry(reason)) => {
            let attempt = delivery.delivery_count();
            if attempt >= shared.config.max_attempts {
                tracing::warn!(%reason, attempt, "giving up");
                let why = format!("gave up after {attempt} attempts: {reason}");
                dead_letter(shared, delivery, &why).await;
            } else if shared.capabilities.nack_delay {
                let after = shared.config.backoff.delay(attempt);
                tracing::info!(%reason, attempt, ?after, "retrying later");
                settle(shared, delivery.nack(after).await, &shared.stats.retried);
            } else {
                // The backend cannot delay a redelivery: leaving the delivery unsettled
                // lets its lock expire, which is the backoff it offers.
                tracing::info!(%reason, attempt, "retrying when the lock expires");
                WorkerStats::add(&shared.stats.retried);
            }
        }
    }
}

async fn dead_letter(shared: &Shared, delivery: &Delivery, reason: &str) {
    if shared.capabilities.explicit_dead_letter {
        settle(
            shared,
            delivery.dead_letter(reason).await,
            &shared.stats.dead_lettered,
        );
    } else {
        // The broker's own redrive moves it after max deliveries; release it now.
        tracing::warn!(%reason, "backend cannot dead-letter on request; releasing for its redrive");
        settle(
            shared,
            delivery.nack(Duration::ZERO).await,
            &shared.stats.retried,
        );
    }
}

fn settle(shared: &Shared, result: Result<()>, counter: &std::sync::atomic::AtomicU64) {
    match result {
        Ok(()) => WorkerStats::add(counter),
        Err(e) => {
            WorkerStats::add(&shared.stats.settle_failures);
            let lost = matches!(e, Error::LockLost { .. });
            tracing::warn!(error = %display_chain(&e), lock_lost = lost, "settlement failed; the message will be redelivered");
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Awaits the handler, extending the delivery's lock before it runs out.
async fn run_extending<F: Future + Unpin>(
    shared: &Shared,
    delivery: &Delivery,
    mut task: F,
) -> F::Output {
    let Some(mut until) = delivery
        .info()
        .locked_until
        .filter(|_| shared.capabilities.extend)
    else {
        return task.await;
    };
    let grant = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    loop {
        // Renew when a third of the grant is left.
        let renew_at = until.checked_sub(grant / 3).unwrap_or(until);
        tokio::select! {
            r = &mut task => return r,
            _ = tokio::time::sleep_until(renew_at) => {
                match delivery.extend(grant).await {
                    Ok(()) => {
                        tracing::debug!(?grant, "extended the lock");
                        until = Instant::now() + grant;
                    }
                    Err(e) => {
                        tracing::warn!(error = %display_chain(&e), "could not extend the lock; the message may be redelivered");
                        return task.await;
                    }
                }
            }
        }
    }
}
