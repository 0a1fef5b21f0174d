//! The in-memory broker: real queue semantics inside one process, for tests and the demo.
//!
//! It honours what the cloud backends do: topic fan-out through filtered subscriptions,
//! visibility timeouts and redelivery with delivery counts, dead-lettering after
//! `max_receive_count` and on request (reason kept in the `courier_dead_letter_reason`
//! attribute), `nack(after)`, delay, time to live, FIFO groups with a five-minute
//! deduplication window. As on SQS FIFO, one receive may hand out several messages of a
//! group, in order, and the group is blocked while any of its messages is held: the
//! consumer handles them one after another (the [`worker`](crate::worker) does).
//! State lives only as long as the broker.
//!
//! Each queue has its own lock, so publishers, receivers and settlements of different
//! queues do not wait for each other; the map of queues is read-locked only to find one.

mod provision;
mod queue;
mod settle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use tokio::time::Instant;

use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::dead_letter::Depth;
use crate::delivery::{Delivery, DeliveryInfo};
use crate::error::{Error, Result};
use crate::message::{Destination, Entity, Message, Source};
use crate::provision::ProvisionReport;
use crate::request::ReplyQueue;
use crate::topology::{TopicSpec, Topology};

use queue::{QueueState, Stored};
use settle::MemorySettle;

/// Largest message the memory broker accepts: 1 MiB, as SQS.
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Longest delay the memory broker accepts: one year.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// One queue (or a subscription's queue, or a dead-letter queue) behind its own lock.
pub(crate) type QueueRef = Arc<Mutex<QueueState>>;

#[derive(Debug)]
struct TopicState {
    spec: TopicSpec,
    /// The subscriptions' queues, in provisioning order.
    subscriptions: Vec<(String, QueueRef)>,
    dedup: Mutex<queue::DedupWindow>,
}

#[derive(Debug, Default)]
struct State {
    /// Topics, each with its subscriptions' queues.
    topics: HashMap<String, TopicState>,
    /// Queues by name.
    queues: HashMap<String, QueueRef>,
}

impl State {
    fn queue(&self, entity: &Entity) -> Option<&QueueRef> {
        match entity {
            Entity::Queue(name) => self.queues.get(name),
            Entity::Subscription { topic, name } => self
                .topics
                .get(topic)?
                .subscriptions
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, q)| q),
        }
    }
}

fn describe(entity: &Entity) -> String {
    match entity {
        Entity::Queue(n) => format!("queue '{n}'"),
        Entity::Subscription { topic, name } => format!("subscription '{topic}/{name}'"),
    }
}

/// Broker message ids: a random prefix per broker and a counter (no random number, and
/// no system call, per message).
#[derive(Debug)]
struct Ids {
    prefix: String,
    next: AtomicU64,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            prefix: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            next: AtomicU64::new(1),
        }
    }
}

impl Ids {
    fn next(&self) -> String {
        let mut n = self.next.fetch_add(1, Ordering::Relaxed);
        // `prefix-n` without the formatting machinery: this runs for every message.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(self.prefix.len() + 1 + digits.len() - at);
        id.push_str(&self.prefix);
        id.push('-');
        id.extend(digits[at..].iter().map(|&d| char::from(d)));
        id
    }
}

/// The in-memory broker. Cheap to clone: clones share state.
#[derive(Debug, Clone, Default)]
pub struct MemoryBroker {
    state: Arc<RwLock<State>>,
    ids: Arc<Ids>,
}

impl MemoryBroker {
    /// An empty broker; call [`Broker::provision`] to create topics and queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// A broker with `topology` provisioned.
    pub async fn with_topology(topology: &Topology) -> Result<Self> {
        let broker = Self::new();
        broker.provision(topology).await?;
        Ok(broker)
    }

    /// The queue behind a source (its dead-letter queue for a dead-letter source).
    fn queue(&self, source: &Source) -> Result<QueueRef> {
        let main = self
            .state
            .read()
            .queue(source.entity())
            .cloned()
            .ok_or_else(|| Error::not_found(describe(source.entity())))?;
        if !source.is_dead_letter() {
            return Ok(main);
        }
        let dlq = main.lock().dlq.clone();
        dlq.ok_or_else(|| {
            Error::backend(format!(
                "{} has no dead-letter queue",
                describe(source.entity())
            ))
        })
    }

    /// Number of messages in a source (visible or not), for tests and inspection; see
    /// [`Broker::depth`] for the breakdown.
    pub fn count(&self, source: &Source) -> Result<usize> {
        Ok(self.queue(source)?.lock().messages.len())
    }

    fn publish_to_queue(&self, name: &str, message: Arc<Message>) -> Result<String> {
        let q = self
            .state
            .read()
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("queue '{name}'")))?;
        let mut q = q.lock();
        let dedup_key = check(
            &message,
            || format!("queue '{name}'"),
            q.settings.fifo,
            q.settings.content_based_deduplication,
        )?;
        let id = self.ids.next();
        let now = Instant::now();
        if let Some(key) = dedup_key {
            if let Some(first) = q.dedup.check(key, &id, now) {
                return Ok(first);
            }
        }
        q.push(Stored::new(message, id.clone(), now));
        Ok(id)
    }

    fn publish_to_topic(&self, name: &str, message: Arc<Message>) -> Result<String> {
        let state = self.state.read();
        let topic = state
            .topics
            .get(name)
            .ok_or_else(|| Error::not_found(format!("topic '{name}'")))?;
        let dedup_key = check(
            &message,
            || format!("topic '{name}'"),
            topic.spec.fifo,
            topic.spec.content_based_deduplication,
        )?;
        let id = self.ids.next();
        let now = Instant::now();
        if let Some(key) = dedup_key {
            if let Some(first) = topic.dedup.lock().check(key, &id, now) {
                return Ok(first);
            }
        }
        for (_, q) in &topic.subscriptions {
            let mut q = q.lock();
            if q.settings
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&message.attributes))
            {
                q.push(Stored::new(Arc::clone(&message), self.ids.next(), now));
            }
        }
        Ok(id)
    }

    fn deliveries(&self, source: &Source, q: &QueueRef, taken: Vec<queue::Taken>) -> Vec<Delivery> {
        taken
            .into_iter()
            .map(|t| {
                let info = DeliveryInfo {
                    source: source.clone(),
                    broker_message_id: t.stored.broker_id,
                    delivery_count: t.stored.delivery_count,
                    enqueued_at: Some(t.stored.enqueued_at),
                    locked_until: Some(t.locked_until),
                };
                let settle = MemorySettle::new(q.clone(), t.seq, t.token);
                Delivery::new(t.stored.message, info, Box::new(settle))
            })
            .collect()
    }
}

/// Checks a message against a destination's rules; returns its FIFO dedup key.
fn check(
    message: &Message,
    what: impl Fn() -> String,
    fifo: bool,
    content_dedup: bool,
) -> Result<Option<Vec<u8>>> {
    if message.size() > MAX_MESSAGE_SIZE {
        return Err(Error::PayloadTooLarge {
            size: message.size(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    if let Some(delay) = message.delay.filter(|d| *d > MAX_DELAY) {
        return Err(Error::unsupported(format!(
            "a delay of {delay:?} on {}: the memory broker delays at most {MAX_DELAY:?}",
            what()
        )));
    }
    if !fifo {
        if message.dedup_id.is_some() {
            return Err(Error::unsupported(format!(
                "dedup_id on {}: deduplication needs a FIFO destination",
                what()
            )));
        }
        return Ok(None);
    }
    if message.group_id.is_none() {
        return Err(Error::invalid_input(format!(
            "FIFO {} needs a group_id on every message",
            what()
        )));
    }
    let key = match (&message.dedup_id, &message.message_id) {
        (Some(id), _) | (None, Some(id)) => [b"i".as_slice(), id.as_bytes()].concat(),
        (None, None) if content_dedup => [b"b".as_slice(), &message.body].concat(),
        (None, None) => {
            return Err(Error::invalid_input(format!(
                "FIFO {} needs a dedup_id or message_id (or content_based_deduplication)",
                what()
            )))
        }
    };
    Ok(Some(key))
}

#[async_trait]
impl Publisher for MemoryBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        let message = Arc::new(message);
        match destination {
            Destination::Queue(name) => self.publish_to_queue(name, message),
            Destination::Topic(name) => self.publish_to_topic(name, message),
        }
    }
}

#[async_trait]
impl Consumer for MemoryBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let q = self.queue(source)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = crate::duration::deadline_after(wait);
        // The common case first: something is there, no waiting needed.
        let (taken, _) = q.lock().take(max, Instant::now());
        if !taken.is_empty() {
            return Ok(self.deliveries(source, &q, taken));
        }
        let notify = q.lock().notify.clone();
        loop {
            // Registered before looking, so that a publish in between is not missed.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let (taken, next_visible) = q.lock().take(max, now);
            if !taken.is_empty() {
                return Ok(self.deliveries(source, &q, taken));
            }
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_visible.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new(MAX_MESSAGE_SIZE);
        c.max_delay = Some(MAX_DELAY);
        c.fifo = true;
        c.dedup = true;
        c.explicit_dead_letter = true;
        c.nack_delay = true;
        c.time_to_live = true;
        c.extend = true;
        // `receive` takes messages without awaiting in between: dropping it takes nothing.
        c.cancel_safe_receive = true;
        c
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        self.provision_all(topology)
    }

    async fn depth(&self, source: &Source) -> Result<Depth> {
        Ok(self.queue(source)?.lock().depth(Instant::now()))
    }

    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        let name = format!("courier-reply-{}", uuid::Uuid::new_v4().simple());
        let topology = Topology::builder().queue(&name).build()?;
        self.provision_all(&topology)?;
        Ok(ReplyQueue {
            source: Source::queue(&name),
            address: name,
        })
    }

    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        let removed = self.state.write().queues.remove(&queue.address);
        removed
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("reply queue '{}'", queue.address)))
    }

    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        if source.is_dead_letter() {
            return Err(Error::invalid_input(format!(
                "resubmitting to {source}: a message goes back to a queue or subscription, not to a dead-letter queue"
            )));
        }
        let q = self.queue(source)?;
        let mut q = q.lock();
        check(&message, || source.to_string(), q.settings.fifo, false)?;
        let id = self.ids.next();
        q.push(Stored::new(Arc::new(message), id.clone(), Instant::now()));
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
