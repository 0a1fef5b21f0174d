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
    use courier_core::event::attr;
    use opentelemetry::trace::TraceContextExt;

    if message.attributes.contains_key(attr::TRACEPARENT) {
        return Cow::Borrowed(message);
    }
    let current = opentelemetry::Context::current();
    let context = current.span().span_context().clone();
    if !context.is_valid() {
        return Cow::Borrowed(message);
    }
    let mut message = message.clone();
    message.attributes.insert(
        attr::TRACEPARENT.to_owned(),
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        ),
    );
    let state = context.trace_state().header();
    if !state.is_empty() {
        message
            .attributes
            .insert(attr::TRACESTATE.to_owned(), state);
    }
    Cow::Owned(message)
}

/// Without the `otel` feature there is no current trace context: `message` as it is.
#[cfg(not(feature = "otel"))]
pub(crate) fn with_current_context(message: &Message) -> Cow<'_, Message> {
    Cow::Borrowed(message)
}
