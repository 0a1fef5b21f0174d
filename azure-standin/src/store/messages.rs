//! The messages of a queue or subscription: its main queue and its dead-letter queue, with
//! Service Bus's delivery rules ("Overview of Service Bus dead-letter queues"):
//!
//! - every peek-lock delivery counts; when a delivery ends without completion (abandon or
//!   lock expiry) and the count has reached `MaxDeliveryCount`, the message moves to the
//!   dead-letter queue with reason `MaxDeliveryCountExceeded`;
//! - an expired message moves there with `TTLExpiredException` when the entity has
//!   `DeadLetteringOnMessageExpiration`, and is dropped otherwise;
//! - the dead-letter queue observes no time to live and dead-letters nothing further.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::queue::{DeadLetter, MessageQueue, Stored};
use crate::timespan::TimeSpan;

/// The delivery settings of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) lock_duration: TimeSpan,
    pub(crate) max_delivery_count: u32,
    pub(crate) dead_letter_on_expiry: bool,
}

/// Which of the two queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubQueue {
    Main,
    DeadLetter,
}

/// A message handed out by a receive.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) stored: Stored,
    /// Peek-lock: the lock token and when the lock ends.
    pub(crate) lock: Option<(Uuid, OffsetDateTime)>,
}

/// Why a settlement failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockError {
    /// Unknown, expired or already settled.
    NotHeld,
}

#[derive(Debug)]
pub(crate) struct Messages {
    main: MessageQueue,
    dead: MessageQueue,
    next_sequence: i64,
    /// Size of everything held (both queues), as the entity's size quota counts it.
    bytes: usize,
}

impl Messages {
    pub(crate) fn new(first_sequence_number: i64) -> Self {
        Messages {
            main: MessageQueue::new(true),
            dead: MessageQueue::new(false),
            next_sequence: first_sequence_number,
            bytes: 0,
        }
    }

    /// The next sequence number of this entity.
    pub(crate) fn next_sequence_number(&mut self) -> i64 {
        let n = self.next_sequence;
        self.next_sequence = self.next_sequence.saturating_add(1);
        n
    }

    /// A new message arrives.
    pub(crate) fn enqueue(&mut self, stored: Stored, now: OffsetDateTime) {
        self.bytes += stored.message.size();
        self.main.push(stored, now);
    }

    /// A new message arrives straight in the dead-letter queue (a filter exception).
    pub(crate) fn enqueue_dead_lettered(
        &mut self,
        stored: Stored,
        why: DeadLetter,
        now: OffsetDateTime,
    ) {
        self.bytes += stored.message.size();
        self.dead_letter(stored, why, now);
    }

    /// What the entity holds, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Moves a message (already held) into the dead-letter queue.
    fn dead_letter(&mut self, mut stored: Stored, why: DeadLetter, now: OffsetDateTime) {
        stored.dead_letter = Some(why);
        stored.enqueued_at = stored.enqueued_at.min(now);
        self.dead.push(stored, now);
    }

    fn queue(&mut self, which: SubQueue) -> &mut MessageQueue {
        match which {
            SubQueue::Main => &mut self.main,
            SubQueue::DeadLetter => &mut self.dead,
        }
    }

    /// Applies what is due at `now`: scheduled messages become ready, expired ones are
    /// dead-lettered or dropped, and expired locks count as abandoned deliveries.
    pub(crate) fn housekeep(&mut self, now: OffsetDateTime, policy: Policy) {
        let due = self.main.due(now);
        for stored in due.expired {
            if policy.dead_letter_on_expiry {
                let why = DeadLetter {
                    reason: "TTLExpiredException".into(),
                    description: "The message expired and was dead lettered.".into(),
                };
                self.dead_letter(stored, why, now);
            } else {
                self.bytes -= stored.message.size();
            }
        }
        for stored in due.released {
            self.abandoned(SubQueue::Main, stored, now, policy);
        }
        let due = self.dead.due(now);
        for stored in due.released {
            self.dead.requeue(stored);
        }
    }

    fn abandoned(&mut self, which: SubQueue, stored: Stored, now: OffsetDateTime, policy: Policy) {
        if which == SubQueue::Main && stored.delivery_count >= policy.max_delivery_count {
            let why = DeadLetter {
                reason: "MaxDeliveryCountExceeded".into(),
                description: format!(
                    "Message could not be consumed after {} delivery attempts.",
                    policy.max_delivery_count
                ),
            };
            self.dead_letter(stored, why, now);
        } else {
            self.queue(which).requeue(stored);
        }
    }

    /// Takes the next message: locked for the entity's lock duration (peek-lock), or
    /// removed (receive-and-delete).
    pub(crate) fn receive(
        &mut self,
        which: SubQueue,
        peek_lock: bool,
        now: OffsetDateTime,
        policy: Policy,
    ) -> Option<Delivered> {
        self.housekeep(now, policy);
        let mut stored = self.queue(which).take()?;
        stored.delivery_count = stored.delivery_count.saturating_add(1);
        if !peek_lock {
            self.bytes -= stored.message.size();
            return Some(Delivered { stored, lock: None });
        }
        let until = policy.lock_duration.after(now).unwrap_or(now);
        let token = self.queue(which).lock(stored.clone(), until);
        Some(Delivered {
            stored,
            lock: Some((token, until)),
        })
    }

    /// The sequence number and message id of a held lock (to check a lock URI).
    pub(crate) fn held(&self, which: SubQueue, token: &Uuid) -> Option<(i64, Option<String>)> {
        let q = match which {
            SubQueue::Main => &self.main,
            SubQueue::DeadLetter => &self.dead,
        };
        q.locked(token)
            .map(|s| (s.sequence_number, s.message.system.message_id.clone()))
    }

    /// Complete: the message is gone.
    pub(crate) fn complete(
        &mut self,
        which: SubQueue,
        token: &Uuid,
        now: OffsetDateTime,
        policy: Policy,
    ) -> Result<(), LockError> {
        self.housekeep(now, policy);
        let stored = self.queue(which).unlock(token).ok_or(LockError::NotHeld)?;
        self.bytes -= stored.message.size();
        Ok(())
    }

    /// Unlock (abandon): the message is available again, or dead-lettered when its
    /// deliveries are used up.
    pub(crate) fn abandon(
        &mut self,
        which: SubQueue,
        token: &Uuid,
        now: OffsetDateTime,
        policy: Policy,
    ) -> Result<(), LockError> {
        self.housekeep(now, policy);
        let stored = self.queue(which).unlock(token).ok_or(LockError::NotHeld)?;
        self.abandoned(which, stored, now, policy);
        Ok(())
    }

    /// Renew: the lock is held for another lock duration from now.
    pub(crate) fn renew(
        &mut self,
        which: SubQueue,
        token: &Uuid,
        now: OffsetDateTime,
        policy: Policy,
    ) -> Result<OffsetDateTime, LockError> {
        self.housekeep(now, policy);
        let until = policy.lock_duration.after(now).unwrap_or(now);
        if self.queue(which).renew(token, until) {
            Ok(until)
        } else {
            Err(LockError::NotHeld)
        }
    }

    pub(crate) fn next_due(&self) -> Option<OffsetDateTime> {
        self.main
            .next_due()
            .into_iter()
            .chain(self.dead.next_due())
            .min()
    }

    /// (active, dead-lettered, scheduled) message counts.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (
            self.main.active_count(),
            self.dead.active_count() + self.dead.scheduled_count(),
            self.main.scheduled_count(),
        )
    }

    pub(crate) fn lock_count(&self) -> usize {
        self.main.lock_count() + self.dead.lock_count()
    }
}

/// A message as stored when it arrives.
pub(crate) fn arrive(
    message: Arc<crate::message::Message>,
    sequence_number: i64,
    now: OffsetDateTime,
    default_ttl: TimeSpan,
) -> Stored {
    let enqueued_at = message
        .system
        .scheduled_enqueue_time
        .filter(|at| *at > now)
        .unwrap_or(now);
    // "If the TimeToLive of a message is longer than the entity's default, the default
    // applies" (the entity's DefaultMessageTimeToLive caps it).
    let time_to_live = message
        .system
        .time_to_live
        .map_or(default_ttl, |t| t.min(default_ttl));
    Stored {
        expires_at: time_to_live.after(enqueued_at),
        message,
        sequence_number,
        enqueued_at,
        time_to_live,
        delivery_count: 0,
        dead_letter: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, SystemProperties};
    use crate::properties::Properties;
    use time::Duration as Span;

    fn policy(max: u32, dead_letter_on_expiry: bool) -> Policy {
        Policy {
            lock_duration: TimeSpan::from_secs(30),
            max_delivery_count: max,
            dead_letter_on_expiry,
        }
    }

    fn message(ttl: Option<i64>, scheduled: Option<OffsetDateTime>) -> Arc<Message> {
        Arc::new(Message {
            body: "x".into(),
            content_type: None,
            system: SystemProperties {
                time_to_live: ttl.map(TimeSpan::from_secs),
                scheduled_enqueue_time: scheduled,
                ..SystemProperties::default()
            },
            properties: Properties::default(),
        })
    }

    fn queue_with(m: Arc<Message>, t0: OffsetDateTime) -> Messages {
        let mut q = Messages::new(1);
        let seq = q.next_sequence_number();
        q.enqueue(arrive(m, seq, t0, TimeSpan::MAX), t0);
        q
    }

    #[test]
    fn max_delivery_count_moves_to_the_dead_letter_queue() {
        // "Overview of Service Bus dead-letter queues": MaxDeliveryCountExceeded.
        let t0 = OffsetDateTime::now_utc();
        let p = policy(2, false);
        let mut q = queue_with(message(None, None), t0);
        let first = q.receive(SubQueue::Main, true, t0, p).unwrap();
        assert_eq!(first.stored.delivery_count, 1);
        // The lock runs out: that delivery counts; the message comes back.
        let later = t0 + Span::seconds(31);
        let second = q.receive(SubQueue::Main, true, later, p).unwrap();
        assert_eq!(second.stored.delivery_count, 2);
        let (token, _) = second.lock.unwrap();
        q.abandon(SubQueue::Main, &token, later, p).unwrap();
        assert!(q.receive(SubQueue::Main, true, later, p).is_none());
        let dead = q.receive(SubQueue::DeadLetter, false, later, p).unwrap();
        let why = dead.stored.dead_letter.unwrap();
        assert_eq!(why.reason, "MaxDeliveryCountExceeded");
        let (first_token, _) = first.lock.unwrap();
        assert_eq!(
            q.complete(SubQueue::Main, &first_token, later, p),
            Err(LockError::NotHeld)
        );
    }

    #[test]
    fn expiry_dead_letters_only_when_asked() {
        let t0 = OffsetDateTime::now_utc();
        let mut q = queue_with(message(Some(10), None), t0);
        q.housekeep(t0 + Span::seconds(11), policy(10, false));
        assert_eq!(q.counts(), (0, 0, 0), "dropped");
        let mut q = queue_with(message(Some(10), None), t0);
        q.housekeep(t0 + Span::seconds(11), policy(10, true));
        assert_eq!(q.counts(), (0, 1, 0));
        let dead = q
            .receive(
                SubQueue::DeadLetter,
                false,
                t0 + Span::seconds(12),
                policy(10, true),
            )
            .unwrap();
        assert_eq!(
            dead.stored.dead_letter.unwrap().reason,
            "TTLExpiredException"
        );
    }

    #[test]
    fn scheduled_messages_wait_for_their_time() {
        let t0 = OffsetDateTime::now_utc();
        let p = policy(10, false);
        let mut q = queue_with(message(None, Some(t0 + Span::seconds(60))), t0);
        assert_eq!(q.counts(), (0, 0, 1));
        assert!(q
            .receive(SubQueue::Main, true, t0 + Span::seconds(59), p)
            .is_none());
        assert_eq!(q.next_due(), Some(t0 + Span::seconds(60)));
        assert!(q
            .receive(SubQueue::Main, true, t0 + Span::seconds(60), p)
            .is_some());
    }

    #[test]
    fn expired_locks_are_forgotten() {
        // courier issue 10, item 14: the old stand-in never forgot expired locks.
        let t0 = OffsetDateTime::now_utc();
        let p = policy(1_000, false);
        let mut q = Messages::new(1);
        for _ in 0..100 {
            let seq = q.next_sequence_number();
            q.enqueue(arrive(message(None, None), seq, t0, TimeSpan::MAX), t0);
        }
        for _ in 0..100 {
            q.receive(SubQueue::Main, true, t0, p).unwrap();
        }
        assert_eq!(q.lock_count(), 100);
        q.housekeep(t0 + Span::seconds(31), p);
        assert_eq!(q.lock_count(), 0);
        assert_eq!(q.counts(), (100, 0, 0), "every message is back");
    }

    #[test]
    fn renewal_extends_from_now() {
        let t0 = OffsetDateTime::now_utc();
        let p = policy(10, false);
        let mut q = queue_with(message(None, None), t0);
        let (token, until) = q
            .receive(SubQueue::Main, true, t0, p)
            .unwrap()
            .lock
            .unwrap();
        assert_eq!(until, t0 + Span::seconds(30));
        let renewed = q
            .renew(SubQueue::Main, &token, t0 + Span::seconds(20), p)
            .unwrap();
        assert_eq!(renewed, t0 + Span::seconds(50));
        assert!(q
            .complete(SubQueue::Main, &token, t0 + Span::seconds(45), p)
            .is_ok());
    }
}
