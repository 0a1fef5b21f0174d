//! Settlement spans: each `ack`, `nack` and `dead_letter` of a delivery received through
//! an [`Instrumented`](super::Instrumented) broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};

use super::entity::Target;
use super::instrumented::secs;
use super::{error_type, names, Telemetry};
use crate::delivery::{Delivery, Settle};
use crate::error::{display_chain, Result};
use crate::message::Message;

/// A backend's settlement with a span and a duration per call.
pub(super) struct InstrumentedSettle {
    inner: Box<dyn Settle>,
    target: Arc<Target>,
    message_id: String,
    telemetry: Telemetry,
}

impl InstrumentedSettle {
    pub(super) fn wrap(
        delivery: Delivery,
        target: &Arc<Target>,
        telemetry: &Telemetry,
    ) -> Delivery {
        let message_id = delivery.info().broker_message_id.clone();
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
        operation: &'static str,
        settle: impl std::future::Future<Output = Result<()>>,
    ) -> Result<()> {
        let mut attributes = self.target.with_operation(operation, "settle", None);
        let builder = SpanBuilder::from_name(self.target.span_name(operation))
            .with_kind(SpanKind::Client)
            .with_attributes(
                attributes
                    .iter()
                    .cloned()
                    .chain([KeyValue::new(names::MESSAGE_ID, self.message_id.clone())]),
            );
        let metrics = &self.telemetry.instruments;
        let mut span = metrics
            .tracer
            .build_with_context(builder, &OtelContext::current());
        let started = Instant::now();
        let result = settle.await;
        if let Err(e) = &result {
            attributes.push(KeyValue::new(names::ERROR_TYPE, error_type(e)));
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, error_type(e)));
            span.set_status(Status::error(display_chain(e)));
        }
        metrics
            .operation_duration
            .record(secs(started.elapsed()), &attributes);
        span.end();
        result
    }
}

#[async_trait]
impl Settle for InstrumentedSettle {
    async fn ack(&self) -> Result<()> {
        self.traced("ack", self.inner.ack()).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        self.traced("nack", self.inner.nack(after)).await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        self.traced("dead_letter", self.inner.dead_letter(message, reason))
            .await
    }

    /// Lock renewal is not a settlement: passed through.
    async fn extend(&self, by: Duration) -> Result<()> {
        self.inner.extend(by).await
    }
}
