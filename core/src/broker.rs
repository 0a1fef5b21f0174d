//! The broker traits every backend implements, and the conveniences built on them.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::dead_letter::{self, DeadLetter, Depth, RedriveOptions, RedriveReport};
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::message::{Destination, Message, Source};
use crate::provision::ProvisionReport;
use crate::request::ReplyQueue;
use crate::topology::Topology;

/// Sends messages.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes one message; returns the broker's message id.
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String>;

    /// Publishes many messages; returns one outcome per message, in order.
    ///
    /// The outer error is a failure of the whole call before anything was sent (e.g. the
    /// destination does not exist); once an entry may have been sent, every failure is
    /// reported in its own slot, never swallowed, so that a caller retrying the failed
    /// entries does not duplicate the sent ones. The default publishes one by one;
    /// backends with a batch API override it.
    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            match self.publish(destination, message).await {
                Err(e) if out.is_empty() && e.is_not_found() => return Err(e),
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

    /// How many messages `source` holds: visible, in flight, delayed, as far as the
    /// backend knows (SQS approximates; memory is exact).
    async fn depth(&self, source: &Source) -> Result<Depth> {
        Err(Error::unsupported(format!(
            "depth of {source} on the {} backend",
            self.name()
        )))
    }

    /// Puts `message` on `source` itself: a queue, or one subscription only (never its
    /// topic, which would deliver it to every other subscription too). What a redrive
    /// does with a dead letter.
    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        let _ = message;
        Err(Error::unsupported(format!(
            "resubmitting to {source} on the {} backend",
            self.name()
        )))
    }

    /// Creates a reply queue of this requester's own (see [`Requester`](crate::request::Requester)):
    /// named recognisably, found and removed by the backend's clean-up if abandoned.
    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        Err(Error::unsupported(format!(
            "reply queues on the {} backend",
            self.name()
        )))
    }

    /// Deletes a reply queue made by [`create_reply_queue`](Broker::create_reply_queue).
    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        Err(Error::unsupported(format!(
            "deleting reply queue {} on the {} backend",
            queue.address,
            self.name()
        )))
    }

    /// Up to `max` messages of `source`'s dead-letter queue with their reasons, left in
    /// place (visible again at once).
    async fn peek_dead_letters(&self, source: &Source, max: usize) -> Result<Vec<DeadLetter>> {
        dead_letter::peek(self, source, max).await
    }

    /// Moves messages of `source`'s dead-letter queue back to `source` (send first, then
    /// delete: a crash duplicates, never loses).
    async fn redrive_dead_letters(
        &self,
        source: &Source,
        options: &RedriveOptions,
    ) -> Result<RedriveReport> {
        dead_letter::redrive(self, source, options).await
    }

    /// Deletes every message of `source`'s dead-letter queue; returns how many.
    async fn purge_dead_letters(&self, source: &Source) -> Result<u64> {
        dead_letter::purge(self, source).await
    }
}

/// What a backend can do natively. Requests beyond these fail with
/// [`Error::Unsupported`](crate::Error::Unsupported) or
/// [`Error::PayloadTooLarge`](crate::Error::PayloadTooLarge), never silently.
///
/// New capabilities may be added; a backend starts from [`Capabilities::new`] (nothing
/// beyond publish and receive) and sets what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Dropping a `receive` in flight takes nothing (memory): a stopping worker abandons
    /// its long poll at once. Where false (an SQS or Service Bus long poll goes on at the
    /// service and may take messages nobody will handle), a stopping worker lets its
    /// receive end and gives back at once what it brought.
    pub cancel_safe_receive: bool,
}

impl Capabilities {
    /// A backend that can publish and receive messages up to `max_message_size` bytes, and
    /// nothing more: no attribute limit, no delays, no FIFO, no dedup, no explicit
    /// dead-lettering, no delayed nack, no time to live, no lock extension, and a receive
    /// that must be allowed to end.
    pub fn new(max_message_size: usize) -> Self {
        Capabilities {
            max_message_size,
            max_attributes: None,
            max_delay: None,
            fifo: false,
            dedup: false,
            explicit_dead_letter: false,
            nack_delay: false,
            time_to_live: false,
            extend: false,
            cancel_safe_receive: false,
        }
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

    /// Publishes `data` as a new event of its [`EventType`]; returns the broker's message id.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use courier_core::prelude::*;
    /// #[derive(Serialize, Deserialize)]
    /// struct OrderShipped { order_id: String }
    /// courier_core::event_type!(OrderShipped);
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let broker = MemoryBroker::with_topology(&Topology::builder().topic("orders").build()?).await?;
    /// broker.publish_data(&Destination::topic("orders"), &OrderShipped { order_id: "o-1".into() }).await?;
    /// # Ok::<(), courier_core::Error>(())
    /// # }).unwrap();
    /// ```
    async fn publish_data<T: EventType>(
        &self,
        destination: &Destination,
        data: &T,
    ) -> Result<String> {
        let event = Event::new(T::SOURCE, T::TYPE, data);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use parking_lot::Mutex;

    /// Accepts `accept` messages, then answers that the destination is gone.
    struct Vanishing {
        accept: Mutex<usize>,
    }

    #[async_trait]
    impl Publisher for Vanishing {
        async fn publish(&self, destination: &Destination, _m: Message) -> Result<String> {
            let mut left = self.accept.lock();
            if *left == 0 {
                return Err(Error::not_found(destination.to_string()));
            }
            *left -= 1;
            Ok(format!("m-{left}"))
        }
    }

    #[tokio::test]
    async fn the_default_batch_fails_whole_only_before_anything_was_sent() {
        let dest = Destination::queue("q");
        let batch = || vec![Message::new("a"), Message::new("b"), Message::new("c")];
        let gone = Vanishing {
            accept: Mutex::new(0),
        };
        assert!(gone
            .publish_batch(&dest, batch())
            .await
            .unwrap_err()
            .is_not_found());

        let midway = Vanishing {
            accept: Mutex::new(1),
        };
        let results = midway.publish_batch(&dest, batch()).await.unwrap();
        assert!(results[0].is_ok(), "the sent entry is reported sent");
        assert!(results[1].as_ref().unwrap_err().is_not_found());
        assert!(results[2].as_ref().unwrap_err().is_not_found());
    }
}
