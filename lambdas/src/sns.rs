//! The SNS-triggered adapter.
//!
//! SNS invokes a function asynchronously with no partial-batch response, so a failure
//! fails the invocation: Lambda retries it (twice) and then sends it to the function's
//! on-failure destination or dead-letter queue, with the error text as the reason. A
//! permanent failure is failed too (with its reason) rather than dropped: nothing is lost,
//! at the price of the two pointless retries. Configure an on-failure destination.

use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use courier_core::worker::{Context, Outcome, Pipeline, Router};
use courier_core::{Message, Source};

/// Runs a [`Router`]'s handlers over SNS events.
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
    pub async fn handle(&self, event: SnsEvent) -> Result<(), SnsFailure> {
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

    async fn record(&self, r: &SnsRecord) -> Result<(), String> {
        let ctx = Context::new(
            Source::queue(courier_aws::names::arn_name(&r.sns.topic_arn).to_owned()),
            1,
            &r.sns.message_id,
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
pub fn message_of(r: &SnsRecord) -> Message {
    let attrs = r
        .sns
        .message_attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let mut m = courier_aws::wire::decode(r.sns.message.clone(), attrs);
    if m.message_id.is_none() {
        m.message_id = Some(r.sns.message_id.clone());
    }
    m
}
