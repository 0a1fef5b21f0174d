//! Idempotency: remembering which events a consumer has handled, so that a redelivered
//! event is acknowledged without running its handler again.
//!
//! The store follows the model AWS Lambda Powertools made common: before a handler runs,
//! the pipeline *claims* the event's key for a lease; a key already *completed* is a
//! duplicate; a key another consumer holds is retried after the lease; when the handler
//! succeeds the key is *completed*, when it fails the claim is *released*, so a retry can
//! claim it again. A consumer that dies while holding a claim blocks that event only until
//! the lease ends.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::Result;

/// Identifies one event for one consumer: CloudEvents makes `source` + `id` unique, and
/// one store may serve several subscriptions, each of which handles the event once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey {
    /// The consumer: the queue or subscription handling the event (e.g.
    /// `subscription:orders/inventory`).
    pub subscription: String,
    /// The event's `source`.
    pub event_source: String,
    /// The event's `id`.
    pub event_id: String,
}

impl IdempotencyKey {
    /// A key for this consumer and event.
    pub fn new(
        subscription: impl Into<String>,
        event_source: impl Into<String>,
        event_id: impl Into<String>,
    ) -> Self {
        IdempotencyKey {
            subscription: subscription.into(),
            event_source: event_source.into(),
            event_id: event_id.into(),
        }
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} / {}",
            self.subscription, self.event_source, self.event_id
        )
    }
}

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not handled before: this consumer now holds it until the lease ends.
    Acquired,
    /// Handled already: acknowledge without running the handler.
    Completed,
    /// Another consumer holds it (handling it right now); `retry_after` is how long its
    /// lease has left, when the store knows.
    InProgress {
        /// How long the holder's lease has left.
        retry_after: Option<Duration>,
    },
}

/// Remembers which events were handled, per consumer. See the [module docs](self).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `lease`: [`Claim::Acquired`] when it is new (or an earlier claim's
    /// lease ran out), [`Claim::Completed`] when it was handled, [`Claim::InProgress`]
    /// when someone else holds it.
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim>;
    /// Marks `key` handled (after the handler succeeded, before the ack).
    async fn complete(&self, key: &IdempotencyKey) -> Result<()>;
    /// Gives up a claim (the handler failed): the event may be claimed again at once.
    async fn release(&self, key: &IdempotencyKey) -> Result<()>;
}

/// An [`IdempotencyStore`] in memory, bounded in age and size: it forgets completed keys
/// after `retention` and, when it holds `capacity` keys, the oldest first.
///
/// It lives as long as the process (a worker, or a Lambda execution environment), so it
/// catches redeliveries to the same process only; a durable store (PostgreSQL, DynamoDB)
/// catches them across processes. The default keeps 10,000 keys for 24 hours (a few MB,
/// safe in a 128 MB Lambda function).
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    retention: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<IdempotencyKey, Entry>,
    /// Keys in the order they were claimed or completed, with that moment, oldest first.
    order: VecDeque<(Instant, IdempotencyKey)>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    since: Instant,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Held { until: Instant },
    Completed,
}

impl MemoryIdempotencyStore {
    /// A store keeping completed keys for `retention`, and at most `capacity` keys
    /// (at least 1).
    pub fn new(retention: Duration, capacity: usize) -> Self {
        MemoryIdempotencyStore {
            retention,
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// How many keys it holds now.
    pub fn len(&self) -> usize {
        self.entries.lock().by_key.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryIdempotencyStore {
    /// 10,000 keys, for 24 hours.
    fn default() -> Self {
        Self::new(Duration::from_secs(24 * 3600), 10_000)
    }
}

impl Entries {
    /// Drops what is past its retention, and the oldest keys beyond `capacity`.
    fn trim(&mut self, now: Instant, retention: Duration, capacity: usize) {
        while let Some((at, key)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) >= retention;
            if !expired && self.by_key.len() <= capacity {
                break;
            }
            let (at, key) = (*at, key.clone());
            self.order.pop_front();
            // Only the newest record of a key decides; older queue entries are stale.
            if self.by_key.get(&key).is_some_and(|e| e.since == at) {
                self.by_key.remove(&key);
            }
        }
    }

    fn put(&mut self, key: &IdempotencyKey, entry: Entry) {
        self.by_key.insert(key.clone(), entry);
        self.order.push_back((entry.since, key.clone()));
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        entries.trim(now, self.retention, self.capacity);
        match entries.by_key.get(key).map(|e| e.state) {
            Some(State::Completed) => return Ok(Claim::Completed),
            Some(State::Held { until }) if until > now => {
                return Ok(Claim::InProgress {
                    retry_after: Some(until - now),
                })
            }
            _ => {}
        }
        let until = crate::duration::deadline_after(lease);
        entries.put(
            key,
            Entry {
                since: now,
                state: State::Held { until },
            },
        );
        entries.trim(now, self.retention, self.capacity);
        Ok(Claim::Acquired)
    }

    async fn complete(&self, key: &IdempotencyKey) -> Result<()> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        entries.put(
            key,
            Entry {
                since: now,
                state: State::Completed,
            },
        );
        entries.trim(now, self.retention, self.capacity);
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        let mut entries = self.entries.lock();
        if entries
            .by_key
            .get(key)
            .is_some_and(|e| matches!(e.state, State::Held { .. }))
        {
            entries.by_key.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sub: &str, id: &str) -> IdempotencyKey {
        IdempotencyKey::new(sub, "/shop", id)
    }

    #[tokio::test(start_paused = true)]
    async fn claims_complete_release_and_forget_after_retention() {
        let s = MemoryIdempotencyStore::new(Duration::from_secs(60), 100);
        let lease = Duration::from_secs(10);
        let k = key("subscription:orders/inventory", "e1");
        assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Acquired);
        assert!(matches!(
            s.claim(&k, lease).await.unwrap(),
            Claim::InProgress { retry_after: Some(d) } if d == lease
        ));
        s.release(&k).await.unwrap();
        assert_eq!(
            s.claim(&k, lease).await.unwrap(),
            Claim::Acquired,
            "released"
        );
        s.complete(&k).await.unwrap();
        assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Completed);
        s.release(&k).await.unwrap();
        assert_eq!(
            s.claim(&k, lease).await.unwrap(),
            Claim::Completed,
            "release never undoes a completion"
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(
            s.claim(&k, lease).await.unwrap(),
            Claim::Acquired,
            "forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_can_be_claimed_again() {
        let s = MemoryIdempotencyStore::default();
        let k = key("queue:audit", "e1");
        assert_eq!(
            s.claim(&k, Duration::from_secs(5)).await.unwrap(),
            Claim::Acquired
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            s.claim(&k, Duration::from_secs(5)).await.unwrap(),
            Claim::Acquired,
            "the holder died: its lease ran out"
        );
    }

    #[tokio::test]
    async fn keys_are_per_subscription_and_source() {
        let s = MemoryIdempotencyStore::default();
        let lease = Duration::from_secs(5);
        s.complete(&key("subscription:orders/inventory", "e1"))
            .await
            .unwrap();
        assert_eq!(
            s.claim(&key("subscription:orders/payment", "e1"), lease)
                .await
                .unwrap(),
            Claim::Acquired,
            "another subscription handles the same event once too"
        );
        let other_source = IdempotencyKey::new("subscription:orders/inventory", "/billing", "e1");
        assert_eq!(
            s.claim(&other_source, lease).await.unwrap(),
            Claim::Acquired,
            "the same id from another source is another event"
        );
    }

    #[tokio::test]
    async fn the_store_is_bounded_in_size() {
        let s = MemoryIdempotencyStore::new(Duration::from_secs(3600), 100);
        for i in 0..1000 {
            s.complete(&key("q", &i.to_string())).await.unwrap();
        }
        assert_eq!(s.len(), 100);
        assert_eq!(
            s.claim(&key("q", "0"), Duration::from_secs(1))
                .await
                .unwrap(),
            Claim::Acquired,
            "the oldest were forgotten"
        );
        assert_eq!(
            s.claim(&key("q", "999"), Duration::from_secs(1))
                .await
                .unwrap(),
            Claim::Completed
        );
    }
}
