//! Where messages go ([`Destination`]), where they are read from ([`Source`]), and the
//! message itself ([`Message`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// Where a publisher sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A topic: every subscription whose filter matches gets a copy.
    Topic(String),
    /// A queue: point to point.
    Queue(String),
}

impl Destination {
    /// A topic destination.
    pub fn topic(name: impl Into<String>) -> Self {
        Destination::Topic(name.into())
    }

    /// A queue destination.
    pub fn queue(name: impl Into<String>) -> Self {
        Destination::Queue(name.into())
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Topic(name) => write!(f, "topic:{name}"),
            Destination::Queue(name) => write!(f, "queue:{name}"),
        }
    }
}

impl FromStr for Destination {
    type Err = Error;

    /// Parses `topic:NAME` or `queue:NAME`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.split_once(':') {
            Some(("topic", name)) if !name.is_empty() => Ok(Destination::topic(name)),
            Some(("queue", name)) if !name.is_empty() => Ok(Destination::queue(name)),
            _ => Err(Error::invalid_input(format!(
                "destination '{s}' is not 'topic:NAME' or 'queue:NAME'"
            ))),
        }
    }
}

/// The entity a [`Source`] reads from: a queue, or a subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A queue.
    Queue(String),
    /// A subscription of a topic.
    Subscription {
        /// The topic's name.
        topic: String,
        /// The subscription's name.
        name: String,
    },
}

/// Where a consumer reads: a queue or a subscription, or the dead-letter queue of one.
///
/// The dead-letter queue is a flag, not a nesting: a dead-letter queue has no
/// dead-letter queue of its own, and the type cannot say otherwise.
///
/// ```
/// use courier_core::{Entity, Source};
///
/// let inventory: Source = "subscription:orders/inventory".parse()?;
/// let dlq = inventory.dead_letter();
/// assert!(dlq.is_dead_letter());
/// assert_eq!(dlq.entity(), &Entity::Subscription { topic: "orders".into(), name: "inventory".into() });
/// assert_eq!(dlq.to_string(), "subscription:orders/inventory (dead-letter queue)");
/// assert_eq!(dlq.dead_letter_of(), Some(inventory));
/// # Ok::<(), courier_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    entity: Entity,
    dead_letter: bool,
}

impl Source {
    /// A queue source.
    pub fn queue(name: impl Into<String>) -> Self {
        Source {
            entity: Entity::Queue(name.into()),
            dead_letter: false,
        }
    }

    /// A subscription source.
    pub fn subscription(topic: impl Into<String>, name: impl Into<String>) -> Self {
        Source {
            entity: Entity::Subscription {
                topic: topic.into(),
                name: name.into(),
            },
            dead_letter: false,
        }
    }

    /// The dead-letter queue of this source (itself, when it is one already).
    pub fn dead_letter(&self) -> Self {
        Source {
            entity: self.entity.clone(),
            dead_letter: true,
        }
    }

    /// Whether this is a dead-letter queue.
    pub fn is_dead_letter(&self) -> bool {
        self.dead_letter
    }

    /// For a dead-letter source, the source it belongs to; `None` otherwise.
    pub fn dead_letter_of(&self) -> Option<Source> {
        self.dead_letter.then(|| self.main())
    }

    /// The queue or subscription itself, without the dead-letter flag.
    pub fn main(&self) -> Source {
        Source {
            entity: self.entity.clone(),
            dead_letter: false,
        }
    }

    /// The queue or subscription read from.
    pub fn entity(&self) -> &Entity {
        &self.entity
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entity {
            Entity::Queue(name) => write!(f, "queue:{name}")?,
            Entity::Subscription { topic, name } => write!(f, "subscription:{topic}/{name}")?,
        }
        if self.dead_letter {
            f.write_str(" (dead-letter queue)")?;
        }
        Ok(())
    }
}

impl FromStr for Source {
    type Err = Error;

    /// Parses `queue:NAME` or `subscription:TOPIC/NAME`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let parsed = match s.split_once(':') {
            Some(("queue", name)) if !name.is_empty() && !name.contains('/') => {
                Some(Source::queue(name))
            }
            Some(("subscription", rest)) => match rest.split_once('/') {
                Some((topic, name))
                    if !topic.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    Some(Source::subscription(topic, name))
                }
                _ => None,
            },
            _ => None,
        };
        parsed.ok_or_else(|| {
            Error::invalid_input(format!(
                "source '{s}' is not 'queue:NAME' or 'subscription:TOPIC/NAME'"
            ))
        })
    }
}

/// A message: what is published, and what a [`Delivery`](crate::Delivery) carries.
///
/// Attributes are string pairs carried beside the body (SQS message attributes, Service Bus
/// custom properties). Names starting with `ce_` and `courier_` are reserved for the
/// event codec and the brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The body bytes.
    pub body: Vec<u8>,
    /// MIME type of the body, e.g. `application/json`.
    pub content_type: Option<String>,
    /// String attributes carried beside the body.
    pub attributes: BTreeMap<String, String>,
    /// Application message id; events use their event id. On FIFO destinations it is the
    /// deduplication key when no `dedup_id` is given.
    pub message_id: Option<String>,
    /// Correlation id, for request/reply and tracing across services.
    pub correlation_id: Option<String>,
    /// Ordering key: on a FIFO destination messages of one group are delivered in order,
    /// one at a time. Required by FIFO destinations.
    pub group_id: Option<String>,
    /// Deduplication id for FIFO destinations.
    pub dedup_id: Option<String>,
    /// Deliver no earlier than this long after publishing.
    pub delay: Option<Duration>,
    /// Drop the message if not delivered within this time.
    pub time_to_live: Option<Duration>,
    /// Where replies should go.
    pub reply_to: Option<String>,
}

impl Message {
    /// A message with this body and nothing else set.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Message {
            body: body.into(),
            ..Message::default()
        }
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Sets the message id.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the ordering group (FIFO).
    pub fn with_group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// Sets the deduplication id (FIFO).
    pub fn with_dedup_id(mut self, id: impl Into<String>) -> Self {
        self.dedup_id = Some(id.into());
        self
    }

    /// Delays delivery.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sets the time to live.
    pub fn with_time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Sets where replies go.
    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Size as brokers count it: body plus attribute names and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_print() {
        let d: Destination = "topic:orders".parse().unwrap();
        assert_eq!(d, Destination::topic("orders"));
        assert_eq!(d.to_string(), "topic:orders");
        assert_eq!(
            "queue:audit".parse::<Destination>().unwrap(),
            Destination::queue("audit")
        );
        for bad in ["orders", "topic:", "bucket:x", ""] {
            let err = bad.parse::<Destination>().unwrap_err().to_string();
            assert!(err.contains("is not 'topic:NAME'"), "{bad}: {err}");
        }
    }

    #[test]
    fn sources_parse_and_print() {
        let s: Source = "subscription:orders/inventory".parse().unwrap();
        assert_eq!(s, Source::subscription("orders", "inventory"));
        assert_eq!(s.to_string(), "subscription:orders/inventory");
        assert_eq!(
            s.dead_letter().to_string(),
            "subscription:orders/inventory (dead-letter queue)"
        );
        assert_eq!(s.dead_letter().dead_letter_of(), Some(s.clone()));
        assert_eq!(s.dead_letter().dead_letter(), s.dead_letter(), "no nesting");
        for bad in [
            "subscription:orders",
            "subscription:/x",
            "queue:",
            "queue:a/b",
            "topic:x",
        ] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
    }

    #[test]
    fn size_counts_body_and_attributes() {
        let m = Message::new("hello").with_attribute("ab", "cd");
        assert_eq!(m.size(), 9);
    }
}
