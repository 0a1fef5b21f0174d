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
    // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
    let b = value.trim().as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = hex(&b[0..2])?;
    // Version ff is forbidden; version 00 is exactly 55 characters; a later version may
    // append fields after a '-', which this version ignores (section 4.3).
    if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return None;
    }
    let trace_id = TraceId::from(hex(&b[3..35])?);
    let span_id = SpanId::from(u64::try_from(hex(&b[36..52])?).ok()?);
    let flags = u8::try_from(hex(&b[53..55])?).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags & 0x01)))
}

/// Lowercase hex digits (as W3C requires) to a number; at most 32 digits.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |n, d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u128::from(v))
    })
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
