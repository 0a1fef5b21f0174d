//! The broker traits every backend implements, and the conveniences built on them.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::message::{Destination, Message, Source};
use crate::topology::Topology;

/// Sends messages.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes one message; returns the broker's message id.
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String>;

    /// Publishes many messages; returns one outcome per message, in order.
    ///
    /// The outer error is a failure of the whole call (e.g. the destination does not
    /// exist); a failure of one entry is reported in its own slot, never swallowed.
    /// The default publishes one by one; backends with a batch API override it.
    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            match self.publish(destination, message).await {
                Err(e @ Error::NotFound { .. }) => return Err(e),
                other => out.push(other),
            }
        }
        Ok(out)
    }
}

/// Receives messages.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Receives up to `max` deliveries, waiting up to `wait` for the first one.
    ///
    /// Returns an empty vector when nothing arrived in time.
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>>;
}

/// A publisher and consumer with its capabilities and provisioning.
#[async_trait]
pub trait Broker: Publisher + Consumer {
    /// A short name of the backend, e.g. `memory`, `aws`, `azure`.
    fn name(&self) -> &str;

    /// What this backend can do natively.
    fn capabilities(&self) -> Capabilities;

    /// Creates what the topology names; running it again changes nothing.
    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport>;
}

/// What a backend can do natively. Requests beyond these fail with
/// [`Error::Unsupported`] or [`Error::PayloadTooLarge`], never silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Largest message (body plus attributes) in bytes.
    pub max_message_size: usize,
    /// Most attributes one message may carry (codec's included); `None`: no limit.
    pub max_attributes: Option<usize>,
    /// Longest delay of a message; `None`: delays are not supported.
    pub max_delay: Option<Duration>,
    /// FIFO topics and queues (ordering groups).
    pub fifo: bool,
    /// Deduplication on FIFO destinations.
    pub dedup: bool,
    /// `dead_letter(reason)` on a delivery.
    pub explicit_dead_letter: bool,
    /// `nack(after)` with a non-zero `after`.
    pub nack_delay: bool,
    /// Per-message time to live.
    pub time_to_live: bool,
    /// `extend(by)` on a delivery.
    pub extend: bool,
}

/// What happened to one entity during [`Broker::provision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionAction {
    /// It did not exist and was created.
    Created,
    /// It existed as asked.
    Unchanged,
    /// It existed with other settings and was updated; the text says what changed.
    Updated(String),
    /// It existed with other settings that cannot be changed in place; the text says which.
    Differs(String),
}

/// One line of a [`ProvisionReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedEntity {
    /// `topic`, `queue`, `subscription` or `dead-letter queue`.
    pub kind: &'static str,
    /// The entity's name as the backend knows it.
    pub name: String,
    /// What was done.
    pub action: ProvisionAction,
}

/// What [`Broker::provision`] did, entity by entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// One entry per entity, in creation order.
    pub entities: Vec<ProvisionedEntity>,
}

impl ProvisionReport {
    /// Records one entity.
    pub fn push(&mut self, kind: &'static str, name: impl Into<String>, action: ProvisionAction) {
        self.entities.push(ProvisionedEntity {
            kind,
            name: name.into(),
            action,
        });
    }

    /// How many entities got this action (compared by variant).
    pub fn count(&self, action: &ProvisionAction) -> usize {
        self.entities
            .iter()
            .filter(|e| std::mem::discriminant(&e.action) == std::mem::discriminant(action))
            .count()
    }

    /// Whether nothing was created or updated.
    pub fn is_unchanged(&self) -> bool {
        self.entities
            .iter()
            .all(|e| e.action == ProvisionAction::Unchanged)
    }
}

impl fmt::Display for ProvisionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entities {
            let action = match &e.action {
                ProvisionAction::Created => "created".to_owned(),
                ProvisionAction::Unchanged => "unchanged".to_owned(),
                ProvisionAction::Updated(what) => format!("updated ({what})"),
                ProvisionAction::Differs(what) => format!("DIFFERS, left as is ({what})"),
            };
            writeln!(f, "{:<18} {:<40} {action}", e.kind, e.name)?;
        }
        Ok(())
    }
}

/// Conveniences for every [`Publisher`].
#[async_trait]
pub trait PublisherExt: Publisher {
    /// Encodes and publishes an event; returns the broker's message id.
    async fn publish_event<T: Serialize + Sync>(
        &self,
        destination: &Destination,
        event: &Event<T>,
    ) -> Result<String> {
        self.publish(destination, event.to_message()?).await
    }

    /// Encodes and publishes many events in batches.
    async fn publish_events<T: Serialize + Sync>(
        &self,
        destination: &Destination,
        events: &[Event<T>],
    ) -> Result<Vec<Result<String>>> {
        let messages = events
            .iter()
            .map(Event::to_message)
            .collect::<Result<Vec<_>>>()?;
        self.publish_batch(destination, messages).await
    }
}

impl<P: Publisher + ?Sized> PublisherExt for P {}

/// Conveniences for every [`Consumer`].
#[async_trait]
pub trait ConsumerExt: Consumer {
    /// Receives one delivery, waiting up to `wait`.
    async fn receive_one(&self, source: &Source, wait: Duration) -> Result<Option<Delivery>> {
        Ok(self.receive(source, 1, wait).await?.into_iter().next())
    }
}

impl<C: Consumer + ?Sized> ConsumerExt for C {}
