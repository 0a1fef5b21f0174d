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
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use courier_core::worker::{
    Context, IdempotencyStore, Outcome as Decision, Pipeline, Router, DEFAULT_LEASE,
};
use courier_core::{display_chain, Message, Result, Source};
use futures_util::StreamExt;

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
    pipeline: Pipeline,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    concurrency: usize,
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
            pipeline: Pipeline::new(router),
            dead_letters: None,
            concurrency: 16,
        }
    }

    /// Sends permanent failures here with their reason.
    pub fn dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// Skips events the store knows were handled (claims held for the default lease).
    pub fn idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.pipeline = self.pipeline.idempotency(store, DEFAULT_LEASE);
        self
    }

    /// Traces and measures each record's processing (feature `otel`): a `process` span
    /// per record (`messaging.system` = `aws_sqs`), linked to its producer, under the
    /// current context; the pipeline's metrics, with `messaging.client.consumed.messages`
    /// counted here since Lambda pushes the records.
    #[cfg(feature = "otel")]
    pub fn telemetry(mut self, telemetry: courier_core::telemetry::Telemetry) -> Self {
        use courier_core::telemetry::{system, Consumption};
        self.pipeline = self
            .pipeline
            .telemetry(telemetry, system::AWS_SQS, Consumption::Push);
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
        self.pipeline = self.pipeline.max_attempts(Some(n));
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

    /// Runs the pipeline for one record and translates its outcome.
    async fn record(&self, r: &SqsMessage) -> Outcome {
        let message = Arc::new(message_of(r));
        let queue = queue_name(r);
        let delivery_count = r
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        // SentTimestamp: milliseconds since the epoch when SQS received the message.
        let enqueued_at = r
            .attributes
            .get("SentTimestamp")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
        let ctx = Context::new(
            Source::queue(queue.clone()),
            delivery_count,
            r.message_id.as_deref().unwrap_or_default(),
            message.clone(),
        )
        .with_enqueued_at(enqueued_at);
        match self.pipeline.process(ctx).await {
            Decision::Ack | Decision::Duplicate => Outcome::Done,
            Decision::Retry { .. } => Outcome::Failed,
            Decision::DeadLetter { reason } => self.dead_letter(&queue, &message, &reason).await,
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
