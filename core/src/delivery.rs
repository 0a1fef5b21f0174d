//! A received message and its settlement.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::event::{self, Event};
use crate::message::{Message, Source};

/// What a backend does to settle one delivery. Backends implement it; users call the
/// methods on [`Delivery`].
#[async_trait]
pub trait Settle: Send + Sync {
    /// Removes the message from its queue.
    async fn ack(&self) -> Result<()>;
    /// Makes the message visible again after `after` (zero: at once).
    async fn nack(&self, after: Duration) -> Result<()>;
    /// Moves `message` (the delivered one) to the dead-letter queue, recording `reason`.
    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()>;
    /// Keeps the message invisible to other consumers for `by` from now.
    async fn extend(&self, by: Duration) -> Result<()>;
}

/// Broker metadata of a delivery.
#[derive(Debug, Clone)]
pub struct DeliveryInfo {
    /// Where it was received from.
    pub source: Source,
    /// The broker's id for the message.
    pub broker_message_id: String,
    /// How many times it has been delivered, this time included (1 on first delivery).
    pub delivery_count: u32,
    /// When the broker first enqueued it, if the broker says.
    pub enqueued_at: Option<SystemTime>,
    /// Until when this consumer holds it (visibility timeout / lock), if known.
    pub locked_until: Option<Instant>,
}

/// A received message, to be settled with [`ack`](Delivery::ack),
/// [`nack`](Delivery::nack) or [`dead_letter`](Delivery::dead_letter).
///
/// Settling consumes the delivery, so a delivery is settled at most once; a settlement
/// that fails hands the delivery back in its [`SettleError`], to retry or to drop. A
/// delivery dropped unsettled is not lost: it becomes visible again when its visibility
/// timeout or lock expires.
///
/// ```
/// use std::time::Duration;
/// use courier_core::{Broker, ConsumerExt, Destination, MemoryBroker, Message, Publisher, Source, Topology};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let broker = MemoryBroker::new();
/// broker.provision(&Topology::from_yaml("queues: [{name: audit}]", "inline")?).await?;
/// broker.publish(&Destination::queue("audit"), Message::new("hello")).await?;
/// let delivery = broker.receive_one(&Source::queue("audit"), Duration::from_secs(1)).await?.expect("a message");
/// assert_eq!(delivery.message().body, b"hello");
/// delivery.ack().await?; // consumed: it cannot be settled twice
/// # Ok::<(), courier_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Delivery {
    message: Arc<Message>,
    info: DeliveryInfo,
    settle: Box<dyn Settle>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A settlement that failed: the error, and the delivery handed back so that the
/// settlement can be retried (or the delivery dropped, to come back after its lock).
///
/// It converts into [`Error`], so `?` works in functions returning courier's `Result`.
pub struct SettleError {
    /// Why the settlement failed.
    pub error: Error,
    /// The delivery, still unsettled (boxed: it is large and the error path is rare).
    pub delivery: Box<Delivery>,
}

impl fmt::Debug for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettleError")
            .field("error", &self.error)
            .field("delivery", &self.delivery.info.broker_message_id)
            .finish()
    }
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for SettleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<SettleError> for Error {
    fn from(e: SettleError) -> Self {
        e.error
    }
}

impl Delivery {
    /// Assembles a delivery; called by backends. (A backend that keeps the message, like
    /// the in-memory one, passes an `Arc` and shares it instead of copying.)
    pub fn new(
        message: impl Into<Arc<Message>>,
        info: DeliveryInfo,
        settle: Box<dyn Settle>,
    ) -> Self {
        Delivery {
            message: message.into(),
            info,
            settle,
        }
    }

    /// The message as received (raw: body, attributes, ids).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The message, shared (cheap to clone; what a handler's [`Context`](crate::worker::Context) holds).
    pub fn shared_message(&self) -> &Arc<Message> {
        &self.message
    }

    /// Broker metadata.
    pub fn info(&self) -> &DeliveryInfo {
        &self.info
    }

    /// How many times it has been delivered, this time included.
    pub fn delivery_count(&self) -> u32 {
        self.info.delivery_count
    }

    /// The CloudEvents type, if the message is an event (binary or structured mode).
    pub fn event_type(&self) -> Option<Cow<'_, str>> {
        event::event_type(&self.message)
    }

    /// The event id, if the message is an event; never fails.
    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        event::head(&self.message).and_then(|h| h.id)
    }

    /// The body as text, whatever it holds (invalid UTF-8 shown as U+FFFD): for logs and
    /// dead-letter tooling, where a message that does not decode must still be shown.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.message.body)
    }

    /// Why the message was dead-lettered, if it was: courier's reason, or the broker's
    /// (e.g. Service Bus's `MaxDeliveryCountExceeded`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use courier_core::prelude::*;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let broker = MemoryBroker::with_topology(&Topology::builder().queue("audit").build()?).await?;
    /// broker.publish(&Destination::queue("audit"), Message::new("not json")).await?;
    /// let d = broker.receive_one(&Source::queue("audit"), Duration::from_secs(1)).await?.unwrap();
    /// d.dead_letter("cannot decode").await?;
    ///
    /// let dead = broker.receive_one(&Source::queue("audit").dead_letter(), Duration::from_secs(1)).await?.unwrap();
    /// assert_eq!(dead.dead_letter_reason(), Some("cannot decode"));
    /// assert!(dead.dead_lettered_at().is_some());
    /// assert_eq!(dead.body_text(), "not json");
    /// # Ok::<(), courier_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn dead_letter_reason(&self) -> Option<&str> {
        self.message
            .attributes
            .get(event::attr::DEAD_LETTER_REASON)
            .map(String::as_str)
    }

    /// When the message was dead-lettered, if courier recorded it (it does when it
    /// dead-letters on request; a broker's own redrive does not say).
    pub fn dead_lettered_at(&self) -> Option<SystemTime> {
        let at = self.message.attributes.get(event::attr::DEAD_LETTERED_AT)?;
        chrono::DateTime::parse_from_rfc3339(at)
            .ok()
            .map(SystemTime::from)
    }

    /// Decodes the message as an event with `T` data.
    pub fn event<T: DeserializeOwned>(&self) -> Result<Event<T>> {
        Event::from_message(&self.message)
    }

    /// The same delivery, settled through `wrap(its settlement)` (an instrumenting layer).
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn map_settle(self, wrap: impl FnOnce(Box<dyn Settle>) -> Box<dyn Settle>) -> Self {
        Delivery {
            message: self.message,
            info: self.info,
            settle: wrap(self.settle),
        }
    }

    fn handed_back(self, result: Result<()>) -> Result<(), SettleError> {
        result.map_err(|error| SettleError {
            error,
            delivery: Box::new(self),
        })
    }

    /// Acknowledges: the message is done and removed.
    pub async fn ack(self) -> Result<(), SettleError> {
        let result = self.settle.ack().await;
        self.handed_back(result)
    }

    /// Gives the message back, to be delivered again after `after`.
    ///
    /// Backends that cannot delay a redelivery answer [`Error::Unsupported`] for a non-zero
    /// `after` (see [`Capabilities::nack_delay`](crate::Capabilities::nack_delay)).
    pub async fn nack(self, after: Duration) -> Result<(), SettleError> {
        let result = self.settle.nack(after).await;
        self.handed_back(result)
    }

    /// Moves the message to its dead-letter queue with `reason`.
    pub async fn dead_letter(self, reason: &str) -> Result<(), SettleError> {
        let result = self.settle.dead_letter(&self.message, reason).await;
        self.handed_back(result)
    }

    /// Keeps the message from other consumers for `by` from now (a longer-running handler).
    pub async fn extend(&self, by: Duration) -> Result<()> {
        self.settle.extend(by).await
    }
}
