//! The SNS-triggered adapter.
//!
//! SNS invokes a function asynchronously with no partial-batch response, so a failure
//! fails the invocation: Lambda retries it (twice) and then sends it to the function's
//! on-failure destination or dead-letter queue, with the error text as the reason. A
//! permanent failure is failed too (with its reason) rather than dropped: nothing is lost,
//! at the price of the two pointless retries. Configure an on-failure destination.

use std::panic::AssertUnwindSafe;

use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use courier_core::event::attr;
use courier_core::worker::{Context, HandlerError, Router};
use courier_core::{Message, Source};
use futures_util::FutureExt;
use tracing::Instrument;

/// Runs a [`Router`]'s handlers over SNS events.
pub struct SnsAdapter {
    router: Router,
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
        SnsAdapter { router }
    }

    /// Handles one SNS event: `Ok` when every record succeeded.
    pub async fn handle(&self, event: SnsEvent) -> Result<(), SnsFailure> {
        let total = event.records.len();
        let mut reasons = Vec::new();
        for r in &event.records {
            let message = message_of(r);
            let span = tracing::info_span!(
                "courier.lambda.sns",
                message_id = %r.sns.message_id,
                event.id = message.attributes.get(attr::ID).map(String::as_str).unwrap_or(""),
                traceparent = message.attributes.get(attr::TRACEPARENT).map(String::as_str).unwrap_or(""),
            );
            if let Err(reason) = self.record(r, &message).instrument(span).await {
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

    async fn record(&self, r: &SnsRecord, message: &Message) -> Result<(), String> {
        let route = self.router.route_for(message)?;
        let ctx = Context {
            source: Source::queue(courier_aws::names::arn_name(&r.sns.topic_arn).to_owned()),
            delivery_count: 1,
            broker_message_id: r.sns.message_id.clone(),
            attributes: message.attributes.clone(),
        };
        match AssertUnwindSafe(route.dispatch(message, &ctx))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e @ (HandlerError::Retry(_) | HandlerError::Permanent(_)))) => {
                Err(e.to_string())
            }
            Err(_) => Err("handler panicked".to_owned()),
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
