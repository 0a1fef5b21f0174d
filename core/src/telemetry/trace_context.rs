//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) in a message's `traceparent`
//! and `tracestate` attributes: the message's creation context.

use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::event::attr;
use crate::message::Message;

/// Reads the creation context a producer attached to `message`, if it is a valid W3C
/// `traceparent` (version `00`, or a later version read as `00` says, section 4.3);
/// anything else is no context. An invalid `tracestate` is dropped, the parent kept.
pub(crate) fn extract(message: &Message) -> Option<SpanContext> {
    let parent = message.attributes.get(attr::TRACEPARENT)?;
    let (trace_id, span_id, flags) = parse_traceparent(parent)?;
    let state = message
        .attributes
        .get(attr::TRACESTATE)
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

/// Writes `context` as the creation context of `message` unless the message already has
/// one: a context the user set is never replaced (semantic conventions, "Producer spans").
pub(crate) fn inject_if_absent(message: &mut Message, context: &SpanContext) {
    if !context.is_valid() || message.attributes.contains_key(attr::TRACEPARENT) {
        return;
    }
    message
        .attributes
        .insert(attr::TRACEPARENT.to_owned(), traceparent(context));
    let state = context.trace_state().header();
    if !state.is_empty() {
        message
            .attributes
            .insert(attr::TRACESTATE.to_owned(), state);
    }
}

/// `00-<trace id>-<span id>-<flags>`.
pub(crate) fn traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    let rest = parts.next();
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    // Version ff is forbidden; version 00 has exactly four parts; a later version may
    // append parts, which this version ignores.
    if !is_hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
        return None;
    }
    if !is_hex(trace_id, 32) || !is_hex(span_id, 16) || !is_hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace_id, span_id, TraceFlags::new(flags & 0x01)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of W3C Trace Context, section 3.2.2 ("traceparent Header Field Values").
    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with(parent: &str, state: Option<&str>) -> Message {
        let mut m = Message::new("x").with_attribute(attr::TRACEPARENT, parent);
        if let Some(s) = state {
            m = m.with_attribute(attr::TRACESTATE, s);
        }
        m
    }

    #[test]
    fn the_specification_example_round_trips() {
        let cx = extract(&with(
            EXAMPLE,
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ))
        .unwrap();
        assert_eq!(
            cx.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert!(cx.is_sampled() && cx.is_remote());
        assert_eq!(cx.trace_state().get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(traceparent(&cx), EXAMPLE);
        let mut m = Message::new("y");
        inject_if_absent(&mut m, &cx);
        assert_eq!(m.attributes[attr::TRACEPARENT], EXAMPLE);
        assert_eq!(
            m.attributes[attr::TRACESTATE],
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
    }

    #[test]
    fn invalid_values_are_no_context() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(extract(&with(bad, None)).is_none(), "{bad}");
        }
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        assert!(
            extract(&with(later, None)).is_some(),
            "a later version is read as 00"
        );
    }

    #[test]
    fn a_context_the_user_set_is_kept() {
        let mut m = with(EXAMPLE, None);
        let other = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        inject_if_absent(&mut m, &other);
        assert_eq!(m.attributes[attr::TRACEPARENT], EXAMPLE);
        assert!(!m.attributes.contains_key(attr::TRACESTATE));
    }
}
