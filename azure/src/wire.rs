//! How a courier [`Message`] travels over the Service Bus REST protocol.
//!
//! - **Attributes** are custom properties ("Message Headers and Properties"): each one a
//!   string under its name, and one that is a number also a `Double` under
//!   `courier_num_<name>` (its numeric shadow), so that subscription SQL filters compare
//!   strings with strings and numbers with numbers, whatever the values look like; a
//!   receiver removes the shadows. A single message carries them as headers, a quoted
//!   string's content taken as is; a value a header cannot carry (not ASCII) makes the
//!   message travel as a one-message batch, whose JSON carries any string.
//! - **Metadata** the REST protocol has no place for (the content type: "Send Message
//!   Batch" has no per-message content type, so neither form sets one; the exact attribute
//!   names, which HTTP folds to lower case; the ordering group; whether the body is base64)
//!   travels in one string property, [`PACK_PROPERTY`], which a courier receiver prefers.
//! - **Ids**: `MessageId`, `CorrelationId`, `ReplyTo` are broker properties; the event
//!   type is also the `Label`.
//! - **Bodies** are bytes on receive; a body that is not UTF-8 is sent as base64 (a batch
//!   carries text).
//!
//! - **Address**: a redrive to one subscription sends to the topic with the property
//!   [`ADDRESS_PROPERTY`] (see [`crate::sql`]); a receiver removes it, so a handler never
//!   sees it and a message redriven again is addressed afresh.
//!
//! Single and batch sends therefore put the same message on the service.

use std::collections::BTreeMap;
use std::time::Duration;

use courier_core::event::attr;
use courier_core::wire::{body_from_wire, body_to_wire, Packed};
use courier_core::{Error, Message, Result};
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::broker_properties::{ascii_json, ReceivedProperties};
use crate::http_date;
use crate::properties::{
    attribute_properties, is_numeric_shadow, read_header, PropertyValue, NUMERIC_PREFIX,
};
use crate::sql::{self, ADDRESS_PROPERTY};

/// The property holding the exact attributes and metadata.
pub const PACK_PROPERTY: &str = courier_core::wire::PACK_ATTRIBUTE;
/// Service Bus Standard's largest message: 256 KiB, body and properties.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Application properties the service itself sets on a dead-lettered message.
const DEAD_LETTER_REASON: &str = "deadletterreason";
const DEAD_LETTER_DESCRIPTION: &str = "deadlettererrordescription";

/// Header names that are HTTP or protocol plumbing, never custom properties ("Any
/// property name that corresponds to the restricted HTTP header … is also excluded").
const PLUMBING: &[&str] = &[
    "accept",
    "accept-encoding",
    "authorization",
    "brokerproperties",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "expect",
    "host",
    "if-match",
    "keep-alive",
    "location",
    "pragma",
    "server",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
];

fn is_plumbing(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PLUMBING.contains(&lower.as_str()) || lower.starts_with("x-ms-")
}

/// A message as Service Bus will hold it: broker properties, typed custom properties and
/// the body as text.
#[derive(Debug, Clone)]
pub(crate) struct ServiceBusMessage {
    pub(crate) body: String,
    pub(crate) message_id: String,
    correlation_id: Option<String>,
    reply_to: Option<String>,
    label: Option<String>,
    time_to_live: Option<Duration>,
    delay: Option<Duration>,
    properties: Vec<(String, PropertyValue)>,
}

fn check_names(m: &Message) -> Result<()> {
    let mut seen = BTreeMap::new();
    for name in m.attributes.keys() {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid {
            return Err(Error::invalid_input(format!(
                "attribute name '{name}' cannot be a Service Bus property (letters, digits, '_', '-', '.')"
            )));
        }
        if name.eq_ignore_ascii_case(PACK_PROPERTY) {
            return Err(Error::invalid_input(format!(
                "attribute name '{name}' is the property courier packs its metadata in"
            )));
        }
        if name.eq_ignore_ascii_case(ADDRESS_PROPERTY) {
            return Err(Error::invalid_input(format!(
                "attribute name '{name}' is the property courier addresses redriven messages with"
            )));
        }
        if is_numeric_shadow(name) {
            return Err(Error::invalid_input(format!(
                "attribute name '{name}' starts with '{NUMERIC_PREFIX}', which courier reserves for the numeric copies of attributes that filters compare as numbers"
            )));
        }
        if let Some(other) = seen.insert(name.to_ascii_lowercase(), name) {
            return Err(Error::invalid_input(format!(
                "attributes '{other}' and '{name}' differ only in case: Service Bus property names are case-insensitive"
            )));
        }
    }
    Ok(())
}

impl ServiceBusMessage {
    /// Encodes `m`, refusing what cannot travel (bad names, too large); `to_subscription`
    /// addresses it to that one subscription of the topic it is sent to.
    pub(crate) fn encode(m: &Message, to_subscription: Option<&str>) -> Result<Self> {
        check_names(m)?;
        let (body, base64) = body_to_wire(&m.body, |_| true);
        let pack = Packed {
            attrs: m.attributes.clone(),
            content_type: m.content_type.clone(),
            group_id: m.group_id.clone(),
            base64,
            ..Packed::default()
        };
        let mut properties: Vec<(String, PropertyValue)> = m
            .attributes
            .iter()
            .flat_map(|(k, v)| attribute_properties(k, v))
            .collect();
        if !pack.is_empty() {
            let packed = serde_json::to_value(&pack).map_err(|e| Error::InvalidInput {
                message: "cannot pack message metadata".into(),
                source: Some(Box::new(e)),
            })?;
            properties.push((
                PACK_PROPERTY.to_owned(),
                PropertyValue::Text(ascii_json(&packed)),
            ));
        }
        if let Some(subscription) = to_subscription {
            properties.push((
                ADDRESS_PROPERTY.to_owned(),
                PropertyValue::Text(sql::address(subscription)),
            ));
        }
        let out = ServiceBusMessage {
            body,
            message_id: m
                .message_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            correlation_id: m.correlation_id.clone(),
            reply_to: m.reply_to.clone(),
            label: m.attributes.get(attr::TYPE).cloned(),
            time_to_live: m.time_to_live,
            delay: m.delay.filter(|d| !d.is_zero()),
            properties,
        };
        let size = out.size();
        if size > MAX_MESSAGE_SIZE {
            return Err(Error::PayloadTooLarge {
                size,
                limit: MAX_MESSAGE_SIZE,
            });
        }
        Ok(out)
    }

    /// Size as Service Bus counts it: the body, and the names and values of the custom and
    /// broker properties.
    pub(crate) fn size(&self) -> usize {
        let properties: usize = self
            .properties
            .iter()
            .map(|(k, v)| k.len() + v.size())
            .sum();
        let broker = self.message_id.len()
            + [&self.correlation_id, &self.reply_to, &self.label]
                .iter()
                .filter_map(|v| v.as_ref().map(String::len))
                .sum::<usize>();
        self.body.len() + properties + broker
    }

    /// The `BrokerProperties` object, with the scheduled time counted from `now`.
    pub(crate) fn broker_properties(&self, now: OffsetDateTime) -> Value {
        let mut props = Map::new();
        props.insert("MessageId".into(), json!(self.message_id));
        for (key, value) in [
            ("CorrelationId", &self.correlation_id),
            ("Label", &self.label),
            ("ReplyTo", &self.reply_to),
        ] {
            if let Some(v) = value {
                props.insert(key.into(), json!(v));
            }
        }
        if let Some(ttl) = self.time_to_live {
            // "BrokerProperties {TimeToLive} is the number of seconds of the TimeSpan (double)".
            props.insert("TimeToLive".into(), json!(ttl.as_secs_f64()));
        }
        if let Some(delay) = self.delay {
            props.insert(
                "ScheduledEnqueueTimeUtc".into(),
                json!(http_date::format(scheduled_at(now, delay))),
            );
        }
        Value::Object(props)
    }

    /// The headers of "Send Message", or `None` when a property cannot travel as one
    /// (then the message goes as a batch of one).
    pub(crate) fn headers(&self, now: OffsetDateTime) -> Option<Vec<(String, String)>> {
        let mut headers = Vec::with_capacity(self.properties.len() + 1);
        headers.push((
            "brokerproperties".to_owned(),
            ascii_json(&self.broker_properties(now)),
        ));
        for (name, value) in &self.properties {
            if is_plumbing(name) {
                return None;
            }
            headers.push((name.clone(), value.header()?));
        }
        Some(headers)
    }

    /// The entry of a "Send Message Batch" body.
    pub(crate) fn batch_entry(&self, now: OffsetDateTime) -> Value {
        let user: Map<String, Value> = self
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.json()))
            .collect();
        json!({
            "Body": self.body,
            "BrokerProperties": self.broker_properties(now),
            "UserProperties": user,
        })
    }
}

/// When to enqueue a message delayed by `delay` from `now`: the date form has whole
/// seconds, so round up and add one, never early.
fn scheduled_at(now: OffsetDateTime, delay: Duration) -> OffsetDateTime {
    let secs = courier_core::duration::whole_seconds_up(delay).min(i64::MAX as u64 / 2);
    now.replace_nanosecond(0).unwrap_or(now)
        + time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2) + 1)
}

/// The message of a received body, response headers and broker properties. Never fails:
/// a message that is not courier's keeps its custom properties as attributes and its body
/// as the bytes it came with.
pub(crate) fn decode(body: Vec<u8>, headers: &HeaderMap, broker: &ReceivedProperties) -> Message {
    let mut properties: BTreeMap<String, String> = headers
        .iter()
        .filter(|(name, _)| !is_plumbing(name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), read_header(value.as_bytes())))
        .collect();
    // Addressed by a redrive: for the rules, not for the handler.
    properties.remove(ADDRESS_PROPERTY);
    // Numeric shadows of attributes: for the rules too.
    properties.retain(|name, _| !is_numeric_shadow(name));
    // The service sets these as application properties when it dead-letters a message.
    let reason = properties
        .remove(DEAD_LETTER_REASON)
        .or_else(|| broker.dead_letter_reason.clone());
    let description = properties
        .remove(DEAD_LETTER_DESCRIPTION)
        .or_else(|| broker.dead_letter_description.clone());
    let pack = properties
        .get(PACK_PROPERTY)
        .and_then(|json| Packed::unpack(json));
    let mut m = Message::default();
    match pack {
        Some(pack) => {
            m.body = match String::from_utf8(body) {
                Ok(text) => body_from_wire(text, pack.base64),
                Err(bytes) => bytes.into_bytes(),
            };
            m.attributes = pack.attrs;
            m.content_type = pack.content_type;
            m.group_id = pack.group_id;
        }
        None => {
            m.body = body;
            m.content_type = headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            m.attributes = properties;
        }
    }
    m.message_id = broker.message_id.clone();
    m.correlation_id = broker.correlation_id.clone();
    m.reply_to = broker.reply_to.clone();
    if let Some(reason) = reason {
        let text = match description.filter(|d| !d.is_empty()) {
            Some(d) => format!("{reason}: {d}"),
            None => reason,
        };
        m.attributes.insert(attr::DEAD_LETTER_REASON.into(), text);
    }
    m
}

#[cfg(test)]
mod tests;
