//! The SNS-triggered adapter.
//!
//! SNS invokes a function asynchronously with no partial-batch response, so a failure
//! fails the invocation: Lambda retries it (twice) and then sends it to the function's
//! on-failure destination or dead-letter queue, with the error text as the reason. A
//! dead letter fails the invocation too (with its reason) rather than being dropped:
//! nothing is lost, at the price of the two pointless retries. Configure an on-failure
//! destination. Event shape: "Invoking Lambda functions with Amazon SNS notifications"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html>).

use std::sync::Arc;

use courier_core::worker::{Context, Outcome, Pipeline, Router};
use courier_core::{Message, Source};

use crate::event::{SnsEvent, SnsRecord};

/// Runs a [`Router`]'s handlers over SNS events.
#[derive(Debug)]
pub struct SnsAdapter {
    pipeline: Pipeline,
}

/// Why an SNS invocation failed.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} SNS record(s) failed: {reasons}")]
pub struct SnsFailure {
    /// Records that failed.
    pub failed: usize,
    /// Records in the event.
    pub total: usize,
    /// Their reasons, joined.
    pub reasons: String,
}

impl SnsAdapter {
    /// An adapter with these handlers.
    pub fn new(router: Router) -> Self {
        SnsAdapter {
            pipeline: Pipeline::new(router),
        }
    }

    /// Traces and measures each record's processing (feature `otel`), as
    /// [`SqsAdapter::telemetry`](crate::sqs::SqsAdapter::telemetry) does, with
    /// `messaging.system` = `aws.sns`.
    #[cfg(feature = "otel")]
    pub fn telemetry(mut self, telemetry: courier_core::telemetry::Telemetry) -> Self {
        use courier_core::telemetry::{system, Consumption};
        self.pipeline = self
            .pipeline
            .telemetry(telemetry, system::AWS_SNS, Consumption::Push);
        self
    }

    /// Handles one SNS event: `Ok` when every record succeeded.
    pub async fn handle(&self, event: &SnsEvent<'_>) -> Result<(), SnsFailure> {
        let total = event.records.len();
        let mut reasons = Vec::new();
        for r in &event.records {
            if let Err(reason) = self.record(r).await {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(SnsFailure {
                failed: reasons.len(),
                total,
                reasons: reasons.join("; "),
            })
        }
    }

    async fn record(&self, r: &SnsRecord<'_>) -> Result<(), String> {
        let topic = r.sns.topic_arn.rsplit(':').next().unwrap_or_default();
        let ctx = Context::new(
            Arc::new(Source::queue(topic)),
            1,
            r.sns.message_id.as_ref(),
            message_of(r),
        );
        match self.pipeline.process(ctx).await {
            Outcome::Ack | Outcome::Duplicate => Ok(()),
            Outcome::Retry { reason, .. } => Err(format!("retry: {reason}")),
            Outcome::DeadLetter { reason } => Err(reason),
        }
    }
}

/// The courier message of an SNS record.
pub fn message_of(r: &SnsRecord<'_>) -> Message {
    let attrs = r
        .sns
        .message_attributes
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.value.as_ref().to_owned()))
        .collect();
    let mut m = courier_aws::wire::decode(r.sns.message.as_ref().to_owned(), attrs);
    if m.message_id.is_none() {
        m.message_id = Some(r.sns.message_id.as_ref().to_owned());
    }
    m
}
