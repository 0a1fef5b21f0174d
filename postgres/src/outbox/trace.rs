//! The producer's trace context in an outbox row (feature `otel`).
//!
//! The relay publishes later, from its own task: without this, its instrumented publish
//! would stamp the message with the relay's span, and consumers would link to the relay
//! instead of the request that committed the message.

use std::borrow::Cow;

use courier_core::Message;

/// `message`, with the W3C trace context current now (<https://www.w3.org/TR/trace-context/>)
/// as its `traceparent` (and `tracestate`) unless it already has a `traceparent` or no
/// span is current.
#[cfg(feature = "otel")]
pub(crate) fn with_current_context(message: &Message) -> Cow<'_, Message> {
    let mut message = message.clone();
    courier_core::telemetry::inject_current_context(&mut message);
    Cow::Owned(message)
}

/// Without the `otel` feature there is no current trace context: `message` as it is.
#[cfg(not(feature = "otel"))]
pub(crate) fn with_current_context(message: &Message) -> Cow<'_, Message> {
    Cow::Borrowed(message)
}
