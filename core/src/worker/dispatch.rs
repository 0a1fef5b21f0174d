//! The one pipeline every incoming message goes through, whoever received it (the
//! [`Worker`](super::Worker), the Lambda adapter): route by the decoded event's type,
//! check idempotency, run the handler inside its span with panics caught, and decide an
//! [`Outcome`]. The callers only translate the outcome: into a settlement, a
//! `batchItemFailures` entry, or an invocation error.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use super::backoff::Backoff;
use super::handler::{Context, HandlerError, Router};
use super::idempotency::{Claim, IdempotencyKey, IdempotencyStore};
use crate::error::display_chain;
use crate::event::{self, attr, EventHead};
#[cfg(feature = "otel")]
use crate::telemetry::{Consumption, ProcessTelemetry, Telemetry};

/// Why processing failed, as telemetry's `error.type` says it (a short fixed list).
pub(crate) mod failure {
    /// No handler for the event type, or not a CloudEvent.
    pub(crate) const NO_HANDLER: &str = "no_handler";
    /// The handler asked for a retry (`HandlerError::Retry`).
    pub(crate) const RETRY: &str = "handler_retry";
    /// The handler failed for good, or the data did not decode (`HandlerError::Permanent`).
    pub(crate) const PERMANENT: &str = "handler_permanent";
    /// The handler panicked.
    pub(crate) const PANIC: &str = "handler_panic";
    /// Another consumer holds the event's idempotency claim.
    pub(crate) const IN_PROGRESS: &str = "in_progress";
}

/// An outcome and, when it is a failure, its `error.type`.
type Decided = (Outcome, Option<&'static str>);

/// What should become of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (or, with [`Unrouted::Ack`], knowingly skipped): acknowledge it.
    Ack,
    /// Handled before, as the idempotency store knows: acknowledge it without handling.
    Duplicate,
    /// Not handled this time: deliver it again, no earlier than `after`.
    Retry {
        /// Why, for the log.
        reason: String,
        /// How long to wait before the next attempt.
        after: Duration,
    },
    /// Cannot be handled: move it to the dead-letter queue with `reason`.
    DeadLetter {
        /// Why, kept with the message.
        reason: String,
    },
}

/// What to do with a message no handler is registered for (including foreign messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unrouted {
    /// Dead-letter it with the reason `no handler for …` (the default: nothing vanishes).
    #[default]
    DeadLetter,
    /// Acknowledge and drop it (for subscriptions that knowingly receive more than they handle).
    Ack,
}

/// The pipeline: handlers by event type, and the policies around them.
///
/// ```
/// use courier_core::worker::{handler_fn, Context, HandlerError, Outcome, Pipeline, Router};
/// use courier_core::{Event, Source};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pipeline = Pipeline::new(Router::new().handle(
///     "OrderCreated",
///     handler_fn(|_e: Event<serde_json::Value>, _ctx| async { Err::<(), _>(HandlerError::permanent("no such SKU")) }),
/// ));
/// let message = Event::new("/shop", "OrderCreated", serde_json::json!({})).to_message()?;
/// let ctx = Context::new(Source::queue("orders"), 1, "m-1", message);
/// assert_eq!(
///     pipeline.process(ctx).await,
///     Outcome::DeadLetter { reason: "permanent: no such SKU".into() }
/// );
/// # Ok::<(), courier_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Pipeline {
    router: Router,
    unrouted: Unrouted,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    lease: Duration,
    max_attempts: Option<u32>,
    backoff: Backoff,
    #[cfg(feature = "otel")]
    telemetry: Option<ProcessTelemetry>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("router", &self.router)
            .field("unrouted", &self.unrouted)
            .field("idempotency", &self.idempotency.is_some())
            .field("lease", &self.lease)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// How long an idempotency claim holds by default: a consumer that dies while handling
/// an event blocks its redelivery this long at most.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

impl Pipeline {
    /// A pipeline over these handlers: unrouted messages dead-lettered, no idempotency
    /// store, retries without a limit of its own (the broker's redrive policy decides),
    /// default [`Backoff`].
    pub fn new(router: Router) -> Self {
        Pipeline {
            router,
            unrouted: Unrouted::default(),
            idempotency: None,
            lease: DEFAULT_LEASE,
            max_attempts: None,
            backoff: Backoff::default(),
            #[cfg(feature = "otel")]
            telemetry: None,
        }
    }

    /// Traces and measures processing (feature `otel`): a `process` span per message,
    /// linked to the producer's context, `messaging.process.duration`,
    /// `courier.message.outcomes` and `courier.message.lag`, reported as
    /// `messaging_system` (see [`telemetry::system`](crate::telemetry::system)).
    #[cfg(feature = "otel")]
    pub fn telemetry(
        mut self,
        telemetry: Telemetry,
        messaging_system: impl Into<std::borrow::Cow<'static, str>>,
        consumption: Consumption,
    ) -> Self {
        self.telemetry = Some(ProcessTelemetry::new(
            telemetry,
            messaging_system.into(),
            consumption,
        ));
        self
    }

    /// What happens to messages without a handler.
    pub fn unrouted(mut self, policy: Unrouted) -> Self {
        self.unrouted = policy;
        self
    }

    /// Skips events the store knows were handled; claims are held for `lease`.
    pub fn idempotency(mut self, store: Arc<dyn IdempotencyStore>, lease: Duration) -> Self {
        self.idempotency = Some(store);
        self.lease = lease;
        self
    }

    /// Dead-letters a retried message once it has been delivered `max` times (`None`:
    /// never; the broker's redrive policy decides).
    pub fn max_attempts(mut self, max: Option<u32>) -> Self {
        self.max_attempts = max.map(|m| m.max(1));
        self
    }

    /// The delay between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The handlers.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Decides what becomes of `message`, running its handler if it has one.
    ///
    /// Never fails and never panics: every failure is an [`Outcome`].
    pub async fn process(&self, ctx: Context) -> Outcome {
        let message = ctx.message();
        let attrs = &message.attributes;
        let head = event::head(message);
        let span = tracing::info_span!(
            "courier.handle",
            source = %ctx.source(),
            event.id = head.as_ref().and_then(|h| h.id.as_deref()).unwrap_or(""),
            event.r#type = head.as_ref().map(|h| h.ty.as_ref()).unwrap_or(""),
            traceparent = attrs.get(attr::TRACEPARENT).map(String::as_str).unwrap_or(""),
            delivery_count = ctx.delivery_count(),
        );
        #[cfg(feature = "otel")]
        if let Some(telemetry) = &self.telemetry {
            let decided = self.decide(head.as_ref(), &ctx);
            return telemetry
                .process(&ctx, head.as_ref(), decided)
                .instrument(span)
                .await;
        }
        self.decide(head.as_ref(), &ctx).instrument(span).await.0
    }

    async fn decide(&self, head: Option<&EventHead<'_>>, ctx: &Context) -> Decided {
        let routed = match head {
            Some(h) => self
                .router
                .route(&h.ty)
                .ok_or_else(|| format!("no handler for event type '{}'", h.ty)),
            None => {
                Err("no handler: the message is not a CloudEvent (no ce_type attribute)".to_owned())
            }
        };
        let route = match routed {
            Ok(route) => route,
            Err(why) => return self.unroutable(why),
        };
        let claim = match self.claim(self.key(head, ctx)).await {
            Ok(claim) => claim,
            Err(done) => return done,
        };
        let attempt = ctx.delivery_count();
        // A panic fails this message, not its caller.
        let mut panicked = false;
        let result = AssertUnwindSafe(route.dispatch(ctx.message(), ctx))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                panicked = true;
                Err(HandlerError::retry(format!(
                    "handler panicked: {}",
                    panic_text(&*panic)
                )))
            });
        if let Some(claim) = claim {
            claim.settle(result.is_ok()).await;
        }
        match result {
            Ok(()) => (Outcome::Ack, None),
            Err(HandlerError::Permanent(reason)) => {
                tracing::warn!(%reason, "permanent failure");
                let outcome = Outcome::DeadLetter {
                    reason: format!("permanent: {reason}"),
                };
                (outcome, Some(failure::PERMANENT))
            }
            Err(HandlerError::Retry(reason)) => {
                let kind = if panicked {
                    failure::PANIC
                } else {
                    failure::RETRY
                };
                (self.retry(reason, attempt), Some(kind))
            }
        }
    }

    fn unroutable(&self, why: String) -> Decided {
        match self.unrouted {
            Unrouted::DeadLetter => {
                tracing::warn!(reason = %why, "unroutable");
                (
                    Outcome::DeadLetter { reason: why },
                    Some(failure::NO_HANDLER),
                )
            }
            Unrouted::Ack => {
                tracing::debug!(reason = %why, "acking an unrouted message");
                (Outcome::Ack, None)
            }
        }
    }

    fn key(&self, head: Option<&EventHead<'_>>, ctx: &Context) -> Option<IdempotencyKey> {
        self.idempotency.as_ref()?;
        let head = head?;
        let id = head.id.as_deref()?;
        Some(IdempotencyKey::new(
            ctx.source().to_string(),
            head.source.as_deref().unwrap_or_default(),
            id,
        ))
    }

    /// Claims the key: `Ok(Some(claim))` to handle the message holding it, `Ok(None)` to
    /// handle it without one, `Err(outcome)` when it must not be handled now.
    async fn claim(&self, key: Option<IdempotencyKey>) -> Result<Option<HeldClaim>, Decided> {
        let (Some(store), Some(key)) = (&self.idempotency, key) else {
            return Ok(None);
        };
        match store.claim(&key, self.lease).await {
            Ok(Claim::Acquired) => Ok(Some(HeldClaim {
                store: store.clone(),
                key: Some(key),
            })),
            Ok(Claim::Completed) => {
                tracing::info!("event already handled; acking the duplicate");
                Err((Outcome::Duplicate, None))
            }
            Ok(Claim::InProgress { retry_after }) => Err((
                Outcome::Retry {
                    reason: "another consumer is handling this event".into(),
                    after: retry_after.unwrap_or(self.lease),
                },
                Some(failure::IN_PROGRESS),
            )),
            // Without the store we cannot tell; handling again is the at-least-once answer.
            Err(e) => {
                tracing::warn!(error = %display_chain(&e), "idempotency store unavailable; handling anyway");
                Ok(None)
            }
        }
    }

    fn retry(&self, reason: String, attempt: u32) -> Outcome {
        if self.max_attempts.is_some_and(|max| attempt >= max) {
            tracing::warn!(%reason, attempt, "giving up");
            return Outcome::DeadLetter {
                reason: format!("gave up after {attempt} attempts: {reason}"),
            };
        }
        let after = self.backoff.delay(attempt);
        tracing::info!(%reason, attempt, ?after, "retrying later");
        Outcome::Retry { reason, after }
    }
}

/// An idempotency claim held while the handler runs. Settled when the handler is done
/// (completed on success, released on failure); if the processing future is dropped
/// before that (a Lambda deadline, a shutdown), it is released in a task of its own, so
/// that the redelivery is handled at once instead of waiting out the lease.
struct HeldClaim {
    store: Arc<dyn IdempotencyStore>,
    /// `None` once settled.
    key: Option<IdempotencyKey>,
}

impl HeldClaim {
    async fn settle(mut self, handled: bool) {
        let Some(key) = &self.key else { return };
        let result = if handled {
            self.store.complete(key).await
        } else {
            self.store.release(key).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %display_chain(&e), handled, "could not update the idempotency store");
        }
        // Dropped while the store call was pending, the claim is still released: a
        // release never undoes a completion.
        self.key = None;
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let store = self.store.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = store.release(&key).await {
                        tracing::warn!(error = %display_chain(&e), %key, "could not release the claim of an unfinished handler; it holds until its lease ends");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(%key, "an unfinished handler's claim cannot be released outside a runtime; it holds until its lease ends");
            }
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

#[cfg(test)]
mod tests;
