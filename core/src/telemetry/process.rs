//! The `process` span and the outcome metrics of the message pipeline, for every driver
//! (the worker, the Lambda adapters).

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};

use super::entity::{with_error, Operation, Target, Targets};
use super::instrumented::secs;
use super::{names, trace_context, Telemetry};
use crate::event::EventHead;
use crate::message::Source;
use crate::worker::{Context, Outcome};

/// How messages reach the pipeline, which decides who counts them in
/// `messaging.client.consumed.messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumption {
    /// Pulled by a `receive` call (the worker): an [`Instrumented`](super::Instrumented)
    /// broker counts them there.
    Pull,
    /// Pushed by a platform (Lambda's event source mapping): the pipeline counts them,
    /// with `messaging.operation.name` = `process`.
    Push,
}

/// The pipeline's telemetry: where it records, as which messaging system.
#[derive(Clone)]
pub(crate) struct ProcessTelemetry {
    telemetry: Telemetry,
    system: Cow<'static, str>,
    consumption: Consumption,
    targets: Arc<Targets<Source>>,
}

impl ProcessTelemetry {
    pub(crate) fn new(
        telemetry: Telemetry,
        system: Cow<'static, str>,
        consumption: Consumption,
    ) -> Self {
        ProcessTelemetry {
            telemetry,
            system,
            consumption,
            targets: Arc::default(),
        }
    }

    /// Runs `work` (the pipeline's decision) inside the `process` span, and records the
    /// duration, the outcome and the lag.
    pub(crate) async fn process(
        &self,
        ctx: &Context,
        head: Option<&EventHead<'_>>,
        work: impl Future<Output = (Outcome, Option<&'static str>)>,
    ) -> Outcome {
        let metrics = &self.telemetry.instruments;
        let source = ctx.source();
        let target = self
            .targets
            .get(source, || Target::source(self.system.clone(), source));
        let attributes = target.attributes(Operation::Process);
        if let Some(lag) = ctx
            .enqueued_at()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
        {
            metrics.lag.record(secs(lag), attributes);
        }
        if self.consumption == Consumption::Push {
            metrics.consumed.add(1, attributes);
        }
        let builder = SpanBuilder::from_name(target.span_name(Operation::Process))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attributes.to_vec());
        let parent = OtelContext::current();
        let mut span = metrics.tracer.build_with_context(builder, &parent);
        if span.is_recording() {
            describe(&mut span, ctx, head);
        }
        let current = span.span_context().is_valid();
        let cx = parent.with_span(span);
        let started = Instant::now();
        // Current while the handler runs: what it publishes is a child of this span (a
        // span without a valid context, from a no-op tracer, has nothing to pass on).
        let (outcome, failure) = if current {
            work.with_context(cx.clone()).await
        } else {
            work.await
        };
        let elapsed = secs(started.elapsed());
        let span = cx.span();
        let outcome_name = match &outcome {
            Outcome::Ack => "ack",
            Outcome::Duplicate => "duplicate",
            Outcome::Retry { .. } => "retry",
            Outcome::DeadLetter { .. } => "dead_letter",
        };
        match failure {
            None => {
                metrics.process_duration.record(elapsed, attributes);
                metrics
                    .outcomes
                    .add(1, target.outcome_attributes(outcome_name));
            }
            Some(kind) => {
                let mut labels = with_error(attributes, kind);
                metrics.process_duration.record(elapsed, &labels);
                labels.push(KeyValue::new(names::OUTCOME, outcome_name));
                metrics.outcomes.add(1, &labels);
                if span.is_recording() {
                    span.set_attribute(KeyValue::new(names::ERROR_TYPE, kind));
                    let reason = match &outcome {
                        Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason } => {
                            reason.clone()
                        }
                        Outcome::Ack | Outcome::Duplicate => String::new(),
                    };
                    span.set_status(Status::error(reason));
                }
            }
        }
        span.set_attribute(KeyValue::new(names::OUTCOME, outcome_name));
        span.end();
        outcome
    }
}

/// What only a recorded span needs: ids, the event, and the link to the producer.
fn describe(span: &mut impl Span, ctx: &Context, head: Option<&EventHead<'_>>) {
    span.set_attribute(KeyValue::new(
        names::MESSAGE_ID,
        ctx.broker_message_id().to_owned(),
    ));
    if let Some(h) = head {
        span.set_attribute(KeyValue::new(names::EVENT_TYPE, h.ty.to_string()));
        if let Some(id) = &h.id {
            span.set_attribute(KeyValue::new(names::EVENT_ID, id.to_string()));
        }
    }
    if let Some(c) = &ctx.message().correlation_id {
        span.set_attribute(KeyValue::new(names::CONVERSATION_ID, c.clone()));
    }
    // Linked to, not a child of, the producer: the conventions' default.
    if let Some(creation) = trace_context::extract(ctx.message()) {
        span.add_link(creation, Vec::new());
    }
}
