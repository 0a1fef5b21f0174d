//! The `process` span and the outcome metrics of the message pipeline, for every driver
//! (the worker, the Lambda adapters).

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Link, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};
use parking_lot::RwLock;

use super::entity::Target;
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

/// The most sources whose attributes are kept ready (a worker has one; a Lambda function
/// a few queues).
const TARGETS_KEPT: usize = 64;

/// Sources seen, with their attributes ready.
type Targets = Arc<RwLock<Vec<(Source, Arc<Target>)>>>;

/// The pipeline's telemetry: where it records, as which messaging system.
#[derive(Clone)]
pub(crate) struct ProcessTelemetry {
    telemetry: Telemetry,
    system: Cow<'static, str>,
    consumption: Consumption,
    targets: Targets,
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

    fn target(&self, source: &Source) -> Arc<Target> {
        if let Some((_, t)) = self.targets.read().iter().find(|(s, _)| s == source) {
            return t.clone();
        }
        let target = Arc::new(Target::source(self.system.clone(), source));
        let mut targets = self.targets.write();
        if targets.len() >= TARGETS_KEPT {
            targets.remove(0);
        }
        targets.push((source.clone(), target.clone()));
        target
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
        let target = self.target(ctx.source());
        let mut attributes = target.with_operation("process", "process", None);
        if let Some(lag) = ctx
            .enqueued_at()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
        {
            metrics.lag.record(secs(lag), &attributes);
        }
        if self.consumption == Consumption::Push {
            metrics.consumed.add(1, &attributes);
        }
        let mut span_attributes = attributes.clone();
        span_attributes.push(KeyValue::new(
            names::MESSAGE_ID,
            ctx.broker_message_id().to_owned(),
        ));
        if let Some(h) = head {
            span_attributes.push(KeyValue::new(names::EVENT_TYPE, h.ty.to_string()));
            if let Some(id) = &h.id {
                span_attributes.push(KeyValue::new(names::EVENT_ID, id.to_string()));
            }
        }
        if let Some(c) = &ctx.message().correlation_id {
            span_attributes.push(KeyValue::new(names::CONVERSATION_ID, c.clone()));
        }
        let mut builder = SpanBuilder::from_name(target.span_name("process"))
            .with_kind(SpanKind::Consumer)
            .with_attributes(span_attributes);
        // Linked to, not a child of, the producer: the conventions' default.
        if let Some(creation) = trace_context::extract(ctx.message()) {
            builder = builder.with_links(vec![Link::with_context(creation)]);
        }
        let parent = OtelContext::current();
        let span = metrics.tracer.build_with_context(builder, &parent);
        let cx = parent.with_span(span);
        let started = Instant::now();
        // Current while the handler runs: what it publishes is a child of this span.
        let (outcome, failure) = work.with_context(cx.clone()).await;
        let span = cx.span();
        let outcome_name = match &outcome {
            Outcome::Ack => "ack",
            Outcome::Duplicate => "duplicate",
            Outcome::Retry { .. } => "retry",
            Outcome::DeadLetter { .. } => "dead_letter",
        };
        span.set_attribute(KeyValue::new(names::OUTCOME, outcome_name));
        if let Some(kind) = failure {
            attributes.push(KeyValue::new(names::ERROR_TYPE, kind));
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, kind));
            let reason = match &outcome {
                Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason } => reason.clone(),
                Outcome::Ack | Outcome::Duplicate => String::new(),
            };
            span.set_status(Status::error(reason));
        }
        metrics
            .process_duration
            .record(secs(started.elapsed()), &attributes);
        attributes.push(KeyValue::new(names::OUTCOME, outcome_name));
        metrics.outcomes.add(1, &attributes);
        span.end();
        outcome
    }
}
