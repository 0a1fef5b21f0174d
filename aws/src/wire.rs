//! How a courier [`Message`] travels in SQS and SNS, within their limits.
//!
//! SQS and SNS carry at most **10 message attributes**. courier keeps the attributes that
//! subscriptions filter on as real attributes — `ce_type`, `ce_source`, `ce_subject` and
//! your own — and packs the rest of the event context (`ce_id`, `ce_specversion`,
//! `ce_time`, `traceparent`, `tracestate`, content type, message and correlation ids,
//! dead-letter reason) into **one** attribute named `courier` (JSON). An event therefore
//! uses at most 4 attributes, leaving you 6. Attributes whose value looks like a number
//! travel with SNS's `Number` type, so numeric filter conditions work.
//!
//! A request's reply address and correlation id travel as two plain `String` attributes,
//! [`REPLY_TO_ATTRIBUTE`] (`ReplyTo`: the URL of the requester's reply queue, what
//! `SendMessage` takes) and [`CORRELATION_ID_ATTRIBUTE`] (`CorrelationId`), so that a
//! responder written with any AWS SDK can read them and answer: `SendMessage` to the
//! `ReplyTo` URL with the same `CorrelationId` attribute. A reply carries
//! `CorrelationId` too. Both names are therefore reserved for these two fields.
//!
//! Bodies that are not valid SQS text (binary, or characters SQS rejects) travel as
//! base64 and are decoded on receipt.

use std::collections::HashMap;

use courier_core::event::attr;
use courier_core::wire::{body_to_wire, Packed};
use courier_core::{Error, Message, Result};
use serde::Deserialize;

pub use courier_core::wire::PACK_ATTRIBUTE;

/// The attribute holding a request's reply address (the reply queue's URL).
pub const REPLY_TO_ATTRIBUTE: &str = "ReplyTo";
/// The attribute holding the correlation id of a request and of its reply.
pub const CORRELATION_ID_ATTRIBUTE: &str = "CorrelationId";

/// Most message attributes SQS and SNS accept on one message.
pub const MAX_ATTRIBUTES: usize = 10;
/// SQS's largest message: 1 MiB, body and attributes together.
pub const SQS_MAX_MESSAGE_SIZE: usize = 1024 * 1024;
/// SNS's largest message: 256 KiB, body and attributes together.
pub const SNS_MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Attributes left unpacked because subscriptions filter on them.
const FILTERABLE: [&str; 3] = [attr::TYPE, attr::SOURCE, attr::SUBJECT];

/// One SQS/SNS message attribute: name, data type (`String` or `Number`), value.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageAttribute {
    /// Attribute name.
    pub name: String,
    /// `String` or `Number`.
    pub data_type: &'static str,
    /// The value.
    pub value: String,
}

/// A message as SQS and SNS carry it: body text and message attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedMessage {
    /// The body text.
    pub body: String,
    /// The message attributes.
    pub attributes: Vec<MessageAttribute>,
}

impl EncodedMessage {
    /// Size as SQS and SNS count it: body plus attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|a| a.name.len() + a.data_type.len() + a.value.len())
                .sum::<usize>()
    }

    /// Fails with `PayloadTooLarge` above `limit`.
    pub fn check_size(&self, limit: usize) -> Result<()> {
        let size = self.size();
        if size > limit {
            return Err(Error::PayloadTooLarge { size, limit });
        }
        Ok(())
    }
}

/// Whether SQS accepts `s` as message text (its allowed character ranges).
fn valid_sqs_text(s: &str) -> bool {
    s.chars().all(|c| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}'))
}

fn check_attribute_name(name: &str) -> Result<()> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "attribute name '{name}' is not valid on SQS/SNS (letters, digits, '_', '-', '.'; no leading, trailing or double '.'; not starting with AWS. or Amazon.)"
        )))
    }
}

/// SNS numbers: at most 15 significant digits, within ±1e9 (SNS filter policy limits).
fn is_sns_number(v: &str) -> bool {
    let digits = v.trim_start_matches('-');
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().filter(char::is_ascii_digit).count() <= 15
        && v.parse::<f64>().is_ok_and(|n| n.abs() <= 1e9)
}

/// Encodes a message. `group_in_pack`: the destination is not FIFO, so a group id rides
/// in the pack (kept, not acted on) instead of `MessageGroupId`.
pub fn encode(m: &Message, group_in_pack: bool) -> Result<EncodedMessage> {
    let mut pack = Packed {
        content_type: m.content_type.clone(),
        message_id: m.message_id.clone(),
        group_id: m.group_id.clone().filter(|_| group_in_pack),
        ..Packed::default()
    };
    let mut attributes = Vec::new();
    for (name, value) in &m.attributes {
        if name == REPLY_TO_ATTRIBUTE || name == CORRELATION_ID_ATTRIBUTE {
            return Err(Error::invalid_input(format!(
                "attribute name '{name}' is reserved on SQS/SNS for the message's {} field",
                if name == REPLY_TO_ATTRIBUTE {
                    "reply_to"
                } else {
                    "correlation_id"
                }
            )));
        }
        let filterable = FILTERABLE.contains(&name.as_str());
        if (attr::is_reserved(name) && !filterable) || value.is_empty() {
            // SQS refuses empty values; the pack keeps them.
            pack.attrs.insert(name.clone(), value.clone());
            continue;
        }
        check_attribute_name(name)?;
        let data_type = if !filterable && is_sns_number(value) {
            "Number"
        } else {
            "String"
        };
        attributes.push(MessageAttribute {
            name: name.clone(),
            data_type,
            value: value.clone(),
        });
    }
    for (name, value) in [
        (REPLY_TO_ATTRIBUTE, &m.reply_to),
        (CORRELATION_ID_ATTRIBUTE, &m.correlation_id),
    ] {
        match value.as_deref() {
            // SQS refuses empty values: an empty one rides in the pack.
            Some("") if name == REPLY_TO_ATTRIBUTE => pack.reply_to = Some(String::new()),
            Some("") => pack.correlation_id = Some(String::new()),
            Some(v) => attributes.push(MessageAttribute {
                name: name.to_owned(),
                data_type: "String",
                value: v.to_owned(),
            }),
            None => {}
        }
    }
    let (body, base64) = body_to_wire(&m.body, valid_sqs_text);
    pack.base64 = base64;
    if !pack.is_empty() {
        attributes.push(MessageAttribute {
            name: PACK_ATTRIBUTE.to_owned(),
            data_type: "String",
            value: pack.to_json()?,
        });
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid_input(format!(
            "the message needs {} attributes on the wire; SQS and SNS allow {MAX_ATTRIBUTES} (an event uses up to 4: ce_type, ce_source, ce_subject and '{PACK_ATTRIBUTE}')",
            attributes.len()
        )));
    }
    Ok(EncodedMessage { body, attributes })
}

/// Decodes a received body and attributes (name -> value) into a message. An SNS
/// notification envelope (a subscription without raw delivery, or a plain SNS producer)
/// is unwrapped into its message and attributes.
pub fn decode(body: String, attributes: HashMap<String, String>) -> Message {
    decode_received(body, attributes).0
}

/// [`decode`], and whether the body was an SNS notification envelope.
pub(crate) fn decode_received(
    body: String,
    attributes: HashMap<String, String>,
) -> (Message, bool) {
    if attributes.is_empty() {
        if let Some(m) = unwrap_sns_envelope(&body) {
            return (m, true);
        }
    }
    let mut m = Message::default();
    let mut pack = None;
    for (name, value) in attributes {
        if name == REPLY_TO_ATTRIBUTE {
            m.reply_to = Some(value);
            continue;
        }
        if name == CORRELATION_ID_ATTRIBUTE {
            m.correlation_id = Some(value);
            continue;
        }
        match (name == PACK_ATTRIBUTE)
            .then(|| Packed::unpack(&value))
            .flatten()
        {
            Some(p) => pack = Some(p),
            // An ordinary attribute, or a foreign producer's own attribute named
            // `courier`: kept as it is.
            None => {
                m.attributes.insert(name, value);
            }
        }
    }
    pack.unwrap_or_default().apply(&mut m, body);
    (m, false)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Type")]
    ty: String,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "MessageAttributes", default)]
    message_attributes: HashMap<String, EnvelopeAttribute>,
}

#[derive(Deserialize)]
struct EnvelopeAttribute {
    #[serde(rename = "Value")]
    value: String,
}

/// The message inside an SNS notification envelope, if `body` is one.
pub fn unwrap_sns_envelope(body: &str) -> Option<Message> {
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let env: Envelope = serde_json::from_str(body).ok()?;
    if env.ty != "Notification" || env.topic_arn.is_empty() {
        return None;
    }
    let attrs = env
        .message_attributes
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    let mut m = decode(env.message, attrs);
    if m.message_id.is_none() {
        m.message_id = env.message_id;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_core::Event;

    fn back(w: &EncodedMessage) -> Message {
        decode(
            w.body.clone(),
            w.attributes
                .iter()
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect(),
        )
    }

    #[test]
    fn an_event_uses_four_attributes_and_round_trips() {
        let e = Event::new("/shop", "OrderCreated", serde_json::json!({"n": 1}))
            .with_subject("o-1")
            .with_trace(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Some("a=b".into()),
            )
            .with_attribute("region", "eu")
            .with_attribute("amount", "12.5");
        let m = e.to_message().unwrap();
        let w = encode(&m, true).unwrap();
        let names: Vec<&str> = w.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "amount",
                "ce_source",
                "ce_subject",
                "ce_type",
                "region",
                "courier"
            ]
        );
        assert_eq!(w.attributes[0].data_type, "Number");
        assert_eq!(back(&w), m);
    }

    #[test]
    fn reply_address_and_correlation_id_are_plain_attributes() {
        let url = "https://sqs.eu-west-1.amazonaws.com/111122223333/courier-reply-ab";
        let m = Event::new("/shop", "ReserveStock", serde_json::json!({}))
            .to_message()
            .unwrap()
            .with_reply_to(url)
            .with_correlation_id("c-1");
        let w = encode(&m, true).unwrap();
        let plain = |n: &str| {
            w.attributes
                .iter()
                .find(|a| a.name == n)
                .map(|a| a.value.as_str())
        };
        assert_eq!(plain("ReplyTo"), Some(url));
        assert_eq!(plain("CorrelationId"), Some("c-1"));
        let pack = plain("courier").unwrap();
        assert!(
            !pack.contains("c-1") && !pack.contains(url),
            "not packed: {pack}"
        );
        assert_eq!(back(&w), m);

        // What a responder written with another SDK sends: a body and CorrelationId.
        let foreign = decode(
            "{\"ok\":true}".into(),
            HashMap::from([("CorrelationId".to_owned(), "c-1".to_owned())]),
        );
        assert_eq!(foreign.correlation_id.as_deref(), Some("c-1"));
        assert!(foreign.attributes.is_empty());

        let e = encode(&Message::new("x").with_attribute("ReplyTo", "q"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'ReplyTo' is reserved"), "{e}");
    }

    #[test]
    fn binary_bodies_travel_as_base64() {
        let m = Message::new(vec![0u8, 159, 146, 150]).with_attribute("k", "");
        let w = encode(&m, true).unwrap();
        assert!(w.body.is_ascii());
        assert_eq!(back(&w), m);
    }

    #[test]
    fn limits_are_named() {
        let m = (0..11).fold(Message::new("x"), |m, i| {
            m.with_attribute(format!("a{i}"), "v")
        });
        let e = encode(&m, true).unwrap_err().to_string();
        assert!(e.contains("11 attributes") && e.contains("allow 10"), "{e}");
        let e = encode(&Message::new("x").with_attribute("AWS.x", "v"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'AWS.x' is not valid"), "{e}");
        let w = encode(&Message::new(vec![b'x'; 100]), true).unwrap();
        assert!(matches!(
            w.check_size(50),
            Err(Error::PayloadTooLarge {
                size: 100,
                limit: 50
            })
        ));
    }

    #[test]
    fn sns_envelopes_are_unwrapped() {
        let body = serde_json::json!({
            "Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders",
            "Message": "{\"order_id\":\"o-1\"}", "Timestamp": "2026-11-26T10:00:00.000Z",
            "MessageAttributes": {"ce_type": {"Type": "String", "Value": "OrderCreated"}}
        })
        .to_string();
        let m = decode(body, HashMap::new());
        assert_eq!(m.body, br#"{"order_id":"o-1"}"#);
        assert_eq!(m.attributes["ce_type"], "OrderCreated");
        assert_eq!(m.message_id.as_deref(), Some("sns-1"));
        let plain = decode("{\"Type\":\"Other\"}".into(), HashMap::new());
        assert_eq!(plain.body, b"{\"Type\":\"Other\"}");
    }
}
