//! [`Instrumented`]: any broker, with spans and metrics on publish, receive and settle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    Link, Span, SpanBuilder, SpanKind, SpanRef, Status, TraceContextExt, Tracer,
};
use opentelemetry::{Context as OtelContext, KeyValue};

use super::entity::{system_of, with_error, Operation, Target, Targets};
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
    destinations: Targets<Destination>,
    sources: Targets<Source>,
}

impl<B: ?Sized> std::fmt::Debug for Instrumented<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

impl<B: Broker + ?Sized> Instrumented<B> {
    /// Wraps `inner`, recording through `telemetry`.
    pub fn new(inner: Arc<B>, telemetry: Telemetry) -> Self {
        Instrumented {
            inner,
            telemetry,
            destinations: Targets::default(),
            sources: Targets::default(),
        }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    /// What it records through.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    fn destination(&self, destination: &Destination) -> (Arc<Target>, Operation) {
        let topic = matches!(destination, Destination::Topic(_));
        let target = self.destinations.get(destination, || {
            Target::destination(system_of(self.inner.name(), topic), destination)
        });
        (
            target,
            if topic {
                Operation::Publish
            } else {
                Operation::Send
            },
        )
    }

    /// Ends a client operation's span and records its duration (with `error.type` when
    /// it failed).
    fn finish(
        &self,
        span: &SpanRef<'_>,
        attributes: &[KeyValue],
        started: Instant,
        error: Option<&Error>,
    ) {
        let duration = &self.telemetry.instruments.operation_duration;
        match error {
            Some(e) => {
                let kind = error_type(e);
                span.set_attribute(KeyValue::new(names::ERROR_TYPE, kind));
                span.set_status(Status::error(display_chain(e)));
                duration.record(secs(started.elapsed()), &with_error(attributes, kind));
            }
            None => duration.record(secs(started.elapsed()), attributes),
        }
        span.end();
    }
}

pub(super) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[async_trait]
impl<B: Broker + ?Sized> Publisher for Instrumented<B> {
    async fn publish(&self, destination: &Destination, mut message: Message) -> Result<String> {
        let (target, op) = self.destination(destination);
        let attributes = target.attributes(op);
        let parent = OtelContext::current();
        let mut builder = SpanBuilder::from_name(target.span_name(op))
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes.to_vec());
        // A context the user set is kept, and linked to.
        if let Some(own) = trace_context::extract(&message) {
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
        let sent = &self.telemetry.instruments.sent;
        match &result {
            Ok(id) => {
                if span.is_recording() {
                    span.set_attribute(KeyValue::new(names::MESSAGE_ID, id.clone()));
                }
                sent.add(1, attributes);
            }
            Err(e) => sent.add(1, &with_error(attributes, error_type(e))),
        }
        self.finish(&span, attributes, started, result.as_ref().err());
        result
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        mut messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let (target, op) = self.destination(destination);
        let tracer = &self.telemetry.instruments.tracer;
        let parent = OtelContext::current();
        // Batches get a "create" span per message (the recommended structure for batch
        // APIs), which becomes the message's creation context unless it has its own.
        let mut links = Vec::with_capacity(messages.len());
        for message in &mut messages {
            let context = match trace_context::extract(message) {
                Some(own) => own,
                None => {
                    let create = SpanBuilder::from_name(target.span_name(Operation::Create))
                        .with_kind(SpanKind::Producer)
                        .with_attributes(target.attributes(Operation::Create).to_vec());
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
        let attributes = target.attributes(op);
        let builder = SpanBuilder::from_name(target.span_name(op))
            .with_kind(SpanKind::Client)
            .with_attributes(
                attributes
                    .iter()
                    .cloned()
                    .chain([KeyValue::new(names::BATCH_COUNT, count)]),
            )
            .with_links(links);
        let cx = parent.with_span(tracer.build_with_context(builder, &parent));
        let started = Instant::now();
        let result = self
            .inner
            .publish_batch(destination, messages)
            .with_context(cx.clone())
            .await;
        let sent = &self.telemetry.instruments.sent;
        let failure = match &result {
            Ok(entries) => {
                let mut first_failure = None;
                for entry in entries {
                    match entry {
                        Ok(_) => sent.add(1, attributes),
                        Err(e) => {
                            sent.add(1, &with_error(attributes, error_type(e)));
                            first_failure.get_or_insert(e);
                        }
                    }
                }
                first_failure
            }
            Err(e) => {
                let n = u64::try_from(count).unwrap_or(0);
                sent.add(n, &with_error(attributes, error_type(e)));
                Some(e)
            }
        };
        self.finish(&cx.span(), attributes, started, failure);
        result
    }
}

#[async_trait]
impl<B: Broker + ?Sized> Consumer for Instrumented<B> {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let target = self.sources.get(source, || {
            Target::source(system_of(self.inner.name(), false), source)
        });
        let attributes = target.attributes(Operation::Receive);
        let builder = SpanBuilder::from_name(target.span_name(Operation::Receive))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes.to_vec());
        let parent = OtelContext::current();
        let cx = parent.with_span(
            self.telemetry
                .instruments
                .tracer
                .build_with_context(builder, &parent),
        );
        let started = Instant::now();
        let result = self.inner.receive(source, max, wait).await;
        let span = cx.span();
        match result {
            Ok(deliveries) => {
                let n = deliveries.len();
                if span.is_recording() {
                    span.set_attribute(KeyValue::new(
                        names::BATCH_COUNT,
                        i64::try_from(n).unwrap_or(i64::MAX),
                    ));
                    for d in &deliveries {
                        if let Some(creation) = trace_context::extract(d.message()) {
                            span.add_link(creation, Vec::new());
                        }
                    }
                }
                if n > 0 {
                    let consumed = &self.telemetry.instruments.consumed;
                    consumed.add(n as u64, attributes);
                }
                self.finish(&span, attributes, started, None);
                Ok(deliveries
                    .into_iter()
                    .map(|d| InstrumentedSettle::wrap(d, &target, &self.telemetry))
                    .collect())
            }
            Err(e) => {
                self.finish(&span, attributes, started, Some(&e));
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
