//! A received message and its settlement.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// A delivery dropped unsettled is not lost: it becomes visible again when its visibility
/// timeout or lock expires. After one successful settlement, further ones fail with
/// [`Error::AlreadySettled`]; a failed settlement can be retried.
pub struct Delivery {
    message: Message,
    info: DeliveryInfo,
    settle: Box<dyn Settle>,
    settled: AtomicBool,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("info", &self.info)
            .field("settled", &self.settled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Assembles a delivery; called by backends.
    pub fn new(message: Message, info: DeliveryInfo, settle: Box<dyn Settle>) -> Self {
        Delivery {
            message,
            info,
            settle,
            settled: AtomicBool::new(false),
        }
    }

    /// The message as received (raw: body, attributes, ids).
    pub fn message(&self) -> &Message {
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

    /// The CloudEvents type, if the message is a (binary mode) event.
    pub fn event_type(&self) -> Option<&str> {
        event::event_type(&self.message)
    }

    /// Decodes the message as an event with `T` data.
    pub fn event<T: DeserializeOwned>(&self) -> Result<Event<T>> {
        Event::from_message(&self.message)
    }

    /// Whether it has been settled.
    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_settled() {
            Err(Error::AlreadySettled)
        } else {
            Ok(())
        }
    }

    fn mark(&self, result: Result<()>) -> Result<()> {
        if result.is_ok() {
            self.settled.store(true, Ordering::Release);
        }
        result
    }

    /// Acknowledges: the message is done and removed.
    pub async fn ack(&self) -> Result<()> {
        self.check_open()?;
        self.mark(self.settle.ack().await)
    }

    /// Gives the message back, to be delivered again after `after`.
    ///
    /// Backends that cannot delay a redelivery answer [`Error::Unsupported`] for a non-zero
    /// `after` (see [`Capabilities::nack_delay`](crate::Capabilities::nack_delay)).
    pub async fn nack(&self, after: Duration) -> Result<()> {
        self.check_open()?;
        self.mark(self.settle.nack(after).await)
    }

    /// Moves the message to its dead-letter queue with `reason`.
    pub async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.check_open()?;
        self.mark(self.settle.dead_letter(&self.message, reason).await)
    }

    /// Keeps the message from other consumers for `by` from now (a longer-running handler).
    pub async fn extend(&self, by: Duration) -> Result<()> {
        self.check_open()?;
        self.settle.extend(by).await
    }
}
