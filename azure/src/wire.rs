//! How a courier [`Message`] travels over the Service Bus REST protocol.
//!
//! Attributes travel as custom properties (HTTP headers, so subscription SQL rules can
//! test them); because HTTP folds header names to lower case and allows only ASCII, the
//! exact attributes, the content type, ids and a base64 flag for binary bodies also travel
//! in one property, `courier` (JSON, ASCII-escaped), which a receiver prefers.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use courier_core::{Error, Message, Result};
use serde::{Deserialize, Serialize};

/// The property holding the exact attributes and metadata.
pub const PACK_PROPERTY: &str = "courier";
/// Service Bus Standard's largest message: 256 KiB, body and properties.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Pack {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) attrs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) base64: bool,
}

/// JSON with every non-ASCII character escaped, so that it fits an HTTP header.
pub(crate) fn ascii_json<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A message ready to send: body, broker properties (JSON), custom properties.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) body: String,
    pub(crate) content_type: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) reply_to: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) delay: Option<Duration>,
    /// Custom properties: name -> header value (a JSON string).
    pub(crate) properties: BTreeMap<String, String>,
}

impl Outgoing {
    /// Size as Service Bus counts it (about): body plus property names and values.
    pub(crate) fn size(&self) -> usize {
        self.body.len()
            + self
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

fn valid_property_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

pub(crate) fn encode(m: &Message) -> Result<Outgoing> {
    let mut pack = Pack {
        attrs: m.attributes.clone(),
        content_type: m.content_type.clone(),
        correlation_id: m.correlation_id.clone(),
        reply_to: m.reply_to.clone(),
        group_id: m.group_id.clone(),
        base64: false,
    };
    let body = match std::str::from_utf8(&m.body) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            pack.base64 = true;
            base64::engine::general_purpose::STANDARD.encode(&m.body)
        }
    };
    let mut properties = BTreeMap::new();
    for (k, v) in &m.attributes {
        if !valid_property_name(k) {
            return Err(Error::invalid_input(format!(
                "attribute name '{k}' cannot be a Service Bus REST property (letters, digits, '_', '-', '.')"
            )));
        }
        properties.insert(k.to_ascii_lowercase(), ascii_json(v));
    }
    properties.insert(PACK_PROPERTY.to_owned(), ascii_json(&ascii_json(&pack)));
    let out = Outgoing {
        body,
        content_type: m.content_type.clone(),
        message_id: m.message_id.clone(),
        correlation_id: m.correlation_id.clone(),
        reply_to: m.reply_to.clone(),
        label: m.attributes.get(courier_core::event::attr::TYPE).cloned(),
        time_to_live: m.time_to_live,
        delay: m.delay.filter(|d| !d.is_zero()),
        properties,
    };
    if out.size() > MAX_MESSAGE_SIZE {
        return Err(Error::PayloadTooLarge {
            size: out.size(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    Ok(out)
}

/// A custom property header value as sent: a JSON string (quoted) or a bare token.
fn property_value(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| raw.to_owned())
}

/// Headers that are HTTP or broker metadata, not custom properties.
const NOT_PROPERTIES: &[&str] = &[
    "brokerproperties",
    "content-type",
    "content-length",
    "date",
    "server",
    "location",
    "transfer-encoding",
    "strict-transport-security",
    "connection",
    "keep-alive",
];

/// The message of a received body and headers (name -> raw value).
pub(crate) fn decode(body: String, headers: &BTreeMap<String, String>) -> Message {
    let mut m = Message::default();
    let pack = headers
        .get(PACK_PROPERTY)
        .map(|raw| property_value(raw))
        .and_then(|json| serde_json::from_str::<Pack>(&json).ok());
    match pack {
        Some(pack) => {
            m.body = if pack.base64 {
                base64::engine::general_purpose::STANDARD
                    .decode(&body)
                    .unwrap_or_else(|_| body.into_bytes())
            } else {
                body.into_bytes()
            };
            m.attributes = pack.attrs;
            m.content_type = pack.content_type;
            m.correlation_id = pack.correlation_id;
            m.reply_to = pack.reply_to;
            m.group_id = pack.group_id;
        }
        None => {
            // A foreign producer: its custom properties, as the headers name them.
            m.body = body.into_bytes();
            m.content_type = headers.get("content-type").cloned();
            m.attributes = headers
                .iter()
                .filter(|(k, _)| !NOT_PROPERTIES.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), property_value(v)))
                .collect();
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_core::Event;

    fn round_trip(m: &Message) -> Message {
        let out = encode(m).unwrap();
        let mut headers = out.properties.clone();
        if let Some(ct) = &out.content_type {
            headers.insert("content-type".into(), ct.clone());
        }
        let mut back = decode(out.body, &headers);
        back.message_id = m.message_id.clone();
        back
    }

    #[test]
    fn events_and_binary_bodies_survive() {
        let e = Event::new("/shop", "OrderCreated", serde_json::json!({"n": "ünïcode"}))
            .with_attribute("Region", "Zürich");
        let m = e.to_message().unwrap().with_correlation_id("c");
        let out = encode(&m).unwrap();
        assert!(
            out.properties.values().all(|v| v.is_ascii()),
            "headers are ASCII: {:?}",
            out.properties
        );
        assert_eq!(
            out.properties["region"], "\"Z\\u00fcrich\"",
            "filterable, lower-cased"
        );
        assert_eq!(
            round_trip(&m),
            m,
            "exact names and values come back from the pack"
        );
        let bin = Message::new(vec![0u8, 255, 7]);
        assert_eq!(round_trip(&bin).body, bin.body);
    }

    #[test]
    fn foreign_messages_keep_their_properties() {
        let headers = BTreeMap::from([
            ("priority".to_owned(), "\"High\"".to_owned()),
            ("retries".to_owned(), "3".to_owned()),
            ("content-type".to_owned(), "text/plain".to_owned()),
            (
                "date".to_owned(),
                "Thu, 26 Nov 2026 10:00:00 GMT".to_owned(),
            ),
        ]);
        let m = decode("hello".into(), &headers);
        assert_eq!(
            m.attributes,
            BTreeMap::from([
                ("priority".into(), "High".into()),
                ("retries".into(), "3".into())
            ])
        );
        assert_eq!(m.content_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn limits_are_named() {
        let e = encode(&Message::new(vec![b'x'; MAX_MESSAGE_SIZE])).unwrap_err();
        assert!(matches!(
            e,
            Error::PayloadTooLarge {
                limit: MAX_MESSAGE_SIZE,
                ..
            }
        ));
        let e = encode(&Message::new("x").with_attribute("a b", "v"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'a b'"), "{e}");
    }
}
