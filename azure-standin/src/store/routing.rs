//! Sending (to a queue, or through a topic's subscription rules), receiving and settling.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::messages::{arrive, Delivered, LockError, SubQueue};
use super::queue::DeadLetter;
use super::{entity_bytes, key, subscriptions_of, Entity, Kind, Store};
use crate::failure::Failure;
use crate::message::Message;
use crate::rule::{Routed, Rule};
use crate::timespan::TimeSpan;

/// The outcome of one receive attempt.
pub(crate) enum Attempt {
    Got(Delivered),
    /// Nothing now; something may become due at this time.
    Empty(Option<OffsetDateTime>),
}

/// A settlement on a lock URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    Complete,
    Abandon,
    Renew,
}

/// A subscription's rules as seen when a message passes its topic.
struct Candidate {
    key: String,
    rules: Vec<Arc<Rule>>,
    dead_letter_on_errors: bool,
}

/// Where a topic message goes in one subscription.
enum Verdict {
    Deliver,
    DeadLetter(String),
}

impl Store {
    /// Accepts messages for a queue or topic ("Send Message", "Send Message Batch").
    pub(crate) fn send(
        &self,
        path: &str,
        messages: Vec<Message>,
        now: OffsetDateTime,
    ) -> Result<(), Failure> {
        let mut entities = self.lock();
        let entity = entities
            .get_mut(&key(path))
            .ok_or_else(|| Failure::gone(path))?;
        check_sendable(entity, path, &messages)?;
        // The quota is checked before duplicate detection remembers any id, so that a
        // refused send can be retried.
        let incoming: usize = messages.iter().map(Message::size).sum();
        let held = entity_bytes(&entities, &entities[&key(path)]);
        let entity = entities.get_mut(&key(path)).expect("looked up above");
        if held + incoming > entity.settings.max_size_bytes {
            return Err(Failure::quota(format!(
                "The maximum entity size has been reached or exceeded for '{path}'. Size of entity in bytes: {held}, Max entity size in bytes: {}.",
                entity.settings.max_size_bytes
            )));
        }
        entity.touch(now);
        let accepted = accept(entity, messages, now);
        let ttl = entity.settings.default_message_ttl;
        if entity.kind == Kind::Queue {
            let queue = entity.messages.as_mut().expect("a queue has messages");
            for m in accepted {
                let seq = queue.next_sequence_number();
                queue.enqueue(arrive(Arc::new(m), seq, now, ttl), now);
            }
            entity.notify.notify_waiters();
            return Ok(());
        }
        // A topic: number the messages, then route them outside the lock.
        let mut numbered = Vec::new();
        for mut m in accepted {
            cap_ttl(&mut m, ttl);
            numbered.push((Arc::new(m), entity.topic_sequence));
            entity.topic_sequence = entity.topic_sequence.saturating_add(1);
        }
        let candidates = candidates(&entities, path);
        drop(entities);
        let routes = route(&numbered, &candidates, now);
        self.deliver(&numbered, routes, now);
        Ok(())
    }

    fn deliver(
        &self,
        numbered: &[(Arc<Message>, i64)],
        routes: Vec<(usize, String, Verdict)>,
        now: OffsetDateTime,
    ) {
        let mut entities = self.lock();
        for (i, sub, verdict) in routes {
            // A subscription deleted meanwhile simply receives nothing.
            let Some(e) = entities.get_mut(&sub) else {
                continue;
            };
            let settings = e.settings;
            let Some(m) = e.messages.as_mut() else {
                continue;
            };
            let seq = m.next_sequence_number();
            let stored = arrive(
                numbered[i].0.clone(),
                seq,
                now,
                settings.default_message_ttl,
            );
            match verdict {
                Verdict::Deliver => m.enqueue(stored, now),
                Verdict::DeadLetter(error) => m.enqueue_dead_lettered(
                    stored,
                    // "Dead-lettering on filter evaluation exceptions": the exception's type
                    // name and message (older "Overview of Service Bus dead-letter queues").
                    DeadLetter {
                        reason: "FilterException".into(),
                        description: error,
                    },
                    now,
                ),
            }
            e.notify.notify_waiters();
        }
    }

    /// One receive attempt on a queue or subscription (or its dead-letter queue).
    pub(crate) fn receive_once(
        &self,
        path: &str,
        which: SubQueue,
        peek_lock: bool,
        now: OffsetDateTime,
    ) -> Result<Attempt, Failure> {
        let mut entities = self.lock();
        let entity = entities
            .get_mut(&key(path))
            .ok_or_else(|| Failure::gone(path))?;
        if entity.kind == Kind::Topic {
            return Err(Failure::bad_request(format!(
                "'{path}' is a topic; receive from one of its subscriptions"
            )));
        }
        if entity.settings.requires_session {
            return Err(Failure::bad_request(format!(
                "'{path}' requires sessions, which cannot be received over REST"
            )));
        }
        entity.touch(now);
        let settings = entity.settings;
        let m = entity
            .messages
            .as_mut()
            .expect("queues and subscriptions have messages");
        Ok(match m.receive(which, peek_lock, now, settings.policy()) {
            Some(d) => Attempt::Got(d),
            None => Attempt::Empty(m.next_due()),
        })
    }

    /// What wakes receivers of an entity.
    pub(crate) fn notify_of(&self, path: &str) -> Result<Arc<Notify>, Failure> {
        self.lock()
            .get(&key(path))
            .map(|e| e.notify.clone())
            .ok_or_else(|| Failure::gone(path))
    }

    /// Completes, abandons or renews the lock `token` of the message `id_or_sequence`;
    /// a renewal returns the new end of the lock.
    pub(crate) fn settle(
        &self,
        path: &str,
        which: SubQueue,
        id_or_sequence: &str,
        token: &str,
        settlement: Settlement,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, Failure> {
        let mut entities = self.lock();
        let entity = entities
            .get_mut(&key(path))
            .filter(|e| e.kind != Kind::Topic)
            .ok_or_else(|| Failure::gone(path))?;
        let lost = || {
            Failure::not_found(format!("The lock supplied is invalid: either the lock expired, or the message has already been removed from '{path}'."))
        };
        let token = uuid::Uuid::parse_str(token).map_err(|_| lost())?;
        let policy = entity.settings.policy();
        let notify = entity.notify.clone();
        let m = entity
            .messages
            .as_mut()
            .expect("queues and subscriptions have messages");
        let (seq, id) = m.held(which, &token).ok_or_else(lost)?;
        if id_or_sequence != seq.to_string() && Some(id_or_sequence) != id.as_deref() {
            return Err(lost());
        }
        let result = match settlement {
            Settlement::Complete => m.complete(which, &token, now, policy).map(|()| None),
            Settlement::Abandon => m.abandon(which, &token, now, policy).map(|()| None),
            Settlement::Renew => m.renew(which, &token, now, policy).map(Some),
        };
        if settlement == Settlement::Abandon {
            notify.notify_waiters();
        }
        result.map_err(|LockError::NotHeld| lost())
    }
}

fn check_sendable(entity: &Entity, path: &str, messages: &[Message]) -> Result<(), Failure> {
    match entity.kind {
        Kind::Subscription => Err(Failure::bad_request(format!(
            "'{path}' is a subscription; send to its topic"
        ))),
        Kind::Queue
            if entity.settings.requires_session
                && messages.iter().any(|m| m.system.session_id.is_none()) =>
        {
            Err(Failure::bad_request(format!(
                "'{path}' requires sessions: every message needs BrokerProperties.SessionId"
            )))
        }
        _ => Ok(()),
    }
}

/// Gives each message an id (the service makes one when the sender did not) and drops
/// duplicates where the entity detects them.
fn accept(entity: &mut Entity, messages: Vec<Message>, now: OffsetDateTime) -> Vec<Message> {
    let settings = entity.settings;
    let mut accepted = Vec::new();
    for mut m in messages {
        let id = m
            .system
            .message_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string())
            .clone();
        let duplicate = settings.requires_duplicate_detection
            && entity
                .dedup
                .is_duplicate(&id, now, settings.duplicate_detection_window);
        if !duplicate {
            accepted.push(m);
        }
    }
    accepted
}

/// The subscriptions of the topic at `path`, with their rules as they are now.
fn candidates(entities: &BTreeMap<String, Entity>, path: &str) -> Vec<Candidate> {
    subscriptions_of(entities, path)
        .map(|e| Candidate {
            key: key(&e.name),
            rules: e.rules.values().cloned().collect(),
            dead_letter_on_errors: e.settings.dead_letter_on_filter_errors,
        })
        .collect()
}

/// (message index, subscription key, verdict) for every subscription a message reaches.
fn route(
    numbered: &[(Arc<Message>, i64)],
    candidates: &[Candidate],
    now: OffsetDateTime,
) -> Vec<(usize, String, Verdict)> {
    let mut routes = Vec::new();
    for (i, (m, seq)) in numbered.iter().enumerate() {
        let view = Routed {
            message: m,
            sequence_number: *seq,
            enqueued_at: now,
        };
        for c in candidates {
            match verdict(&c.rules, &view) {
                Some(Verdict::DeadLetter(_)) if !c.dead_letter_on_errors => {}
                Some(v) => routes.push((i, c.key.clone(), v)),
                None => {}
            }
        }
    }
    routes
}

/// The entity's default time to live caps the message's (it is what receivers see).
fn cap_ttl(m: &mut Message, default: TimeSpan) {
    if default < TimeSpan::MAX || m.system.time_to_live.is_some() {
        m.system.time_to_live = Some(m.system.time_to_live.unwrap_or(TimeSpan::MAX).min(default));
    }
}

/// A message reaches a subscription when any rule matches; when none matches and a rule
/// failed to evaluate, it is a filter exception (dead-lettered where the subscription
/// asks for it, else dropped — `None` either way when nothing matched).
fn verdict(rules: &[Arc<Rule>], view: &Routed<'_>) -> Option<Verdict> {
    let mut error = None;
    for rule in rules {
        match rule.filter.evaluate(view) {
            Ok(true) => return Some(Verdict::Deliver),
            Ok(false) => {}
            Err(e) => error = error.or(Some(format!("rule '{}': {e}", rule.name))),
        }
    }
    error.map(Verdict::DeadLetter)
}
