//! One in-memory queue: visibility, delivery counts, redrive, FIFO groups, delay, TTL.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::event::attr;
use crate::filter::Filter;
use crate::message::Message;

/// How long a FIFO deduplication id is remembered (as on SQS and SNS).
pub(crate) const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// A message held by a queue.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) message: Arc<Message>,
    pub(crate) broker_id: String,
    pub(crate) enqueued_at: SystemTime,
    pub(crate) visible_at: Instant,
    pub(crate) expires_at: Option<Instant>,
    pub(crate) delivery_count: u32,
    /// The receipt of the current delivery, if one is out.
    pub(crate) token: Option<u64>,
}

impl Stored {
    pub(crate) fn new(message: Arc<Message>, broker_id: String, now: Instant) -> Self {
        let visible_at = later(now, message.delay.unwrap_or_default());
        let expires_at = message.time_to_live.map(|ttl| later(visible_at, ttl));
        Stored {
            message,
            broker_id,
            enqueued_at: SystemTime::now(),
            visible_at,
            expires_at,
            delivery_count: 0,
            token: None,
        }
    }
}

/// `at + by`, saturating far in the future instead of overflowing `Instant` (a delay or
/// time to live of 1e19 seconds must not panic).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by.min(crate::duration::FOREVER))
        .unwrap_or(at + Duration::from_secs(24 * 3600))
}

/// One message handed out by [`QueueState::take`].
pub(crate) struct Taken {
    pub(crate) seq: u64,
    pub(crate) token: u64,
    pub(crate) stored: Stored,
    pub(crate) locked_until: Instant,
}

/// Remembers FIFO deduplication keys for [`DEDUP_WINDOW`].
#[derive(Debug, Default)]
pub(crate) struct DedupWindow {
    seen: HashMap<Vec<u8>, String>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl DedupWindow {
    /// The broker id of an earlier message with this key, or records the key.
    pub(crate) fn check(&mut self, key: Vec<u8>, broker_id: &str, now: Instant) -> Option<String> {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < DEDUP_WINDOW {
                break;
            }
            let (_, old) = self.order.pop_front().expect("front exists");
            self.seen.remove(&old);
        }
        if let Some(id) = self.seen.get(&key) {
            return Some(id.clone());
        }
        self.seen.insert(key.clone(), broker_id.to_owned());
        self.order.push_back((now, key));
        None
    }
}

/// Settings of a queue that provisioning may change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueSettings {
    pub(crate) fifo: bool,
    pub(crate) content_based_deduplication: bool,
    /// `None` for a dead-letter queue: it never dead-letters further.
    pub(crate) max_receive_count: Option<u32>,
    pub(crate) visibility: Duration,
    pub(crate) filter: Option<Filter>,
}

/// A queue, a subscription's queue, or a dead-letter queue.
#[derive(Debug)]
pub(crate) struct QueueState {
    pub(crate) name: String,
    pub(crate) settings: QueueSettings,
    pub(crate) messages: BTreeMap<u64, Stored>,
    pub(crate) dedup: DedupWindow,
    pub(crate) notify: Arc<Notify>,
    /// The dead-letter queue; `None` for a dead-letter queue itself.
    pub(crate) dlq: Option<super::QueueRef>,
    next_seq: u64,
    next_token: u64,
}

impl QueueState {
    /// A queue with its dead-letter queue.
    pub(crate) fn with_dead_letter_queue(name: String, settings: QueueSettings) -> Self {
        let dlq_settings = QueueSettings {
            fifo: false,
            content_based_deduplication: false,
            max_receive_count: None,
            visibility: settings.visibility,
            filter: None,
        };
        let mut queue = Self::bare(name.clone(), settings);
        queue.dlq = Some(std::sync::Arc::new(parking_lot::Mutex::new(Self::bare(
            format!("{name} (dead-letter queue)"),
            dlq_settings,
        ))));
        queue
    }

    fn bare(name: String, settings: QueueSettings) -> Self {
        QueueState {
            name,
            settings,
            messages: BTreeMap::new(),
            dedup: DedupWindow::default(),
            notify: Arc::new(Notify::new()),
            dlq: None,
            next_seq: 0,
            next_token: 0,
        }
    }

    /// Moves a message to the dead-letter queue, recording why and where from.
    pub(crate) fn dead_letter(&mut self, mut stored: Stored, reason: String) {
        tracing::debug!(queue = %self.name, id = %stored.broker_id, %reason, "dead-lettering");
        let message = Arc::make_mut(&mut stored.message);
        message
            .attributes
            .insert(attr::DEAD_LETTER_REASON.into(), reason);
        message
            .attributes
            .insert(attr::DEAD_LETTER_SOURCE.into(), self.name.clone());
        message
            .attributes
            .insert(attr::DEAD_LETTERED_AT.into(), attr::dead_lettered_now());
        stored.delivery_count = 0;
        stored.token = None;
        stored.visible_at = Instant::now();
        stored.expires_at = None;
        if let Some(dlq) = &self.dlq {
            // Lock order: a queue, then its dead-letter queue (never the other way).
            dlq.lock().push(stored);
        }
        // A FIFO group may be unblocked now.
        self.notify.notify_waiters();
    }

    pub(crate) fn push(&mut self, stored: Stored) {
        self.messages.insert(self.next_seq, stored);
        self.next_seq += 1;
        self.notify.notify_waiters();
    }

    /// Hands out up to `max` visible messages, moving those past `max_receive_count` to
    /// the dead-letter queue. Also returns when the next invisible message becomes
    /// visible, for a waiting receiver.
    pub(crate) fn take(&mut self, max: usize, now: Instant) -> (Vec<Taken>, Option<Instant>) {
        let mut expired = Vec::new();
        let mut blocked: HashSet<String> = HashSet::new();
        let mut taken = Vec::with_capacity(max.min(self.messages.len()));
        let mut redrive = Vec::new();
        let mut next_visible: Option<Instant> = None;
        let fifo = self.settings.fifo;
        for (&seq, stored) in self.messages.iter_mut() {
            if taken.len() >= max {
                break;
            }
            if stored.expires_at.is_some_and(|t| t <= now) {
                expired.push(seq);
                continue;
            }
            let group = stored.message.group_id.clone().filter(|_| fifo);
            if let Some(g) = &group {
                if blocked.contains(g) {
                    continue;
                }
            }
            if stored.visible_at > now {
                next_visible =
                    Some(next_visible.map_or(stored.visible_at, |t| t.min(stored.visible_at)));
                if let Some(g) = group {
                    // FIFO: a group waits for its oldest message.
                    blocked.insert(g);
                }
                continue;
            }
            stored.delivery_count += 1;
            if self
                .settings
                .max_receive_count
                .is_some_and(|max| stored.delivery_count > max)
            {
                redrive.push(seq);
                continue;
            }
            self.next_token += 1;
            stored.token = Some(self.next_token);
            stored.visible_at = later(now, self.settings.visibility);
            taken.push(Taken {
                seq,
                token: self.next_token,
                stored: stored.clone(),
                locked_until: stored.visible_at,
            });
        }
        for seq in expired {
            if let Some(s) = self.messages.remove(&seq) {
                tracing::debug!(queue = %self.name, id = %s.broker_id, "message expired (time to live)");
            }
        }
        for seq in redrive {
            if let Some(s) = self.messages.remove(&seq) {
                let reason = format!(
                    "delivered {} times: max_receive_count ({}) exceeded",
                    s.delivery_count - 1,
                    self.settings.max_receive_count.unwrap_or_default()
                );
                self.dead_letter(s, reason);
            }
        }
        (taken, next_visible)
    }

    /// Counts by state at `now`: exact, as only this process holds the queue.
    pub(crate) fn depth(&self, now: Instant) -> crate::dead_letter::Depth {
        let (mut visible, mut in_flight, mut delayed) = (0, 0, 0);
        for s in self.messages.values() {
            if s.expires_at.is_some_and(|t| t <= now) {
                continue;
            }
            match (s.token.is_some(), s.visible_at > now) {
                (true, true) => in_flight += 1,
                (false, true) => delayed += 1,
                _ => visible += 1,
            }
        }
        let oldest = self.messages.values().map(|s| s.enqueued_at).min();
        crate::dead_letter::Depth::exact(visible, in_flight, delayed, oldest)
    }

    /// The message held under `token`, or why not.
    pub(crate) fn held(&mut self, seq: u64, token: u64) -> Result<&mut Stored, &'static str> {
        match self.messages.get_mut(&seq) {
            None => Err("the message is gone (settled by another delivery, or expired)"),
            Some(s) if s.token != Some(token) => Err("the message was delivered again since"),
            Some(s) => Ok(s),
        }
    }
}
