//! The namespace's state: entities (queues, topics, subscriptions with their rules), their
//! messages and locks. One mutex guards it; nothing slow runs under it (SQL filters are
//! evaluated outside). Entity names are case-insensitive, as in Service Bus.

mod dedup;
mod messages;
mod queue;
pub(crate) mod routing;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::atom::description::Description;
use crate::failure::Failure;
use crate::rule::{Rule, RuleFilter};
use crate::timespan::TimeSpan;

pub(crate) use messages::{Delivered, Policy, SubQueue};

use dedup::Dedup;
use messages::Messages;

/// "Number of topics or queues per namespace: 10,000" (Standard tier).
const MAX_ENTITIES: usize = 10_000;
/// "Number of subscriptions per topic: 2,000".
const MAX_SUBSCRIPTIONS: usize = 2_000;
/// "Number of SQL filters per topic: 2,000".
const MAX_SQL_FILTERS: usize = 2_000;

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Queue,
    Topic,
    Subscription,
}

/// The behaviour an entity's description asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) lock_duration: TimeSpan,
    pub(crate) max_delivery_count: u32,
    pub(crate) default_message_ttl: TimeSpan,
    pub(crate) dead_letter_on_expiry: bool,
    pub(crate) dead_letter_on_filter_errors: bool,
    pub(crate) requires_duplicate_detection: bool,
    pub(crate) duplicate_detection_window: TimeSpan,
    pub(crate) requires_session: bool,
    /// `MaxSizeInMegabytes`, in bytes.
    pub(crate) max_size_bytes: usize,
    /// `AutoDeleteOnIdle`: deleted after this long without sends or receives.
    pub(crate) auto_delete_on_idle: TimeSpan,
}

impl Settings {
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            lock_duration: self.lock_duration,
            max_delivery_count: self.max_delivery_count,
            dead_letter_on_expiry: self.dead_letter_on_expiry,
        }
    }
}

/// An entity as management answers describe it.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) description: Description,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) accessed_at: OffsetDateTime,
    /// (active, dead-lettered, scheduled)
    pub(crate) counts: (usize, usize, usize),
    pub(crate) size_in_bytes: usize,
    pub(crate) subscription_count: usize,
}

#[derive(Debug)]
pub(crate) struct Entity {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) description: Description,
    pub(crate) settings: Settings,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    accessed_at: OffsetDateTime,
    /// Queues and subscriptions.
    pub(crate) messages: Option<Messages>,
    /// Subscriptions: rules by lower-case name.
    pub(crate) rules: BTreeMap<String, Arc<Rule>>,
    /// Queues and topics.
    pub(crate) dedup: Dedup,
    /// Topics number messages before fan-out.
    pub(crate) topic_sequence: i64,
    pub(crate) notify: Arc<Notify>,
}

/// The key of an entity path (names are case-insensitive).
pub(crate) fn key(path: &str) -> String {
    path.to_ascii_lowercase()
}

/// The path of a subscription.
pub(crate) fn subscription_path(topic: &str, name: &str) -> String {
    format!("{topic}/subscriptions/{name}")
}

/// The subscriptions of a topic.
pub(crate) fn subscriptions_of<'a>(
    entities: &'a BTreeMap<String, Entity>,
    topic: &str,
) -> impl Iterator<Item = &'a Entity> + 'a {
    let prefix = format!("{}/subscriptions/", key(topic));
    entities
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, e)| e)
}

/// What an entity holds in bytes (a topic: what its subscriptions hold).
pub(crate) fn entity_bytes(entities: &BTreeMap<String, Entity>, e: &Entity) -> usize {
    match &e.messages {
        Some(m) => m.bytes(),
        None => subscriptions_of(entities, &e.name)
            .filter_map(|s| s.messages.as_ref())
            .map(Messages::bytes)
            .sum(),
    }
}

/// The state of one namespace.
#[derive(Debug)]
pub(crate) struct Store {
    entities: Mutex<BTreeMap<String, Entity>>,
    first_sequence_number: i64,
    started_at: OffsetDateTime,
}

impl Store {
    pub(crate) fn new(first_sequence_number: i64) -> Self {
        Store {
            entities: Mutex::new(BTreeMap::new()),
            first_sequence_number,
            started_at: OffsetDateTime::now_utc(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entity>> {
        self.entities.lock()
    }

    fn snapshot(entities: &BTreeMap<String, Entity>, e: &Entity) -> Snapshot {
        let subscription_count = if e.kind == Kind::Topic {
            let prefix = format!("{}/subscriptions/", key(&e.name));
            entities
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .count()
        } else {
            0
        };
        Snapshot {
            name: e.name.clone(),
            kind: e.kind,
            description: e.description.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
            accessed_at: e.accessed_at,
            counts: e.messages.as_ref().map_or((0, 0, 0), Messages::counts),
            size_in_bytes: entity_bytes(entities, e),
            subscription_count,
        }
    }

    /// The entity at `path`, if any.
    pub(crate) fn get(&self, path: &str) -> Option<Snapshot> {
        let entities = self.lock();
        entities
            .get(&key(path))
            .map(|e| Self::snapshot(&entities, e))
    }

    /// Queues, topics, or a topic's subscriptions, by name.
    pub(crate) fn list(&self, kind: Kind, topic: Option<&str>) -> Vec<Snapshot> {
        let entities = self.lock();
        let prefix = topic.map(|t| format!("{}/subscriptions/", key(t)));
        entities
            .iter()
            .filter(|(k, e)| e.kind == kind && prefix.as_ref().is_none_or(|p| k.starts_with(p)))
            .map(|(_, e)| Self::snapshot(&entities, e))
            .collect()
    }

    /// Creates an entity; 409 when it exists, 404 when a subscription's topic does not.
    pub(crate) fn create(
        &self,
        path: &str,
        kind: Kind,
        description: Description,
    ) -> Result<Snapshot, Failure> {
        let now = OffsetDateTime::now_utc();
        let mut entities = self.lock();
        if entities.contains_key(&key(path)) {
            return Err(Failure::conflict(format!(
                "The messaging entity '{path}' already exists."
            )));
        }
        let mut rules = BTreeMap::new();
        if kind == Kind::Subscription {
            let topic = path.split("/subscriptions/").next().unwrap_or_default();
            match entities.get(&key(topic)) {
                Some(t) if t.kind == Kind::Topic => {}
                _ => {
                    return Err(Failure::not_found(format!(
                        "The messaging entity '{topic}' could not be found."
                    )))
                }
            }
            let prefix = format!("{}/subscriptions/", key(topic));
            if entities.keys().filter(|k| k.starts_with(&prefix)).count() >= MAX_SUBSCRIPTIONS {
                return Err(Failure::quota(format!(
                    "The topic '{topic}' has the maximum of {MAX_SUBSCRIPTIONS} subscriptions."
                )));
            }
            let rule = description.default_rule.clone().unwrap_or_else(|| Rule {
                name: "$Default".into(),
                filter: RuleFilter::match_all(),
                created_at: now,
            });
            rules.insert(key(&rule.name), Arc::new(rule));
        } else if entities
            .values()
            .filter(|e| e.kind != Kind::Subscription)
            .count()
            >= MAX_ENTITIES
        {
            return Err(Failure::quota(format!(
                "The namespace has the maximum of {MAX_ENTITIES} queues and topics."
            )));
        }
        let settings = description.settings(kind);
        let entity = Entity {
            name: path.to_owned(),
            kind,
            settings,
            created_at: now,
            updated_at: now,
            accessed_at: now,
            messages: (kind != Kind::Topic).then(|| Messages::new(self.first_sequence_number)),
            rules,
            dedup: Dedup::default(),
            topic_sequence: self.first_sequence_number,
            notify: Arc::new(Notify::new()),
            description,
        };
        let snapshot = Self::snapshot(&entities, &entity);
        entities.insert(key(path), entity);
        Ok(snapshot)
    }

    /// Replaces an entity's description (elements left out revert to the defaults).
    pub(crate) fn update(
        &self,
        path: &str,
        kind: Kind,
        description: Description,
    ) -> Result<Snapshot, Failure> {
        let mut entities = self.lock();
        let entity = entities
            .get_mut(&key(path))
            .filter(|e| e.kind == kind)
            .ok_or_else(|| {
                Failure::not_found(format!("The messaging entity '{path}' could not be found."))
            })?;
        crate::atom::description::check_update(kind, &entity.description, &description)?;
        entity.settings = description.settings(kind);
        entity.description = description;
        entity.updated_at = OffsetDateTime::now_utc();
        entity.notify.notify_waiters();
        let entity = &entities[&key(path)];
        Ok(Self::snapshot(&entities, entity))
    }

    /// Deletes an entity (a topic with its subscriptions); 404 when missing.
    pub(crate) fn delete(&self, path: &str) -> Result<(), Failure> {
        let mut entities = self.lock();
        let k = key(path);
        let removed = entities.remove(&k).ok_or_else(|| {
            Failure::not_found(format!("The messaging entity '{path}' could not be found."))
        })?;
        removed.notify.notify_waiters();
        if removed.kind == Kind::Topic {
            let prefix = format!("{k}/subscriptions/");
            entities.retain(|key, e| {
                let keep = !key.starts_with(&prefix);
                if !keep {
                    e.notify.notify_waiters();
                }
                keep
            });
        }
        Ok(())
    }

    /// The rules of a subscription; `None` when it does not exist.
    pub(crate) fn rules(&self, subscription: &str) -> Option<Vec<Rule>> {
        let entities = self.lock();
        let e = entities
            .get(&key(subscription))
            .filter(|e| e.kind == Kind::Subscription)?;
        Some(e.rules.values().map(|r| (**r).clone()).collect())
    }

    /// Creates (or with `update`, replaces) a rule; returns whether it was created.
    pub(crate) fn put_rule(
        &self,
        subscription: &str,
        rule: Rule,
        update: bool,
    ) -> Result<bool, Failure> {
        let mut entities = self.lock();
        let topic_key = key(subscription
            .split("/subscriptions/")
            .next()
            .unwrap_or_default());
        let sql_rules_on_topic = entities
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{topic_key}/subscriptions/")))
            .flat_map(|(_, e)| e.rules.values())
            .filter(|r| matches!(r.filter, RuleFilter::Sql { .. }))
            .count();
        let entity = entities
            .get_mut(&key(subscription))
            .filter(|e| e.kind == Kind::Subscription)
            .ok_or_else(|| {
                Failure::not_found(format!(
                    "The messaging entity '{subscription}' could not be found."
                ))
            })?;
        let rule_key = key(&rule.name);
        let exists = entity.rules.contains_key(&rule_key);
        match (exists, update) {
            (true, false) => {
                return Err(Failure::conflict(format!(
                    "The rule '{}' already exists.",
                    rule.name
                )))
            }
            (false, true) => {
                return Err(Failure::not_found(format!(
                    "The rule '{}' could not be found.",
                    rule.name
                )))
            }
            _ => {}
        }
        if !exists
            && matches!(rule.filter, RuleFilter::Sql { .. })
            && sql_rules_on_topic >= MAX_SQL_FILTERS
        {
            return Err(Failure::quota(format!(
                "The topic has the maximum of {MAX_SQL_FILTERS} SQL filters."
            )));
        }
        let mut rule = rule;
        if let Some(old) = entity.rules.get(&rule_key) {
            rule.created_at = old.created_at;
        }
        entity.rules.insert(rule_key, Arc::new(rule));
        Ok(!exists)
    }

    /// Deletes a rule; 404 when it or its subscription is missing.
    pub(crate) fn delete_rule(&self, subscription: &str, name: &str) -> Result<(), Failure> {
        let mut entities = self.lock();
        let entity = entities
            .get_mut(&key(subscription))
            .filter(|e| e.kind == Kind::Subscription)
            .ok_or_else(|| {
                Failure::not_found(format!(
                    "The messaging entity '{subscription}' could not be found."
                ))
            })?;
        entity
            .rules
            .remove(&key(name))
            .map(drop)
            .ok_or_else(|| Failure::not_found(format!("The rule '{name}' could not be found.")))
    }

    /// Housekeeping for every entity at `now`: due scheduled messages, expired messages
    /// and expired locks (forgotten, so memory stays bounded).
    pub(crate) fn maintain(&self, now: OffsetDateTime) {
        let idle: Vec<String> = self
            .lock()
            .values()
            .filter(|e| {
                e.settings.auto_delete_on_idle < TimeSpan::MAX
                    && e.settings
                        .auto_delete_on_idle
                        .after(e.accessed_at.max(e.updated_at))
                        .is_some_and(|at| at <= now)
            })
            .map(|e| e.name.clone())
            .collect();
        for name in idle {
            // "AutoDeleteOnIdle": the idle entity is deleted (a topic with its subscriptions).
            let _ = self.delete(&name);
        }
        let mut entities = self.lock();
        for e in entities.values_mut() {
            let policy = e.settings.policy();
            if let Some(m) = e.messages.as_mut() {
                let before = m.counts();
                m.housekeep(now, policy);
                if m.counts() != before {
                    e.notify.notify_waiters();
                }
            }
        }
    }

    /// Locks held across the namespace.
    pub(crate) fn lock_count(&self) -> usize {
        self.lock()
            .values()
            .filter_map(|e| e.messages.as_ref())
            .map(Messages::lock_count)
            .sum()
    }

    /// When the namespace came to be.
    pub(crate) fn started_at(&self) -> OffsetDateTime {
        self.started_at
    }

    pub(crate) fn first_sequence_number(&self) -> i64 {
        self.first_sequence_number
    }
}

impl Entity {
    pub(crate) fn touch(&mut self, now: OffsetDateTime) {
        self.accessed_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atom::{description, xml};
    use crate::message::{Message, SystemProperties};
    use crate::properties::Properties;
    use time::Duration as Span;

    fn queue(store: &Store, name: &str, children: &str) {
        let body = format!(
            "<entry xmlns=\"{}\"><content type=\"application/xml\"><QueueDescription xmlns=\"{}\">{children}</QueueDescription></content></entry>",
            xml::ATOM_NS,
            xml::SB_NS
        );
        let d =
            xml::with_description(body.as_bytes(), |n| description::parse(Kind::Queue, n)).unwrap();
        store.create(name, Kind::Queue, d).unwrap();
    }

    fn message(body: &str) -> Message {
        Message {
            body: body.to_owned().into(),
            content_type: None,
            system: SystemProperties {
                message_id: Some("id".into()),
                ..SystemProperties::default()
            },
            properties: Properties::default(),
        }
    }

    #[test]
    fn idle_entities_are_deleted_after_auto_delete_on_idle() {
        // QueueDescription.AutoDeleteOnIdle: "the idle interval after which the queue is
        // automatically deleted. The minimum duration is 5 minutes."
        let store = Store::new(1);
        queue(&store, "idle", "<AutoDeleteOnIdle>PT5M</AutoDeleteOnIdle>");
        queue(&store, "kept", "");
        let now = OffsetDateTime::now_utc();
        store.maintain(now + Span::minutes(4));
        assert!(store.get("idle").is_some());
        store.maintain(now + Span::minutes(6));
        assert!(store.get("idle").is_none(), "deleted when idle");
        assert!(store.get("kept").is_some(), "the default is never");
    }

    #[test]
    fn the_entity_size_quota_is_enforced_and_counted() {
        // Service Bus quotas, "Queue or topic size": "Subsequent incoming messages are
        // rejected"; Send Message answers 403 for an exceeded quota.
        let store = Store::new(1);
        queue(&store, "q", "<MaxSizeInMegabytes>1024</MaxSizeInMegabytes>");
        let one = message("0123456789").size();
        store.lock().get_mut("q").unwrap().settings.max_size_bytes = 3 * one;
        let now = OffsetDateTime::now_utc();
        for _ in 0..3 {
            store.send("q", vec![message("0123456789")], now).unwrap();
        }
        let e = store
            .send("q", vec![message("0123456789")], now)
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 403, "{e}");
        assert_eq!(store.get("q").unwrap().size_in_bytes, 3 * one);
        // Receiving and deleting frees room.
        let policy = store.lock()["q"].settings.policy();
        let taken = store
            .lock()
            .get_mut("q")
            .unwrap()
            .messages
            .as_mut()
            .unwrap()
            .receive(SubQueue::Main, false, now, policy);
        assert!(taken.is_some());
        store.send("q", vec![message("0123456789")], now).unwrap();
    }
}
