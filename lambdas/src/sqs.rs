//! The SQS-triggered adapter: courier handlers under `lambda_runtime`, with partial batch
//! responses.
//!
//! Per record: decode (raw delivery, SNS envelope, or a foreign body), route by event type,
//! run the handler, and decide:
//!
//! | outcome | response |
//! | --- | --- |
//! | `Ok` | done (the event source mapping deletes it) |
//! | `Retry`, or a panic | listed in `batchItemFailures`: SQS redelivers it, and its redrive policy dead-letters it after `maxReceiveCount` |
//! | `Retry` at `max_attempts` (when set) | sent to the queue's dead-letter queue with the reason, done |
//! | `Permanent`, undecodable, no handler | sent to the queue's dead-letter queue with the reason, done |
//! | dead-letter send fails | listed in `batchItemFailures` (nothing is lost) |
//!
//! Standard queues: records run concurrently up to a limit. FIFO queues: records run in
//! order, and after the first failure in a message group the rest of that group is
//! reported failed too, so that the group's order holds.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use courier_core::event::attr;
use courier_core::worker::{Context, HandlerError, IdempotencyStore, Router};
use courier_core::{display_chain, Message, Result, Source};
use futures_util::{FutureExt, StreamExt};
use tracing::Instrument;

/// Where permanent failures go: the dead-letter queue of the record's queue.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Sends `message`, received from the SQS queue named `queue`, to its dead-letter queue.
    async fn dead_letter(&self, queue: &str, message: &Message, reason: &str) -> Result<()>;
}

#[async_trait]
impl DeadLetterSink for courier_aws::AwsBroker {
    async fn dead_letter(&self, queue: &str, message: &Message, reason: &str) -> Result<()> {
        self.dead_letter_to(queue, message, reason).await
    }
}

/// Runs a [`Router`]'s handlers over SQS events.
pub struct SqsAdapter {
    router: Router,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    concurrency: usize,
    max_attempts: Option<u32>,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed,
}

impl SqsAdapter {
    /// An adapter with these handlers, no dead-letter sink (permanent failures are then
    /// reported failed, for the redrive policy), records 16 at a time.
    pub fn new(router: Router) -> Self {
        SqsAdapter {
            router,
            dead_letters: None,
            idempotency: None,
            concurrency: 16,
            max_attempts: None,
        }
    }

    /// Sends permanent failures here with their reason.
    pub fn dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// Skips events whose id the store has seen.
    pub fn idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// Records of a standard queue handled at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Dead-letter a retried record (with the reason) once it has been received this
    /// many times, instead of waiting for the redrive policy.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Handles one SQS event; the answer lists the records to retry.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let records = event.records;
        let fifo = records.iter().any(|r| {
            r.attributes.contains_key("MessageGroupId")
                || r.event_source_arn
                    .as_deref()
                    .is_some_and(|a| a.ends_with(".fifo"))
        });
        let mut response = SqsBatchResponse::default();
        if fifo {
            let mut failed_groups = HashSet::new();
            for r in &records {
                let group = r
                    .attributes
                    .get("MessageGroupId")
                    .cloned()
                    .unwrap_or_default();
                let outcome = if failed_groups.contains(&group) {
                    Outcome::Failed
                } else {
                    self.record(r).await
                };
                if outcome == Outcome::Failed {
                    failed_groups.insert(group);
                    response.add_failure(r.message_id.clone().unwrap_or_default());
                }
            }
        } else {
            let outcomes: Vec<(Option<String>, Outcome)> = futures_util::stream::iter(&records)
                .map(|r| async move { (r.message_id.clone(), self.record(r).await) })
                .buffered(self.concurrency)
                .collect()
                .await;
            for (id, outcome) in outcomes {
                if outcome == Outcome::Failed {
                    response.add_failure(id.unwrap_or_default());
                }
            }
        }
        response
    }

    async fn record(&self, r: &SqsMessage) -> Outcome {
        let message = message_of(r);
        let span = tracing::info_span!(
            "courier.lambda.record",
            message_id = r.message_id.as_deref().unwrap_or(""),
            event.id = message
                .attributes
                .get(attr::ID)
                .map(String::as_str)
                .unwrap_or(""),
            event.r#type = message
                .attributes
                .get(attr::TYPE)
                .map(String::as_str)
                .unwrap_or(""),
            traceparent = message
                .attributes
                .get(attr::TRACEPARENT)
                .map(String::as_str)
                .unwrap_or(""),
        );
        self.decide(r, message).instrument(span).await
    }

    async fn decide(&self, r: &SqsMessage, message: Message) -> Outcome {
        let queue = queue_name(r);
        let route = match self.router.route_for(&message) {
            Ok(route) => route,
            Err(why) => return self.dead_letter(&queue, &message, &why).await,
        };
        let event_id = message.attributes.get(attr::ID).cloned();
        if let (Some(store), Some(id)) = (&self.idempotency, &event_id) {
            match store.seen(id).await {
                Ok(true) => {
                    tracing::info!("event already handled; reporting the duplicate done");
                    return Outcome::Done;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %display_chain(&e), "idempotency store unavailable; handling anyway")
                }
            }
        }
        let delivery_count = r
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let ctx = Context {
            source: Source::queue(queue.clone()),
            delivery_count,
            broker_message_id: r.message_id.clone().unwrap_or_default(),
            attributes: message.attributes.clone(),
        };
        let result = AssertUnwindSafe(route.dispatch(&message, &ctx))
            .catch_unwind()
            .await;
        match result {
            Ok(Ok(())) => {
                if let (Some(store), Some(id)) = (&self.idempotency, &event_id) {
                    if let Err(e) = store.record(id).await {
                        tracing::warn!(error = %display_chain(&e), "could not record the event as handled");
                    }
                }
                Outcome::Done
            }
            Ok(Err(HandlerError::Permanent(reason))) => {
                self.dead_letter(&queue, &message, &format!("permanent: {reason}"))
                    .await
            }
            Ok(Err(HandlerError::Retry(reason))) => {
                if self.max_attempts.is_some_and(|max| delivery_count >= max) {
                    let why = format!("gave up after {delivery_count} attempts: {reason}");
                    return self.dead_letter(&queue, &message, &why).await;
                }
                tracing::info!(%reason, attempt = delivery_count, "retrying: reported as a batch item failure");
                Outcome::Failed
            }
            Err(_) => {
                tracing::error!("handler panicked; the record will be retried");
                Outcome::Failed
            }
        }
    }

    async fn dead_letter(&self, queue: &str, message: &Message, reason: &str) -> Outcome {
        let Some(sink) = &self.dead_letters else {
            tracing::warn!(%reason, "no dead-letter sink: reporting failed, for the queue's redrive policy");
            return Outcome::Failed;
        };
        match sink.dead_letter(queue, message, reason).await {
            Ok(()) => {
                tracing::warn!(%reason, "sent to the dead-letter queue");
                Outcome::Done
            }
            Err(e) => {
                tracing::error!(error = %display_chain(&e), %reason, "dead-lettering failed; the record will be retried");
                Outcome::Failed
            }
        }
    }
}

/// The courier message of an SQS record (packed attributes, SNS envelopes, base64 bodies).
pub fn message_of(r: &SqsMessage) -> Message {
    let attrs = r
        .message_attributes
        .iter()
        .filter_map(|(k, v)| v.string_value.clone().map(|s| (k.clone(), s)))
        .collect();
    let mut m = courier_aws::wire::decode(r.body.clone().unwrap_or_default(), attrs);
    if let Some(group) = r.attributes.get("MessageGroupId") {
        m.group_id = Some(group.clone());
    }
    if let Some(dedup) = r.attributes.get("MessageDeduplicationId") {
        m.dedup_id = Some(dedup.clone());
    }
    m
}

/// The queue's name: the last part of the record's `eventSourceARN`.
fn queue_name(r: &SqsMessage) -> String {
    r.event_source_arn
        .as_deref()
        .map(courier_aws::names::arn_name)
        .unwrap_or_default()
        .to_owned()
}
