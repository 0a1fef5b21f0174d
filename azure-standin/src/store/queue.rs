//! One message queue (an entity's main queue or its `$DeadLetterQueue`): ready messages in
//! sequence order, scheduled messages by due time, and locked messages by lock token, with
//! indexes by time so that housekeeping only touches what is due. Times are passed in, so
//! the rules can be tested without waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::Message;
use crate::timespan::TimeSpan;

/// Why the broker moved a message to the dead-letter queue; delivered as the application
/// properties `DeadLetterReason` and `DeadLetterErrorDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadLetter {
    pub(crate) reason: String,
    pub(crate) description: String,
}

/// A message in a queue, with what the broker stamped on it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) message: Arc<Message>,
    pub(crate) sequence_number: i64,
    pub(crate) enqueued_at: OffsetDateTime,
    /// The effective time to live (the message's, capped by the entity's default).
    pub(crate) time_to_live: TimeSpan,
    /// `None`: never (beyond the calendar).
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// Deliveries so far.
    pub(crate) delivery_count: u32,
    pub(crate) dead_letter: Option<DeadLetter>,
}

#[derive(Debug)]
struct Locked {
    stored: Stored,
    until: OffsetDateTime,
}

/// A queue of messages.
#[derive(Debug, Default)]
pub(crate) struct MessageQueue {
    ready: BTreeMap<i64, Stored>,
    scheduled: BTreeMap<(OffsetDateTime, i64), Stored>,
    /// Ready messages that expire (only where time to live is observed).
    expiring: BTreeSet<(OffsetDateTime, i64)>,
    locked: HashMap<Uuid, Locked>,
    lock_expiry: BTreeSet<(OffsetDateTime, Uuid)>,
    /// False for a dead-letter queue: "time-to-live isn't observed" there.
    observes_ttl: bool,
}

/// What became due in a queue.
#[derive(Debug, Default)]
pub(crate) struct Due {
    /// Past their time to live.
    pub(crate) expired: Vec<Stored>,
    /// Their lock ran out: they count as abandoned.
    pub(crate) released: Vec<Stored>,
}

impl MessageQueue {
    pub(crate) fn new(observes_ttl: bool) -> Self {
        MessageQueue {
            observes_ttl,
            ..MessageQueue::default()
        }
    }

    /// Adds a message: ready now, or scheduled for `enqueued_at` when that is later.
    pub(crate) fn push(&mut self, stored: Stored, now: OffsetDateTime) {
        if stored.enqueued_at > now {
            self.scheduled
                .insert((stored.enqueued_at, stored.sequence_number), stored);
        } else {
            self.make_ready(stored);
        }
    }

    fn make_ready(&mut self, stored: Stored) {
        if self.observes_ttl {
            if let Some(at) = stored.expires_at {
                self.expiring.insert((at, stored.sequence_number));
            }
        }
        self.ready.insert(stored.sequence_number, stored);
    }

    /// The first ready message, taken out.
    pub(crate) fn take(&mut self) -> Option<Stored> {
        let (_, stored) = self.ready.pop_first()?;
        if let Some(at) = stored.expires_at {
            self.expiring.remove(&(at, stored.sequence_number));
        }
        Some(stored)
    }

    /// Holds a taken message under a new lock until `until`.
    pub(crate) fn lock(&mut self, stored: Stored, until: OffsetDateTime) -> Uuid {
        let token = Uuid::new_v4();
        self.lock_expiry.insert((until, token));
        self.locked.insert(token, Locked { stored, until });
        token
    }

    /// The locked message of `token`, if its lock is held.
    pub(crate) fn locked(&self, token: &Uuid) -> Option<&Stored> {
        self.locked.get(token).map(|l| &l.stored)
    }

    /// Ends a lock (complete or abandon), handing the message back.
    pub(crate) fn unlock(&mut self, token: &Uuid) -> Option<Stored> {
        let held = self.locked.remove(token)?;
        self.lock_expiry.remove(&(held.until, *token));
        Some(held.stored)
    }

    /// Extends a lock to `until`; false when it is not held.
    pub(crate) fn renew(&mut self, token: &Uuid, until: OffsetDateTime) -> bool {
        let Some(held) = self.locked.get_mut(token) else {
            return false;
        };
        self.lock_expiry.remove(&(held.until, *token));
        held.until = until;
        self.lock_expiry.insert((until, *token));
        true
    }

    /// Returns an abandoned message to the ready messages.
    pub(crate) fn requeue(&mut self, stored: Stored) {
        self.make_ready(stored);
    }

    /// Moves due scheduled messages to ready, and takes out expired messages and expired
    /// locks (whose tokens are forgotten here: memory stays bounded).
    pub(crate) fn due(&mut self, now: OffsetDateTime) -> Due {
        while let Some(entry) = self.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let stored = entry.remove();
            self.make_ready(stored);
        }
        let mut due = Due::default();
        while let Some(&(at, token)) = self.lock_expiry.first() {
            if at > now {
                break;
            }
            self.lock_expiry.pop_first();
            if let Some(held) = self.locked.remove(&token) {
                due.released.push(held.stored);
            }
        }
        while let Some(&(at, seq)) = self.expiring.first() {
            if at > now {
                break;
            }
            self.expiring.pop_first();
            if let Some(stored) = self.ready.remove(&seq) {
                due.expired.push(stored);
            }
        }
        due
    }

    /// When something here next becomes due (a scheduled message, a lock, an expiry).
    pub(crate) fn next_due(&self) -> Option<OffsetDateTime> {
        [
            self.scheduled.keys().next().map(|k| k.0),
            self.lock_expiry.first().map(|k| k.0),
            self.expiring.first().map(|k| k.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Messages that can be or are being received (ready and locked).
    pub(crate) fn active_count(&self) -> usize {
        self.ready.len() + self.locked.len()
    }

    pub(crate) fn scheduled_count(&self) -> usize {
        self.scheduled.len()
    }

    pub(crate) fn lock_count(&self) -> usize {
        self.locked.len()
    }
}
