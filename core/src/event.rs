//! Integration events in the CloudEvents 1.0 model, and the one codec between
//! [`Event<T>`] and [`Message`] that every backend uses.
//!
//! An event travels in CloudEvents *binary content mode*: the body is the event's `data`
//! (JSON), the context attributes travel as message attributes named `ce_<attribute>`
//! (`ce_id`, `ce_source`, `ce_type`, `ce_specversion`, `ce_subject`, `ce_time`), and W3C
//! trace context as `traceparent` / `tracestate`. Foreign producers that cannot set
//! attributes may send *structured mode* instead (a JSON body with `specversion`, `id`,
//! `type`, … and `data`); [`Event::from_message`] reads both.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::message::Message;

/// The CloudEvents spec version courier writes.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of structured-mode CloudEvents.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// Attribute names the codec writes and reads.
pub mod attr {
    /// Event id.
    pub const ID: &str = "ce_id";
    /// Event source (URI reference).
    pub const SOURCE: &str = "ce_source";
    /// Event type, e.g. `OrderCreated`.
    pub const TYPE: &str = "ce_type";
    /// CloudEvents spec version.
    pub const SPEC_VERSION: &str = "ce_specversion";
    /// Event subject.
    pub const SUBJECT: &str = "ce_subject";
    /// Event time, RFC 3339.
    pub const TIME: &str = "ce_time";
    /// W3C trace context: `traceparent`.
    pub const TRACEPARENT: &str = "traceparent";
    /// W3C trace context: `tracestate`.
    pub const TRACESTATE: &str = "tracestate";
    /// Prefix reserved for the event codec.
    pub const CE_PREFIX: &str = "ce_";
    /// Prefix reserved for broker metadata (e.g. the dead-letter reason).
    pub const COURIER_PREFIX: &str = "courier_";
    /// Why a message was dead-lettered.
    pub const DEAD_LETTER_REASON: &str = "courier_dead_letter_reason";
    /// The source a dead-lettered message came from.
    pub const DEAD_LETTER_SOURCE: &str = "courier_dead_letter_source";
    /// When a message was dead-lettered, RFC 3339.
    pub const DEAD_LETTERED_AT: &str = "courier_dead_lettered_at";

    /// The value of [`DEAD_LETTERED_AT`] for a message dead-lettered now: RFC 3339, UTC,
    /// milliseconds.
    pub fn dead_lettered_now() -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Whether a name is reserved for courier (codec or broker metadata).
    pub fn is_reserved(name: &str) -> bool {
        name.starts_with(CE_PREFIX)
            || name.starts_with(COURIER_PREFIX)
            || name == TRACEPARENT
            || name == TRACESTATE
    }

    /// Maps a filter key as written in a topology (`type`, `source`, `subject`, or a user
    /// attribute name) to the attribute it tests.
    pub fn for_filter_key(key: &str) -> String {
        match key {
            "type" => TYPE.to_owned(),
            "source" => SOURCE.to_owned(),
            "subject" => SUBJECT.to_owned(),
            other => other.to_owned(),
        }
    }
}

/// An integration event: CloudEvents 1.0 context plus typed `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<T> {
    /// Unique id of this event; consumers use it for idempotency.
    pub id: String,
    /// Who emitted it, as a URI reference, e.g. `/shop/checkout`.
    pub source: String,
    /// What happened, e.g. `OrderCreated`.
    #[serde(rename = "type")]
    pub ty: String,
    /// What it happened to, e.g. an order id.
    pub subject: Option<String>,
    /// When it happened.
    pub time: Option<DateTime<Utc>>,
    /// Content type of `data`; courier writes `application/json`.
    pub datacontenttype: Option<String>,
    /// The payload.
    pub data: T,
    /// W3C `traceparent` of the trace this event belongs to.
    pub traceparent: Option<String>,
    /// W3C `tracestate`.
    pub tracestate: Option<String>,
    /// User attributes, carried as message attributes (filterable by subscriptions).
    pub attributes: BTreeMap<String, String>,
}

impl<T> Event<T> {
    /// A new event with a random id, the current time and JSON data.
    pub fn new(source: impl Into<String>, ty: impl Into<String>, data: T) -> Self {
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            source: source.into(),
            ty: ty.into(),
            subject: None,
            time: Some(Utc::now()),
            datacontenttype: Some("application/json".to_owned()),
            data,
            traceparent: None,
            tracestate: None,
            attributes: BTreeMap::new(),
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the W3C trace context.
    pub fn with_trace(
        mut self,
        traceparent: impl Into<String>,
        tracestate: Option<String>,
    ) -> Self {
        self.traceparent = Some(traceparent.into());
        self.tracestate = tracestate;
        self
    }

    /// Adds a user attribute (names starting with `ce_`/`courier_` are refused when encoding).
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

/// A Rust type that is the data of one kind of integration event. It names its event type
/// once, so publishing ([`PublisherExt::publish_data`](crate::PublisherExt::publish_data)),
/// routing ([`Worker::on`](crate::worker::Worker::on)) and the topology's filters cannot
/// disagree on a string. [`event_type!`](crate::event_type) implements it.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use courier_core::event::EventType;
/// use courier_core::Event;
///
/// #[derive(Serialize, Deserialize)]
/// struct OrderShipped { order_id: String }
/// courier_core::event_type!(OrderShipped);
///
/// assert_eq!(OrderShipped::TYPE, "OrderShipped");
/// let event = Event::from(OrderShipped { order_id: "o-1".into() });
/// assert_eq!(event.ty, "OrderShipped");
/// ```
pub trait EventType: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The CloudEvents `type`, e.g. `OrderShipped`.
    const TYPE: &'static str;
    /// The CloudEvents `source` of events made with `Event::from(data)`.
    const SOURCE: &'static str = "/courier";
}

/// Implements [`EventType`] for a type: `event_type!(OrderShipped)` names the event type
/// after the Rust type; `event_type!(OrderShipped, "shop.order.shipped")` names it
/// explicitly. The event source is `/` followed by the name of the crate that calls it.
#[macro_export]
macro_rules! event_type {
    ($ty:ident) => {
        $crate::event_type!($ty, stringify!($ty));
    };
    ($ty:ty, $name:expr) => {
        impl $crate::event::EventType for $ty {
            const TYPE: &'static str = $name;
            const SOURCE: &'static str = concat!("/", env!("CARGO_PKG_NAME"));
        }
    };
}

impl<T: EventType> From<T> for Event<T> {
    /// A new event of `T`'s type and source, with a random id and the current time.
    fn from(data: T) -> Self {
        Event::new(T::SOURCE, T::TYPE, data)
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence == "application/json" || essence.ends_with("+json")
        }
    }
}

impl<T: Serialize> Event<T> {
    /// Encodes this event as a message in binary content mode.
    ///
    /// The message id is the event id, so FIFO destinations deduplicate by event id.
    pub fn to_message(&self) -> Result<Message> {
        for (name, value) in [
            ("id", &self.id),
            ("source", &self.source),
            ("type", &self.ty),
        ] {
            if value.is_empty() {
                return Err(Error::invalid_input(format!("event {name} is empty")));
            }
        }
        if let Some(name) = self.attributes.keys().find(|k| attr::is_reserved(k)) {
            return Err(Error::invalid_input(format!(
                "event attribute '{name}' uses a reserved name (ce_*, courier_*, traceparent, tracestate)"
            )));
        }
        let content_type = self
            .datacontenttype
            .clone()
            .unwrap_or_else(|| "application/json".to_owned());
        if !is_json(Some(&content_type)) {
            return Err(Error::unsupported(format!(
                "event data content type '{content_type}': typed events are encoded as JSON"
            )));
        }
        let body = serde_json::to_vec(&self.data).map_err(|e| Error::InvalidInput {
            message: format!("event data of '{}' does not serialize", self.ty),
            source: Some(Box::new(e)),
        })?;
        let mut m = Message::new(body)
            .with_content_type(content_type)
            .with_message_id(self.id.clone())
            .with_attribute(attr::ID, &self.id)
            .with_attribute(attr::SOURCE, &self.source)
            .with_attribute(attr::TYPE, &self.ty)
            .with_attribute(attr::SPEC_VERSION, SPEC_VERSION);
        if let Some(subject) = &self.subject {
            m = m.with_attribute(attr::SUBJECT, subject);
        }
        if let Some(time) = &self.time {
            m = m.with_attribute(
                attr::TIME,
                time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            );
        }
        if let Some(tp) = &self.traceparent {
            m = m.with_attribute(attr::TRACEPARENT, tp);
        }
        if let Some(ts) = &self.tracestate {
            m = m.with_attribute(attr::TRACESTATE, ts);
        }
        m.attributes
            .extend(self.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(m)
    }
}

/// What a consumer needs of an event before it decodes the data: its type (to route),
/// and its source and id (to deduplicate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHead<'a> {
    /// The event type.
    pub ty: Cow<'a, str>,
    /// The event source, if present.
    pub source: Option<Cow<'a, str>>,
    /// The event id, if present.
    pub id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StructuredHead {
    specversion: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// The head of the event a message carries, in binary mode (the `ce_type`, `ce_source`
/// and `ce_id` attributes, borrowed) or structured mode (read from the JSON body); `None`
/// when the message is not a CloudEvent.
pub fn head(message: &Message) -> Option<EventHead<'_>> {
    if let Some(ty) = message.attributes.get(attr::TYPE) {
        let get = |name| {
            message
                .attributes
                .get(name)
                .map(|v| Cow::Borrowed(v.as_str()))
        };
        return Some(EventHead {
            ty: Cow::Borrowed(ty),
            source: get(attr::SOURCE),
            id: get(attr::ID),
        });
    }
    if !may_be_structured(message) {
        return None;
    }
    let h: StructuredHead = serde_json::from_slice(&message.body).ok()?;
    h.specversion.starts_with("1.").then_some(EventHead {
        ty: Cow::Owned(h.ty),
        source: h.source.map(Cow::Owned),
        id: h.id.map(Cow::Owned),
    })
}

/// The event type of a message, if it is a CloudEvent (binary or structured mode).
pub fn event_type(message: &Message) -> Option<Cow<'_, str>> {
    head(message).map(|h| h.ty)
}

fn may_be_structured(m: &Message) -> bool {
    let structured_ct = m
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(STRUCTURED_CONTENT_TYPE));
    (structured_ct || is_json(m.content_type.as_deref()))
        && m.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

impl<T: DeserializeOwned> Event<T> {
    /// Decodes an event from a message in binary or structured content mode.
    ///
    /// Fails with [`Error::Decode`] when the message is not a CloudEvent or its data is not
    /// a `T`; the message itself is still available as a raw delivery.
    pub fn from_message(message: &Message) -> Result<Self> {
        if message.attributes.contains_key(attr::TYPE) {
            Self::from_binary(message)
        } else {
            Self::from_structured(message)
        }
    }

    fn from_binary(m: &Message) -> Result<Self> {
        let get = |name: &str| m.attributes.get(name).cloned();
        let required = |name: &str| {
            get(name)
                .ok_or_else(|| Error::decode(format!("CloudEvent attribute '{name}' is missing")))
        };
        let spec = required(attr::SPEC_VERSION)?;
        if !spec.starts_with("1.") {
            return Err(Error::decode(format!(
                "unsupported CloudEvents specversion '{spec}'"
            )));
        }
        let ty = required(attr::TYPE)?;
        let time = match get(attr::TIME) {
            Some(t) => Some(parse_time(&t)?),
            None => None,
        };
        let data = decode_data(&ty, m.content_type.as_deref(), &m.body)?;
        Ok(Event {
            id: required(attr::ID)?,
            source: required(attr::SOURCE)?,
            subject: get(attr::SUBJECT),
            time,
            datacontenttype: m.content_type.clone(),
            data,
            traceparent: get(attr::TRACEPARENT),
            tracestate: get(attr::TRACESTATE),
            attributes: m
                .attributes
                .iter()
                .filter(|(k, _)| !attr::is_reserved(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ty,
        })
    }

    fn from_structured(m: &Message) -> Result<Self> {
        let not_event = || {
            Error::decode("not a CloudEvent: no ce_type attribute and the body is not a structured CloudEvent")
        };
        if !may_be_structured(m) {
            return Err(not_event());
        }
        let mut doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&m.body).map_err(|_| not_event())?;
        if !doc.contains_key("specversion") {
            return Err(not_event());
        }
        let mut take_str = |name: &str| -> Result<Option<String>> {
            match doc.remove(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::decode(format!(
                    "CloudEvent attribute '{name}' is not a string"
                ))),
            }
        };
        let spec = take_str("specversion")?.unwrap_or_default();
        if !spec.starts_with("1.") {
            return Err(Error::decode(format!(
                "unsupported CloudEvents specversion '{spec}'"
            )));
        }
        let require = |v: Option<String>, name: &str| {
            v.ok_or_else(|| Error::decode(format!("CloudEvent attribute '{name}' is missing")))
        };
        let id = require(take_str("id")?, "id")?;
        let source = require(take_str("source")?, "source")?;
        let ty = require(take_str("type")?, "type")?;
        let subject = take_str("subject")?;
        let time = take_str("time")?.map(|t| parse_time(&t)).transpose()?;
        let datacontenttype = take_str("datacontenttype")?;
        let traceparent = take_str("traceparent")?;
        let tracestate = take_str("tracestate")?;
        let data_value = doc.remove("data").unwrap_or(serde_json::Value::Null);
        let data = serde_json::from_value(data_value).map_err(|e| Error::Decode {
            message: format!("data of event type '{ty}' does not match the expected shape"),
            source: Some(Box::new(e)),
        })?;
        let attributes = doc
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                serde_json::Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect();
        Ok(Event {
            id,
            source,
            ty,
            subject,
            time,
            datacontenttype,
            data,
            traceparent,
            tracestate,
            attributes,
        })
    }
}

fn parse_time(t: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| Error::Decode {
            message: format!("CloudEvent time '{t}' is not RFC 3339"),
            source: Some(Box::new(e)),
        })
}

fn decode_data<T: DeserializeOwned>(
    ty: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T> {
    let shape_error = |e: serde_json::Error| Error::Decode {
        message: format!("data of event type '{ty}' does not match the expected shape"),
        source: Some(Box::new(e)),
    };
    if is_json(content_type) {
        return serde_json::from_slice(body).map_err(shape_error);
    }
    // A text body can still decode into a string-like `T`.
    let text = std::str::from_utf8(body).map_err(|_| {
        Error::decode(format!(
            "data of event type '{ty}' has content type '{}' and is not UTF-8",
            content_type.unwrap_or_default()
        ))
    })?;
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(shape_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct OrderCreated {
        order_id: String,
        total_cents: u64,
    }

    fn order() -> Event<OrderCreated> {
        Event::new(
            "/shop/checkout",
            "OrderCreated",
            OrderCreated {
                order_id: "o-1".into(),
                total_cents: 1299,
            },
        )
        .with_subject("o-1")
        .with_trace(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("k=v".into()),
        )
        .with_attribute("region", "eu")
    }

    #[test]
    fn binary_round_trip_keeps_every_field() {
        let e = order();
        let m = e.to_message().unwrap();
        assert_eq!(m.attributes[attr::TYPE], "OrderCreated");
        assert_eq!(m.attributes[attr::SPEC_VERSION], "1.0");
        assert_eq!(m.message_id.as_deref(), Some(e.id.as_str()));
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        let back: Event<OrderCreated> = Event::from_message(&m).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn reserved_attribute_names_are_refused() {
        let e = order().with_attribute("ce_type", "x");
        let err = e.to_message().unwrap_err().to_string();
        assert!(err.contains("'ce_type' uses a reserved name"), "{err}");
    }

    #[test]
    fn structured_mode_is_read() {
        let body = serde_json::json!({
            "specversion": "1.0", "id": "e-9", "source": "/legacy", "type": "OrderCreated",
            "time": "2026-11-26T10:00:00Z", "tenant": "acme",
            "data": {"order_id": "o-9", "total_cents": 5}
        });
        let m = Message::new(serde_json::to_vec(&body).unwrap())
            .with_content_type(STRUCTURED_CONTENT_TYPE);
        let e: Event<OrderCreated> = Event::from_message(&m).unwrap();
        assert_eq!(e.id, "e-9");
        assert_eq!(e.data.order_id, "o-9");
        assert_eq!(e.attributes["tenant"], "acme");
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-11-26T10:00:00+00:00");
        let h = head(&m).expect("a structured event has a head");
        assert_eq!(
            (h.ty.as_ref(), h.source.as_deref(), h.id.as_deref()),
            ("OrderCreated", Some("/legacy"), Some("e-9")),
            "routed and deduplicated on the decoded event, not only on ce_type"
        );
        let plain_json = Message::new(r#"{"type":"OrderCreated"}"#);
        assert_eq!(head(&plain_json), None, "no specversion: not an event");
        assert_eq!(head(&Message::new(vec![0xff, 0x00])), None);
    }

    #[test]
    fn foreign_messages_are_decode_errors_not_panics() {
        for m in [
            Message::new("plain text").with_content_type("text/plain"),
            Message::new(r#"{"order_id":"x"}"#),
            Message::new(vec![0xff, 0xfe]),
        ] {
            let err = Event::<OrderCreated>::from_message(&m).unwrap_err();
            assert!(matches!(err, Error::Decode { .. }), "{err}");
        }
    }

    #[test]
    fn wrong_data_shape_names_the_type() {
        let mut m = order().to_message().unwrap();
        m.body = br#"{"order_id": 5}"#.to_vec();
        let err = Event::<OrderCreated>::from_message(&m).unwrap_err();
        assert!(
            err.to_string().contains("'OrderCreated' does not match"),
            "{err}"
        );
    }

    #[test]
    fn text_data_decodes_into_strings() {
        let mut m = Event::new("/s", "Note", "hello".to_owned())
            .to_message()
            .unwrap();
        m.body = b"hello".to_vec();
        m.content_type = Some("text/plain".into());
        let e: Event<String> = Event::from_message(&m).unwrap();
        assert_eq!(e.data, "hello");
    }
}
