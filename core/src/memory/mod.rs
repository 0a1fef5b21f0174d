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

mod queue;
mod settle;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::delivery::{Delivery, DeliveryInfo};
use crate::error::{Error, Result};
use crate::message::{Destination, Entity, Message, Source};
use crate::provision::{Drift, EntityKind, ProvisionAction, ProvisionReport};
use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};

use queue::{QueueSettings, QueueState, Stored};
use settle::MemorySettle;

/// Largest message the memory broker accepts: 1 MiB, as SQS.
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Longest delay the memory broker accepts: one year.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A queue's key: a queue, or a subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Queue(String),
    Subscription(String, String),
}

#[derive(Debug)]
struct TopicState {
    spec: TopicSpec,
    subscriptions: Vec<String>,
    dedup: queue::DedupWindow,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    topics: HashMap<String, TopicState>,
    queues: HashMap<Key, QueueState>,
}

impl State {
    /// The queue behind a source (and whether it is the dead-letter queue).
    pub(crate) fn queue_mut(&mut self, key: &Key, dlq: bool) -> Result<&mut QueueState> {
        let q = self
            .queues
            .get_mut(key)
            .ok_or_else(|| Error::not_found(describe(key)))?;
        if dlq {
            Ok(q.dlq.as_deref_mut().ok_or_else(|| {
                Error::backend(format!("{} has no dead-letter queue", describe(key)))
            })?)
        } else {
            Ok(q)
        }
    }
}

fn describe(key: &Key) -> String {
    match key {
        Key::Queue(n) => format!("queue '{n}'"),
        Key::Subscription(t, n) => format!("subscription '{t}/{n}'"),
    }
}

fn key_of(source: &Source) -> (Key, bool) {
    let key = match source.entity() {
        Entity::Queue(n) => Key::Queue(n.clone()),
        Entity::Subscription { topic, name } => Key::Subscription(topic.clone(), name.clone()),
    };
    (key, source.is_dead_letter())
}

/// The in-memory broker. Cheap to clone: clones share state.
#[derive(Debug, Clone, Default)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Number of messages in a source (visible or not), for tests and inspection.
    pub fn depth(&self, source: &Source) -> Result<usize> {
        let (key, dlq) = key_of(source);
        Ok(self.lock().queue_mut(&key, dlq)?.messages.len())
    }
}

/// Checks a message against a destination's rules; returns its FIFO dedup key.
fn check(
    message: &Message,
    what: &str,
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
            "a delay of {delay:?} on {what}: the memory broker delays at most {MAX_DELAY:?}"
        )));
    }
    if !fifo {
        if message.dedup_id.is_some() {
            return Err(Error::unsupported(format!(
                "dedup_id on {what}: deduplication needs a FIFO destination"
            )));
        }
        return Ok(None);
    }
    if message.group_id.is_none() {
        return Err(Error::invalid_input(format!(
            "FIFO {what} needs a group_id on every message"
        )));
    }
    let key = match (&message.dedup_id, &message.message_id) {
        (Some(id), _) | (None, Some(id)) => [b"i".as_slice(), id.as_bytes()].concat(),
        (None, None) if content_dedup => [b"b".as_slice(), &message.body].concat(),
        (None, None) => {
            return Err(Error::invalid_input(format!(
                "FIFO {what} needs a dedup_id or message_id (or content_based_deduplication)"
            )))
        }
    };
    Ok(Some(key))
}

#[async_trait]
impl Publisher for MemoryBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Instant::now();
        let message = Arc::new(message);
        let mut state = self.lock();
        match destination {
            Destination::Queue(name) => {
                let q = state.queue_mut(&Key::Queue(name.clone()), false)?;
                let what = format!("queue '{name}'");
                if let Some(key) = check(
                    &message,
                    &what,
                    q.settings.fifo,
                    q.settings.content_based_deduplication,
                )? {
                    if let Some(first) = q.dedup.check(key, &id, now) {
                        return Ok(first);
                    }
                }
                q.push(Stored::new(message, id.clone(), now));
            }
            Destination::Topic(name) => {
                let State { topics, queues } = &mut *state;
                let topic = topics
                    .get_mut(name)
                    .ok_or_else(|| Error::not_found(format!("topic '{name}'")))?;
                let what = format!("topic '{name}'");
                if let Some(key) = check(
                    &message,
                    &what,
                    topic.spec.fifo,
                    topic.spec.content_based_deduplication,
                )? {
                    if let Some(first) = topic.dedup.check(key, &id, now) {
                        return Ok(first);
                    }
                }
                for sub in &topic.subscriptions {
                    let Some(q) = queues.get_mut(&Key::Subscription(name.clone(), sub.clone()))
                    else {
                        continue;
                    };
                    if q.settings
                        .filter
                        .as_ref()
                        .is_none_or(|f| f.matches(&message.attributes))
                    {
                        let copy_id = uuid::Uuid::new_v4().to_string();
                        q.push(Stored::new(Arc::clone(&message), copy_id, now));
                    }
                }
            }
        }
        Ok(id)
    }
}

#[async_trait]
impl Consumer for MemoryBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let (key, dlq) = key_of(source);
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = crate::duration::deadline_after(wait);
        loop {
            let notify = self.lock().queue_mut(&key, dlq)?.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let (taken, next_visible) = self.lock().queue_mut(&key, dlq)?.take(max, now);
            if !taken.is_empty() {
                return Ok(taken
                    .into_iter()
                    .map(|t| {
                        let info = DeliveryInfo {
                            source: source.clone(),
                            broker_message_id: t.stored.broker_id.clone(),
                            delivery_count: t.stored.delivery_count,
                            enqueued_at: Some(t.stored.enqueued_at),
                            locked_until: Some(t.locked_until),
                        };
                        let settle =
                            MemorySettle::new(self.clone(), key.clone(), dlq, t.seq, t.token);
                        Delivery::new(t.stored.message, info, Box::new(settle))
                    })
                    .collect());
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

impl MemoryBroker {
    fn provision_queue(
        &self,
        report: &mut ProvisionReport,
        kind: EntityKind,
        key: Key,
        settings: QueueSettings,
    ) {
        let mut state = self.lock();
        let name = match &key {
            Key::Queue(n) => n.clone(),
            Key::Subscription(t, n) => format!("{t}/{n}"),
        };
        let Some(q) = state.queues.get_mut(&key) else {
            state
                .queues
                .insert(key, QueueState::new(name.clone(), settings));
            report.push(kind, name, ProvisionAction::Created);
            return;
        };
        if q.settings.fifo != settings.fifo {
            let what = format!(
                "fifo is {}, the topology says {}",
                q.settings.fifo, settings.fifo
            );
            report.push(kind, name, ProvisionAction::Differs(what));
            return;
        }
        let mut drift = Drift::default();
        let old = &q.settings;
        drift.compare(
            "max_receive_count",
            &old.max_receive_count,
            &settings.max_receive_count,
        );
        drift.compare("visibility", &old.visibility, &settings.visibility);
        drift.compare(
            "content_based_deduplication",
            &old.content_based_deduplication,
            &settings.content_based_deduplication,
        );
        if old.filter != settings.filter {
            drift.note("filter");
        }
        let action = drift.action();
        if action != ProvisionAction::Unchanged {
            if let Some(dlq) = q.dlq.as_mut() {
                dlq.settings.visibility = settings.visibility;
            }
            q.settings = settings;
        }
        report.push(kind, name, action);
    }

    fn provision_topic(&self, report: &mut ProvisionReport, spec: &TopicSpec) {
        let mut state = self.lock();
        match state.topics.get_mut(&spec.name) {
            None => {
                state.topics.insert(
                    spec.name.clone(),
                    TopicState {
                        spec: spec.clone(),
                        subscriptions: Vec::new(),
                        dedup: Default::default(),
                    },
                );
                report.push(EntityKind::Topic, &spec.name, ProvisionAction::Created);
            }
            Some(t) if t.spec.fifo != spec.fifo => {
                let what = format!("fifo is {}, the topology says {}", t.spec.fifo, spec.fifo);
                report.push(
                    EntityKind::Topic,
                    &spec.name,
                    ProvisionAction::Differs(what),
                );
            }
            Some(t) if t.spec != *spec => {
                t.spec = spec.clone();
                report.push(
                    EntityKind::Topic,
                    &spec.name,
                    ProvisionAction::Updated("content_based_deduplication".into()),
                );
            }
            Some(_) => report.push(EntityKind::Topic, &spec.name, ProvisionAction::Unchanged),
        }
    }
}

fn queue_settings(q: &QueueSpec) -> QueueSettings {
    QueueSettings {
        fifo: q.fifo,
        content_based_deduplication: q.content_based_deduplication,
        max_receive_count: Some(q.max_receive_count),
        visibility: Duration::from_secs(q.visibility_timeout_secs.into()),
        filter: None,
    }
}

fn subscription_settings(s: &SubscriptionSpec, topic: Option<&TopicSpec>) -> QueueSettings {
    QueueSettings {
        fifo: topic.is_some_and(|t| t.fifo),
        content_based_deduplication: false,
        max_receive_count: Some(s.max_receive_count),
        visibility: Duration::from_secs(s.visibility_timeout_secs.into()),
        filter: s.parsed_filter().cloned(),
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
        c
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        // Validate a copy so that filters are parsed even for a hand-built topology.
        let mut topology = topology.clone();
        topology.validate("topology")?;
        let mut report = ProvisionReport::default();
        for t in &topology.topics {
            self.provision_topic(&mut report, t);
        }
        for q in &topology.queues {
            self.provision_queue(
                &mut report,
                EntityKind::Queue,
                Key::Queue(q.name.clone()),
                queue_settings(q),
            );
        }
        for s in &topology.subscriptions {
            let key = Key::Subscription(s.topic.clone(), s.name.clone());
            let settings = subscription_settings(s, topology.topic(&s.topic));
            self.provision_queue(&mut report, EntityKind::Subscription, key, settings);
            let mut state = self.lock();
            if let Some(topic) = state.topics.get_mut(&s.topic) {
                if !topic.subscriptions.contains(&s.name) {
                    topic.subscriptions.push(s.name.clone());
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
