//! `BrokerProperties`: the JSON object of a message's broker properties ("Message Headers
//! and Properties"), in the `BrokerProperties` header of a single message or in each
//! entry of a batch.
//!
//! courier reads the received object itself, field by field: a field it cannot read is
//! left out, never a reason to fail the receive of a message that is already locked
//! (`SequenceNumber` and `EnqueuedSequenceNumber` are 64-bit on real namespaces).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::http_date;

/// The broker properties of a received message that courier uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReceivedProperties {
    pub(crate) message_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) reply_to: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) sequence_number: Option<i64>,
    pub(crate) lock_token: Option<String>,
    pub(crate) locked_until: Option<OffsetDateTime>,
    pub(crate) enqueued_at: Option<OffsetDateTime>,
    pub(crate) delivery_count: Option<u32>,
    /// Where some peers put the dead-letter reason; the service sets it as an application
    /// property (see [`crate::wire`]).
    pub(crate) dead_letter_reason: Option<String>,
    pub(crate) dead_letter_description: Option<String>,
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn date(map: &Map<String, Value>, key: &str) -> Option<OffsetDateTime> {
    map.get(key)
        .and_then(Value::as_str)
        .and_then(http_date::parse)
}

impl ReceivedProperties {
    /// Reads a `BrokerProperties` header; what is missing or unreadable is `None`.
    pub(crate) fn parse(header: &str) -> Self {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(header) else {
            return ReceivedProperties::default();
        };
        ReceivedProperties {
            message_id: text(&map, "MessageId"),
            correlation_id: text(&map, "CorrelationId"),
            reply_to: text(&map, "ReplyTo"),
            label: text(&map, "Label"),
            sequence_number: integer(&map, "SequenceNumber"),
            lock_token: text(&map, "LockToken"),
            locked_until: date(&map, "LockedUntilUtc"),
            enqueued_at: date(&map, "EnqueuedTimeUtc"),
            delivery_count: integer(&map, "DeliveryCount").and_then(|n| u32::try_from(n).ok()),
            dead_letter_reason: text(&map, "DeadLetterReason"),
            dead_letter_description: text(&map, "DeadLetterErrorDescription"),
        }
    }
}

/// JSON whose non-ASCII characters are `\u` escapes, so that it fits an HTTP header.
pub(crate) fn ascii_json(value: &Value) -> String {
    let json = value.to_string();
    if json.is_ascii() {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_64_bit_numbers_both_date_forms_and_survives_the_unexpected() {
        let p = ReceivedProperties::parse(
            r#"{"DeliveryCount":2,"EnqueuedSequenceNumber":9223372036854775000,"EnqueuedTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","LockToken":"7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547","LockedUntilUtc":"Sun, 06 Nov 1994 08:50:37 +0000","MessageId":"m-1","SequenceNumber":9223372036854775001,"State":"Active","TimeToLive":922337203685.47754,"Label":"OrderCreated","Unknown":{"a":[1]}}"#,
        );
        assert_eq!(p.sequence_number, Some(9_223_372_036_854_775_001));
        assert_eq!(p.delivery_count, Some(2));
        assert_eq!(p.message_id.as_deref(), Some("m-1"));
        assert_eq!(p.label.as_deref(), Some("OrderCreated"));
        let (enqueued, locked) = (p.enqueued_at.unwrap(), p.locked_until.unwrap());
        assert_eq!((locked - enqueued).whole_seconds(), 60);
        let odd = ReceivedProperties::parse(
            r#"{"SequenceNumber":"12","DeliveryCount":-1,"LockedUntilUtc":"soon"}"#,
        );
        assert_eq!(odd.sequence_number, Some(12));
        assert_eq!((odd.delivery_count, odd.locked_until), (None, None));
        assert_eq!(
            ReceivedProperties::parse("not json"),
            ReceivedProperties::default()
        );
    }

    #[test]
    fn header_json_is_ascii() {
        let v = serde_json::json!({"CorrelationId": "Zürich 🚚"});
        let text = ascii_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
