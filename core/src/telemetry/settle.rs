//! Settlement spans: each `ack`, `nack` and `dead_letter` of a delivery received through
//! an [`Instrumented`](super::Instrumented) broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};

use super::entity::{with_error, Operation, Target};
use super::instrumented::secs;
use super::{error_type, names, Telemetry};
use crate::delivery::{Delivery, Settle};
use crate::error::{display_chain, Result};
use crate::message::Message;

/// A backend's settlement with a span and a duration per call.
pub(super) struct InstrumentedSettle {
    inner: Box<dyn Settle>,
    target: Arc<Target>,
    message_id: Arc<str>,
    telemetry: Telemetry,
}

impl InstrumentedSettle {
    pub(super) fn wrap(
        delivery: Delivery,
        target: &Arc<Target>,
        telemetry: &Telemetry,
    ) -> Delivery {
        let message_id = Arc::from(delivery.info().broker_message_id.as_str());
        delivery.map_settle(|inner| {
            Box::new(InstrumentedSettle {
                inner,
                target: target.clone(),
                message_id,
                telemetry: telemetry.clone(),
            })
        })
    }

    async fn traced(
        &self,
        op: Operation,
        settle: impl std::future::Future<Output = Result<()>>,
    ) -> Result<()> {
        let attributes = self.target.attributes(op);
        let builder = SpanBuilder::from_name(self.target.span_name(op))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes.to_vec());
        let metrics = &self.telemetry.instruments;
        let mut span = metrics
            .tracer
            .build_with_context(builder, &OtelContext::current());
        if span.is_recording() {
            span.set_attribute(KeyValue::new(names::MESSAGE_ID, self.message_id.clone()));
        }
        let started = Instant::now();
        let result = settle.await;
        let duration = secs(started.elapsed());
        match &result {
            Ok(()) => metrics.operation_duration.record(duration, attributes),
            Err(e) => {
                let kind = error_type(e);
                span.set_attribute(KeyValue::new(names::ERROR_TYPE, kind));
                span.set_status(Status::error(display_chain(e)));
                metrics
                    .operation_duration
                    .record(duration, &with_error(attributes, kind));
            }
        }
        span.end();
        result
    }
}

#[async_trait]
impl Settle for InstrumentedSettle {
    async fn ack(&self) -> Result<()> {
        self.traced(Operation::Ack, self.inner.ack()).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        self.traced(Operation::Nack, self.inner.nack(after)).await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        self.traced(
            Operation::DeadLetter,
            self.inner.dead_letter(message, reason),
        )
        .await
    }

    /// Lock renewal is not a settlement: passed through.
    async fn extend(&self, by: Duration) -> Result<()> {
        self.inner.extend(by).await
    }
}
