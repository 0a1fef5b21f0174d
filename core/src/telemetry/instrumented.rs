//! [`Instrumented`]: any broker, with spans and metrics on publish, receive and settle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Link, Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};

use super::entity::{system_of, Target};
use super::settle::InstrumentedSettle;
use super::{error_type, names, trace_context, Telemetry};
use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::dead_letter::{DeadLetter, Depth, RedriveOptions, RedriveReport};
use crate::delivery::Delivery;
use crate::error::{display_chain, Error, Result};
use crate::message::{Destination, Message, Source};
use crate::provision::ProvisionReport;
use crate::request::ReplyQueue;
use crate::topology::Topology;

/// A broker whose publish, receive and settle are traced and measured in OpenTelemetry's
/// messaging conventions; everything else is passed through unchanged. Wraps any
/// [`Broker`] (`Arc<dyn Broker>` too), in the manner of object_store's `LimitStore`.
///
/// | operation | span (kind) | metrics |
/// | --- | --- | --- |
/// | `publish` to a topic / `send` to a queue | `publish orders` (producer); its context becomes the message's `traceparent` unless it has one, which the span then links to | `messaging.client.sent.messages`, `messaging.client.operation.duration` |
/// | `publish_batch` | one `create orders` span (producer) per message without a context, and `publish orders` (client) linking to every message's | the same, per entry |
/// | `receive` | `receive orders/inventory` (client), `messaging.batch.message_count`, a link per message to its creation context | `messaging.client.consumed.messages`, `messaging.client.operation.duration` |
/// | `ack`, `nack`, `dead_letter` | `ack orders/inventory` … (client), `messaging.message.id` | `messaging.client.operation.duration` |
///
/// A failed operation sets `error.type` to the [`Error`] variant's name (see
/// [`error_type`](super::error_type)) and the span's status to error.
pub struct Instrumented<B: ?Sized> {
    inner: Arc<B>,
    telemetry: Telemetry,
}

impl<B: ?Sized> std::fmt::Debug for Instrumented<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

impl<B: Broker + ?Sized> Instrumented<B> {
    /// Wraps `inner`, recording through `telemetry`.
    pub fn new(inner: Arc<B>, telemetry: Telemetry) -> Self {
        Instrumented { inner, telemetry }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    /// What it records through.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    fn destination(&self, destination: &Destination) -> (Target, &'static str) {
        let topic = matches!(destination, Destination::Topic(_));
        let target = Target::destination(system_of(self.inner.name(), topic), destination);
        (target, if topic { "publish" } else { "send" })
    }

    /// Records one finished client operation: its span's end state and its duration.
    fn finish(
        &self,
        span: &mut impl Span,
        attributes: &mut Vec<KeyValue>,
        started: Instant,
        error: Option<&Error>,
    ) {
        if let Some(e) = error {
            let kind = error_type(e);
            attributes.push(KeyValue::new(names::ERROR_TYPE, kind));
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, kind));
            span.set_status(Status::error(display_chain(e)));
        }
        self.telemetry
            .instruments
            .operation_duration
            .record(secs(started.elapsed()), attributes);
        span.end();
    }
}

pub(super) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[async_trait]
impl<B: Broker + ?Sized> Publisher for Instrumented<B> {
    async fn publish(&self, destination: &Destination, mut message: Message) -> Result<String> {
        let (target, operation) = self.destination(destination);
        let mut attributes = target.with_operation(operation, "send", None);
        let parent = OtelContext::current();
        let own = trace_context::extract(&message);
        let mut builder = SpanBuilder::from_name(target.span_name(operation))
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes.clone());
        if let Some(own) = own {
            builder = builder.with_links(vec![Link::with_context(own)]);
        }
        let span = self
            .telemetry
            .instruments
            .tracer
            .build_with_context(builder, &parent);
        trace_context::inject_if_absent(&mut message, span.span_context());
        let cx = parent.with_span(span);
        let started = Instant::now();
        let result = self
            .inner
            .publish(destination, message)
            .with_context(cx.clone())
            .await;
        let span = cx.span();
        if let Ok(id) = &result {
            span.set_attribute(KeyValue::new(names::MESSAGE_ID, id.clone()));
        }
        let error = result.as_ref().err();
        if let Some(e) = error {
            attributes.push(KeyValue::new(names::ERROR_TYPE, error_type(e)));
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, error_type(e)));
            span.set_status(Status::error(display_chain(e)));
        }
        let metrics = &self.telemetry.instruments;
        metrics.sent.add(1, &attributes);
        metrics
            .operation_duration
            .record(secs(started.elapsed()), &attributes);
        span.end();
        result
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        mut messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let (target, operation) = self.destination(destination);
        let tracer = &self.telemetry.instruments.tracer;
        let parent = OtelContext::current();
        // Batches get a "create" span per message (the recommended structure for batch
        // APIs), which becomes the message's creation context unless it has its own.
        let mut links = Vec::with_capacity(messages.len());
        for message in &mut messages {
            let context = match trace_context::extract(message) {
                Some(own) => own,
                None => {
                    let create = SpanBuilder::from_name(target.span_name("create"))
                        .with_kind(SpanKind::Producer)
                        .with_attributes(target.with_operation("create", "create", None));
                    let mut span = tracer.build_with_context(create, &parent);
                    let context = span.span_context().clone();
                    trace_context::inject_if_absent(message, &context);
                    span.end();
                    context
                }
            };
            if context.is_valid() {
                links.push(Link::with_context(context));
            }
        }
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let mut attributes = target.with_operation(operation, "send", None);
        let builder = SpanBuilder::from_name(target.span_name(operation))
            .with_kind(SpanKind::Client)
            .with_attributes(
                attributes
                    .iter()
                    .cloned()
                    .chain([KeyValue::new(names::BATCH_COUNT, count)]),
            )
            .with_links(links);
        let mut span = tracer.build_with_context(builder, &parent);
        let started = Instant::now();
        let result = self.inner.publish_batch(destination, messages).await;
        let sent = &self.telemetry.instruments.sent;
        match &result {
            Ok(entries) => {
                let mut first_failure = None;
                for entry in entries {
                    match entry {
                        Ok(_) => sent.add(1, &attributes),
                        Err(e) => {
                            let mut failed = attributes.clone();
                            failed.push(KeyValue::new(names::ERROR_TYPE, error_type(e)));
                            sent.add(1, &failed);
                            first_failure.get_or_insert(e);
                        }
                    }
                }
                self.finish(&mut span, &mut attributes, started, first_failure);
            }
            Err(e) => {
                let mut failed = attributes.clone();
                failed.push(KeyValue::new(names::ERROR_TYPE, error_type(e)));
                sent.add(u64::try_from(count).unwrap_or(0), &failed);
                self.finish(&mut span, &mut attributes, started, Some(e));
            }
        }
        result
    }
}

#[async_trait]
impl<B: Broker + ?Sized> Consumer for Instrumented<B> {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let target = Arc::new(Target::source(system_of(self.inner.name(), false), source));
        let mut attributes = target.with_operation("receive", "receive", None);
        let builder = SpanBuilder::from_name(target.span_name("receive"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes.clone());
        let mut span = self
            .telemetry
            .instruments
            .tracer
            .build_with_context(builder, &OtelContext::current());
        let started = Instant::now();
        let result = self.inner.receive(source, max, wait).await;
        match result {
            Ok(deliveries) => {
                let n = deliveries.len();
                span.set_attribute(KeyValue::new(
                    names::BATCH_COUNT,
                    i64::try_from(n).unwrap_or(i64::MAX),
                ));
                for d in &deliveries {
                    if let Some(creation) = trace_context::extract(d.message()) {
                        span.add_link(creation, Vec::new());
                    }
                }
                if n > 0 {
                    self.telemetry
                        .instruments
                        .consumed
                        .add(n as u64, &attributes);
                }
                self.finish(&mut span, &mut attributes, started, None);
                Ok(deliveries
                    .into_iter()
                    .map(|d| InstrumentedSettle::wrap(d, &target, &self.telemetry))
                    .collect())
            }
            Err(e) => {
                self.finish(&mut span, &mut attributes, started, Some(&e));
                Err(e)
            }
        }
    }
}

#[async_trait]
impl<B: Broker + ?Sized> Broker for Instrumented<B> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        self.inner.provision(topology).await
    }

    async fn depth(&self, source: &Source) -> Result<Depth> {
        self.inner.depth(source).await
    }

    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        self.inner.resubmit(source, message).await
    }

    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        self.inner.create_reply_queue().await
    }

    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        self.inner.delete_reply_queue(queue).await
    }

    async fn peek_dead_letters(&self, source: &Source, max: usize) -> Result<Vec<DeadLetter>> {
        self.inner.peek_dead_letters(source, max).await
    }

    async fn redrive_dead_letters(
        &self,
        source: &Source,
        options: &RedriveOptions,
    ) -> Result<RedriveReport> {
        self.inner.redrive_dead_letters(source, options).await
    }

    async fn purge_dead_letters(&self, source: &Source) -> Result<u64> {
        self.inner.purge_dead_letters(source).await
    }
}
