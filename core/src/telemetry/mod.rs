//! OpenTelemetry spans and metrics for courier, in the semantic conventions for messaging
//! (<https://opentelemetry.io/docs/specs/semconv/messaging/>, read at
//! `open-telemetry/semantic-conventions` `docs/messaging/messaging-spans.md` and
//! `messaging-metrics.md`). Feature `otel`; the application chooses the SDK and exporter.
//!
//! Two pieces, so that every backend and every driver gets the same telemetry:
//!
//! - [`Instrumented`] wraps any [`Broker`](crate::Broker): `send`/`publish` spans
//!   (producer; each message gets the span's context as its `traceparent` unless it has
//!   one), `receive` spans (client, linked to each message's creation context), settlement
//!   spans (`ack`, `nack`, `dead_letter`; client), `messaging.client.sent.messages`,
//!   `messaging.client.consumed.messages` and `messaging.client.operation.duration`;
//! - the message pipeline ([`Pipeline::telemetry`](crate::worker::Pipeline::telemetry),
//!   [`Worker::telemetry`](crate::worker::Worker::telemetry)): a `process` span (consumer,
//!   linked to the producer's context from the message's `traceparent`, current while the
//!   handler runs), `messaging.process.duration`, courier's `courier.message.outcomes`
//!   (`courier.outcome` = `ack`, `duplicate`, `retry`, `dead_letter`) and
//!   `courier.message.lag` (seconds from enqueue to the start of processing).
//!
//! ```
//! use std::sync::Arc;
//! use courier_core::telemetry::{Instrumented, Telemetry};
//! use courier_core::{Broker, MemoryBroker};
//!
//! let telemetry = Telemetry::global(); // whatever providers the application installed
//! let broker: Arc<dyn Broker> = Arc::new(Instrumented::new(Arc::new(MemoryBroker::new()), telemetry.clone()));
//! // Worker::new(broker, source).telemetry(telemetry) adds the process spans and outcomes.
//! ```

mod entity;
mod instrumented;
mod process;
mod settle;
pub(crate) mod trace_context;

use std::sync::Arc;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry::{global, InstrumentationScope};

use crate::error::Error;

pub use entity::system_of;

/// Writes the span current now as `message`'s creation context (`traceparent`, and
/// `tracestate` when it has one), unless the message already has a `traceparent` or no
/// span is current: for code that writes a message now and publishes it later (the
/// transactional outbox), so that consumers link to the writer, not the publisher.
pub fn inject_current_context(message: &mut crate::Message) {
    use opentelemetry::trace::TraceContextExt;
    let current = opentelemetry::Context::current();
    trace_context::inject_if_absent(message, current.span().span_context());
}
pub use instrumented::Instrumented;
pub use process::Consumption;
pub(crate) use process::ProcessTelemetry;

/// Values of `messaging.system` courier reports.
pub mod system {
    /// Amazon SQS: receiving, settling, sending to a queue.
    pub const AWS_SQS: &str = "aws_sqs";
    /// Amazon SNS: publishing to a topic (the conventions' well-known value is `aws.sns`).
    pub const AWS_SNS: &str = "aws.sns";
    /// Azure Service Bus.
    pub const SERVICE_BUS: &str = "servicebus";
    /// courier's in-memory broker: no well-known value applies, so a custom one, prefixed
    /// with `courier.` so that it can never be taken for another product's.
    pub const MEMORY: &str = "courier.memory";
}

/// Attribute and metric names used (semantic conventions, plus `courier.*` for courier's own).
pub mod names {
    /// `messaging.system`.
    pub const SYSTEM: &str = "messaging.system";
    /// `messaging.destination.name`: the topic or queue.
    pub const DESTINATION: &str = "messaging.destination.name";
    /// `messaging.destination.subscription.name`: the subscription of the topic.
    pub const SUBSCRIPTION: &str = "messaging.destination.subscription.name";
    /// `messaging.operation.name`.
    pub const OPERATION_NAME: &str = "messaging.operation.name";
    /// `messaging.operation.type`.
    pub const OPERATION_TYPE: &str = "messaging.operation.type";
    /// `messaging.message.id`.
    pub const MESSAGE_ID: &str = "messaging.message.id";
    /// `messaging.message.conversation_id` (courier's correlation id).
    pub const CONVERSATION_ID: &str = "messaging.message.conversation_id";
    /// `messaging.batch.message_count`.
    pub const BATCH_COUNT: &str = "messaging.batch.message_count";
    /// `error.type`.
    pub const ERROR_TYPE: &str = "error.type";
    /// `cloudevents.event_id`.
    pub const EVENT_ID: &str = "cloudevents.event_id";
    /// `cloudevents.event_type`.
    pub const EVENT_TYPE: &str = "cloudevents.event_type";
    /// `courier.outcome`: `ack`, `duplicate`, `retry`, `dead_letter`.
    pub const OUTCOME: &str = "courier.outcome";
    /// Metric `messaging.client.sent.messages`.
    pub const SENT_MESSAGES: &str = "messaging.client.sent.messages";
    /// Metric `messaging.client.consumed.messages`.
    pub const CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
    /// Metric `messaging.client.operation.duration`.
    pub const OPERATION_DURATION: &str = "messaging.client.operation.duration";
    /// Metric `messaging.process.duration`.
    pub const PROCESS_DURATION: &str = "messaging.process.duration";
    /// Metric `courier.message.outcomes`: messages by what the pipeline decided.
    pub const OUTCOMES: &str = "courier.message.outcomes";
    /// Metric `courier.message.lag`: seconds from enqueue to the start of processing.
    pub const LAG: &str = "courier.message.lag";
}

/// The bucket boundaries the conventions advise for both duration histograms.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Lag can be long (a backlog, a retry after backoff): buckets up to an hour.
const LAG_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// courier's tracer and metric instruments. Cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) instruments: Arc<Instruments>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

pub(crate) struct Instruments {
    pub(crate) tracer: global::BoxedTracer,
    pub(crate) sent: Counter<u64>,
    pub(crate) consumed: Counter<u64>,
    pub(crate) operation_duration: Histogram<f64>,
    pub(crate) process_duration: Histogram<f64>,
    pub(crate) outcomes: Counter<u64>,
    pub(crate) lag: Histogram<f64>,
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("courier")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl Telemetry {
    /// From the providers installed globally (`opentelemetry::global`), as they are now;
    /// without any, the API's no-op providers (nothing is recorded).
    pub fn global() -> Self {
        let tracer = global::tracer_provider().tracer_with_scope(scope());
        Self::with(tracer, &global::meter_with_scope(scope()))
    }

    /// From these providers (e.g. the SDK's, in tests or beside other global ones).
    pub fn new<T, M>(tracer_provider: &T, meter_provider: &M) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        M: MeterProvider + ?Sized,
    {
        let tracer = global::BoxedTracer::new(Box::new(tracer_provider.tracer_with_scope(scope())));
        Self::with(tracer, &meter_provider.meter_with_scope(scope()))
    }

    fn with(tracer: global::BoxedTracer, meter: &Meter) -> Self {
        let messages = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit("{message}")
                .with_description(description)
                .build()
        };
        let seconds = |name: &'static str, description: &'static str, buckets: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(buckets.to_vec())
                .build()
        };
        Telemetry {
            instruments: Arc::new(Instruments {
                tracer,
                sent: messages(
                    names::SENT_MESSAGES,
                    "Number of messages producer attempted to send to the broker.",
                ),
                consumed: messages(
                    names::CONSUMED_MESSAGES,
                    "Number of messages that were delivered to the application.",
                ),
                operation_duration: seconds(
                    names::OPERATION_DURATION,
                    "Duration of messaging operation initiated by a producer or consumer client.",
                    &DURATION_BUCKETS,
                ),
                process_duration: seconds(
                    names::PROCESS_DURATION,
                    "Duration of processing operation.",
                    &DURATION_BUCKETS,
                ),
                outcomes: messages(
                    names::OUTCOMES,
                    "Messages by what courier's pipeline decided: ack, duplicate, retry, dead_letter.",
                ),
                lag: seconds(
                    names::LAG,
                    "Time from the broker enqueuing a message to the start of its processing.",
                    &LAG_BUCKETS,
                ),
            }),
        }
    }
}

/// `error.type` of a failed broker operation: the name of courier's error variant, a
/// short fixed list (`NotFound`, `Unauthorized`, `Transient`, `Timeout`, …).
pub fn error_type(error: &Error) -> &'static str {
    match error.inner() {
        Error::NotFound { .. } => "NotFound",
        Error::Conflict { .. } => "Conflict",
        Error::Unauthorized { .. } => "Unauthorized",
        Error::PayloadTooLarge { .. } => "PayloadTooLarge",
        Error::QuotaExceeded { .. } => "QuotaExceeded",
        Error::Unsupported { .. } => "Unsupported",
        Error::InvalidConfig { .. } => "InvalidConfig",
        Error::InvalidTopology { .. } => "InvalidTopology",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Decode { .. } => "Decode",
        Error::LockLost { .. } => "LockLost",
        Error::Timeout { .. } => "Timeout",
        Error::Fault { .. } => "Fault",
        Error::Transient { .. } => "Transient",
        Error::Backend { .. } | Error::Shared(_) => "Backend",
    }
}

#[cfg(test)]
mod tests;
