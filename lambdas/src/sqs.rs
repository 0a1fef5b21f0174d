//! The SQS-triggered adapter: the core pipeline over an SQS event, answered with a partial
//! batch response.
//!
//! Per record the pipeline decides an [`Outcome`]; the adapter only translates it:
//!
//! | outcome | response |
//! | --- | --- |
//! | `Ack`, `Duplicate` | done (the event source mapping deletes it) |
//! | `Retry` (a panic included) | listed in `batchItemFailures`: SQS redelivers it after the visibility timeout, and its redrive policy dead-letters it after `maxReceiveCount` |
//! | `DeadLetter` | copied to the dead-letter queue of its source queue with the reason, then done; listed if that copy fails (nothing is lost) |
//! | not finished when the invocation's deadline nears | listed |
//!
//! Standard queues: records run concurrently, at most `concurrency` at once, in one task.
//! FIFO queues: records run in order, and after the first failure in a message group the
//! rest of that group is listed too, so that the group's order holds (the behaviour of
//! Powertools' `SqsFifoPartialProcessor` with `skip_group_on_error`).
//!
//! The response follows "Handling errors for an SQS event source in Lambda"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>): the
//! trigger must have `ReportBatchItemFailures`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use courier_core::worker::{Context, IdempotencyStore, Outcome, Pipeline, Router, DEFAULT_LEASE};
use courier_core::{display_chain, Message, Source};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::dead_letter::{self, DeadLetterSink};
use crate::event::{SqsEvent, SqsRecord};

/// The answer to an SQS event: the records to deliver again.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// The failed records; empty when all are done.
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// One failed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    /// The record's `messageId`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// Runs a [`Router`]'s handlers over SQS events.
pub struct SqsAdapter {
    pipeline: Pipeline,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    concurrency: usize,
}

impl std::fmt::Debug for SqsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsAdapter")
            .field("pipeline", &self.pipeline)
            .field("dead_letters", &self.dead_letters.is_some())
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

const PENDING: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;

impl SqsAdapter {
    /// An adapter with these handlers, no dead-letter sink (dead letters are then
    /// reported failed, for the redrive policy), no idempotency store, 16 records at once.
    pub fn new(router: Router) -> Self {
        SqsAdapter {
            pipeline: Pipeline::new(router),
            dead_letters: None,
            concurrency: 16,
        }
    }

    /// Sends dead letters here with their reason.
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

    /// Dead-letters a retried record (with the reason) once it has been received this
    /// many times, instead of waiting for the redrive policy.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.pipeline = self.pipeline.max_attempts(Some(n));
        self
    }

    /// Handles one SQS event with no deadline.
    pub async fn handle(&self, event: &SqsEvent<'_>) -> BatchResponse {
        self.handle_until(event, None).await
    }

    /// Handles one SQS event, answering by `deadline`: records not finished by then are
    /// listed as failed (their handlers are dropped at their next `.await`).
    pub async fn handle_until(
        &self,
        event: &SqsEvent<'_>,
        deadline: Option<Instant>,
    ) -> BatchResponse {
        let records = &event.records;
        let states: Vec<AtomicU8> = records.iter().map(|_| AtomicU8::new(PENDING)).collect();
        let sources = Sources::new(records);
        let work = async {
            if records.iter().any(SqsRecord::is_fifo) {
                self.in_group_order(records, &sources, &states).await;
            } else {
                self.concurrently(records, &sources, &states).await;
            }
        };
        match deadline {
            Some(at) => {
                if tokio::time::timeout_at(at, work).await.is_err() {
                    let unfinished = states
                        .iter()
                        .filter(|s| s.load(Ordering::Relaxed) == PENDING)
                        .count();
                    tracing::warn!(unfinished, "the invocation's deadline is near: answering, unfinished records listed as failed");
                }
            }
            None => work.await,
        }
        let batch_item_failures = records
            .iter()
            .zip(&states)
            .filter(|(_, s)| s.load(Ordering::Relaxed) != DONE)
            .map(|(r, _)| BatchItemFailure {
                item_identifier: r.message_id.clone().into_owned(),
            })
            .collect();
        BatchResponse {
            batch_item_failures,
        }
    }

    /// Standard queues: `concurrency` lanes in this task, each taking the next record.
    async fn concurrently(
        &self,
        records: &[SqsRecord<'_>],
        sources: &Sources,
        states: &[AtomicU8],
    ) {
        let next = AtomicUsize::new(0);
        let lane = || async {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = records.get(i) else { break };
                let state = self.record(r, sources.of(r)).await;
                states[i].store(state, Ordering::Relaxed);
            }
        };
        let lanes = self.concurrency.min(records.len());
        futures_util::future::join_all((0..lanes).map(|_| lane())).await;
    }

    /// FIFO queues: one record at a time, in order; a failed group's later records fail.
    async fn in_group_order(
        &self,
        records: &[SqsRecord<'_>],
        sources: &Sources,
        states: &[AtomicU8],
    ) {
        let mut failed_groups = HashSet::new();
        for (r, state) in records.iter().zip(states) {
            let group = r.attributes.message_group_id.as_deref().unwrap_or_default();
            let outcome = if failed_groups.contains(group) {
                FAILED
            } else {
                self.record(r, sources.of(r)).await
            };
            if outcome == FAILED {
                failed_groups.insert(group);
            }
            state.store(outcome, Ordering::Relaxed);
        }
    }

    /// Runs the pipeline for one record and translates its outcome.
    async fn record(&self, r: &SqsRecord<'_>, source: &Arc<Source>) -> u8 {
        let message = Arc::new(message_of(r));
        let ctx = Context::new(
            source.clone(),
            r.receive_count(),
            r.message_id.as_ref(),
            message,
        )
        .with_enqueued_at(r.sent_at());
        match self.pipeline.process(ctx).await {
            Outcome::Ack | Outcome::Duplicate => DONE,
            Outcome::Retry { .. } => FAILED,
            Outcome::DeadLetter { reason } => self.dead_letter(r, &reason).await,
        }
    }

    async fn dead_letter(&self, r: &SqsRecord<'_>, reason: &str) -> u8 {
        let Some(sink) = &self.dead_letters else {
            tracing::warn!(%reason, "no dead-letter sink: reporting failed, for the queue's redrive policy");
            return FAILED;
        };
        match sink.dead_letter(&dead_letter::delivered(r), reason).await {
            Ok(()) => {
                tracing::warn!(%reason, "sent to the dead-letter queue");
                DONE
            }
            Err(e) => {
                tracing::error!(error = %display_chain(&e), %reason, "dead-lettering failed; the record will be retried");
                FAILED
            }
        }
    }
}

/// One `Source` per queue of the event (usually one), shared by its records' contexts.
struct Sources(HashMap<String, Arc<Source>>);

impl Sources {
    fn new(records: &[SqsRecord<'_>]) -> Self {
        let mut map = HashMap::new();
        for r in records {
            if !map.contains_key(r.queue_name()) {
                map.insert(
                    r.queue_name().to_owned(),
                    Arc::new(Source::queue(r.queue_name())),
                );
            }
        }
        Sources(map)
    }

    fn of(&self, r: &SqsRecord<'_>) -> &Arc<Source> {
        &self.0[r.queue_name()]
    }
}

/// The courier message of an SQS record (packed attributes, SNS envelopes, base64
/// bodies). `Binary` attributes have no place in a courier message; they stay with the
/// record and go with it to the dead-letter queue.
pub fn message_of(r: &SqsRecord<'_>) -> Message {
    let attributes = r
        .message_attributes
        .iter()
        .filter_map(|(name, v)| {
            Some((
                name.as_ref().to_owned(),
                v.string_value.as_deref()?.to_owned(),
            ))
        })
        .collect();
    let mut m = courier_aws::wire::decode(r.body.as_ref().to_owned(), attributes);
    if let Some(group) = &r.attributes.message_group_id {
        m.group_id = Some(group.as_ref().to_owned());
    }
    if let Some(dedup) = &r.attributes.message_deduplication_id {
        m.dedup_id = Some(dedup.as_ref().to_owned());
    }
    m
}
