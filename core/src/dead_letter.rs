//! Operating dead-letter queues: what is stuck and why ([`Broker::peek_dead_letters`]),
//! putting it back once the bug is fixed ([`Broker::redrive_dead_letters`]), clearing it
//! ([`Broker::purge_dead_letters`]), and how deep each queue is ([`Broker::depth`]).
//!
//! The defaults here work on every backend through receive, [`Broker::resubmit`] and
//! settlement; a backend with a native operation (SQS `StartMessageMoveTask`) overrides
//! them. A redrive sends first and removes from the dead-letter queue second: a crash in
//! between duplicates a message, never loses one. The dead-letter reason, source and time
//! are dropped from a redriven message (it starts a new life with a delivery count of 1);
//! body, attributes, content type and ids are unchanged.

use std::time::{Duration, SystemTime};

use crate::broker::Broker;
use crate::delivery::Delivery;
use crate::error::{display_chain, Error, Result};
use crate::event::attr;
use crate::message::{Message, Source};

/// How long one receive of these operations waits for a dead-letter queue to answer.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// How many messages a queue or subscription holds, as far as the backend knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Depth {
    /// Ready to be received.
    pub visible: Option<u64>,
    /// Received and not yet settled (locked, invisible).
    pub in_flight: Option<u64>,
    /// Delayed or scheduled for later.
    pub delayed: Option<u64>,
    /// Ready and in flight together, where the backend counts only their sum (Service
    /// Bus's `ActiveMessageCount` includes locked messages); `visible` and `in_flight` are
    /// then `None`.
    pub active: Option<u64>,
    /// When the oldest message was enqueued, where the backend says.
    pub oldest: Option<SystemTime>,
}

impl Depth {
    /// Counts where every figure is known.
    pub fn exact(visible: u64, in_flight: u64, delayed: u64, oldest: Option<SystemTime>) -> Self {
        Depth {
            visible: Some(visible),
            in_flight: Some(in_flight),
            delayed: Some(delayed),
            active: None,
            oldest,
        }
    }

    /// Counts of a backend that knows ready and in-flight messages only as one sum.
    pub fn unsplit(active: Option<u64>, delayed: Option<u64>, oldest: Option<SystemTime>) -> Self {
        Depth {
            visible: None,
            in_flight: None,
            delayed,
            active,
            oldest,
        }
    }

    /// Counts as far as known: any figure may be `None`.
    pub fn approximate(
        visible: Option<u64>,
        in_flight: Option<u64>,
        delayed: Option<u64>,
        oldest: Option<SystemTime>,
    ) -> Self {
        Depth {
            visible,
            in_flight,
            delayed,
            active: None,
            oldest,
        }
    }

    /// Ready and in flight together (not delayed): `active`, or `visible + in_flight`
    /// where the backend counts them apart; `None` when neither is known.
    pub fn held(&self) -> Option<u64> {
        match (self.active, self.visible, self.in_flight) {
            (Some(a), _, _) => Some(a),
            (None, None, None) => None,
            (None, v, f) => Some(v.unwrap_or(0) + f.unwrap_or(0)),
        }
    }

    /// Every message known, visible or not.
    pub fn total(&self) -> u64 {
        self.held().unwrap_or(0) + self.delayed.unwrap_or(0)
    }
}

/// One message of a dead-letter queue, as [`Broker::peek_dead_letters`] shows it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The message as it lies in the dead-letter queue.
    pub message: Message,
    /// The broker's id of it.
    pub broker_message_id: String,
    /// Deliveries so far (in the dead-letter queue, peeks included).
    pub delivery_count: u32,
    /// Why it was dead-lettered, when recorded (courier's reason or the broker's).
    pub reason: Option<String>,
    /// When it was dead-lettered, when recorded.
    pub dead_lettered_at: Option<SystemTime>,
    /// When the broker enqueued it, when it says.
    pub enqueued_at: Option<SystemTime>,
    /// The event type, if it is an event.
    pub event_type: Option<String>,
    /// The event id, if it is an event.
    pub event_id: Option<String>,
}

impl DeadLetter {
    fn of(d: &Delivery) -> Self {
        DeadLetter {
            message: d.message().clone(),
            broker_message_id: d.info().broker_message_id.clone(),
            delivery_count: d.delivery_count(),
            reason: d.dead_letter_reason().map(str::to_owned),
            dead_lettered_at: d.dead_lettered_at(),
            enqueued_at: d.info().enqueued_at,
            event_type: d.event_type().map(|t| t.into_owned()),
            event_id: d.event_id().map(|t| t.into_owned()),
        }
    }
}

/// What a redrive should move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveOptions {
    /// Move at most this many (all, when `None`).
    pub max: Option<usize>,
    /// Move only events of this type.
    pub event_type: Option<String>,
    /// Count what would move, move nothing.
    pub dry_run: bool,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Moved back (or, in a dry run, that would be).
    pub moved: u64,
    /// Left in the dead-letter queue because they did not match the options.
    pub skipped: u64,
    /// Could not be moved, with why (they stay in the dead-letter queue).
    pub failed: Vec<(String, String)>,
    /// How the backend moved them, e.g. `receive-send-delete`.
    pub method: String,
}

/// Attributes a dead-letter queue adds, dropped when a message goes back.
const DEAD_LETTER_ATTRIBUTES: [&str; 3] = [
    attr::DEAD_LETTER_REASON,
    attr::DEAD_LETTER_SOURCE,
    attr::DEAD_LETTERED_AT,
];

/// The message to send back: as it was, without what the dead-letter queue added.
pub fn returning(message: &Message) -> Message {
    let mut back = message.clone();
    for name in DEAD_LETTER_ATTRIBUTES {
        back.attributes.remove(name);
    }
    back.delay = None;
    back.time_to_live = None;
    back
}

fn dead_letter_queue_of(source: &Source) -> Result<Source> {
    if source.is_dead_letter() {
        return Err(Error::invalid_input(format!(
            "{source}: name the queue or subscription itself; its dead-letter queue is implied"
        )));
    }
    Ok(source.dead_letter())
}

/// One pass over a dead-letter queue. The messages it holds (skipped, peeked, failed to
/// move) are not extended: when a pass outlasts their lock or visibility timeout they
/// come back, and receiving would go round for ever. A message seen before ends the pass.
#[derive(Default)]
struct Pass {
    seen: std::collections::HashSet<String>,
    wrapped: bool,
}

impl Pass {
    /// Whether `d` is new to this pass; a message seen before marks the pass as done.
    fn first_time(&mut self, d: &Delivery) -> bool {
        let new = self.seen.insert(d.info().broker_message_id.clone());
        self.wrapped |= !new;
        new
    }
}

/// Gives deliveries back at once (they were only looked at).
async fn release(held: Vec<Delivery>) {
    for d in held {
        if let Err(e) = d.nack(Duration::ZERO).await {
            // Not lost: it comes back when its visibility timeout or lock ends.
            tracing::debug!(error = %display_chain(&e.error), "could not release a peeked message");
        }
    }
}

/// Receives the next batch of a dead-letter queue, at most `left`.
async fn next_batch<B: Broker + ?Sized>(
    broker: &B,
    dlq: &Source,
    left: usize,
) -> Result<Vec<Delivery>> {
    broker.receive(dlq, left.clamp(1, 10), DRAIN_WAIT).await
}

/// The default [`Broker::peek_dead_letters`].
pub async fn peek<B: Broker + ?Sized>(
    broker: &B,
    source: &Source,
    max: usize,
) -> Result<Vec<DeadLetter>> {
    let dlq = dead_letter_queue_of(source)?;
    let mut held = Vec::new();
    let mut seen = Vec::new();
    let mut pass = Pass::default();
    while seen.len() < max {
        let batch = match next_batch(broker, &dlq, max - seen.len()).await {
            Ok(batch) => batch,
            Err(e) => {
                release(held).await;
                return Err(e);
            }
        };
        if batch.is_empty() {
            break;
        }
        for d in batch {
            if pass.first_time(&d) {
                seen.push(DeadLetter::of(&d));
            }
            held.push(d); // held until the end, so the next receive sees the next ones
        }
        if pass.wrapped {
            break;
        }
    }
    release(held).await;
    Ok(seen)
}

/// The default [`Broker::redrive_dead_letters`]: receive, resubmit, delete.
pub async fn redrive<B: Broker + ?Sized>(
    broker: &B,
    source: &Source,
    options: &RedriveOptions,
) -> Result<RedriveReport> {
    let dlq = dead_letter_queue_of(source)?;
    let mut report = RedriveReport {
        method: "receive-send-delete".into(),
        ..RedriveReport::default()
    };
    let max = options.max.unwrap_or(usize::MAX);
    let mut held = Vec::new();
    let mut pass = Pass::default();
    while (report.moved as usize) < max && !pass.wrapped {
        let left = max - report.moved as usize;
        let batch = match next_batch(broker, &dlq, left).await {
            Ok(batch) => batch,
            Err(e) => {
                release(held).await;
                return Err(e);
            }
        };
        if batch.is_empty() {
            break;
        }
        for d in batch {
            if !pass.first_time(&d) {
                held.push(d);
                continue;
            }
            let wanted = options
                .event_type
                .as_deref()
                .is_none_or(|t| d.event_type().as_deref() == Some(t));
            if !wanted || (report.moved as usize) >= max {
                report.skipped += u64::from(!wanted);
                held.push(d);
                continue;
            }
            if options.dry_run {
                report.moved += 1;
                held.push(d);
                continue;
            }
            if let Some(d) = move_back(broker, source, d, &mut report).await {
                held.push(d);
            }
        }
    }
    release(held).await;
    Ok(report)
}

/// Sends one dead letter back, then removes it; hands it back when it stays.
async fn move_back<B: Broker + ?Sized>(
    broker: &B,
    source: &Source,
    d: Delivery,
    report: &mut RedriveReport,
) -> Option<Delivery> {
    let id = d.info().broker_message_id.clone();
    if let Err(e) = broker.resubmit(source, returning(d.message())).await {
        report.failed.push((id, display_chain(&e)));
        return Some(d);
    }
    match d.ack().await {
        Ok(()) => {
            report.moved += 1;
            None
        }
        // Sent but not removed: it will be redriven again (a duplicate, never a loss).
        Err(e) => {
            report.moved += 1;
            report.failed.push((
                id,
                format!(
                    "sent back, but not removed from the dead-letter queue ({}): it may be sent again",
                    display_chain(&e.error)
                ),
            ));
            None
        }
    }
}

/// The default [`Broker::purge_dead_letters`]: receive and delete until empty.
pub async fn purge<B: Broker + ?Sized>(broker: &B, source: &Source) -> Result<u64> {
    let dlq = dead_letter_queue_of(source)?;
    let mut purged = 0;
    loop {
        let batch = next_batch(broker, &dlq, 10).await?;
        if batch.is_empty() {
            return Ok(purged);
        }
        for d in batch {
            d.ack().await?;
            purged += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RedriveOptions;
    use crate::topology::{QueueSpec, Topology};
    use crate::{Broker, Consumer, Destination, Event, MemoryBroker, PublisherExt, Source};

    /// Skipped dead letters are held without extending them: with a visibility timeout
    /// shorter than a receive's wait they come back during the pass, which must end
    /// instead of going round for ever.
    #[tokio::test(start_paused = true)]
    async fn a_pass_that_outlasts_the_visibility_timeout_ends() {
        let mut spec = QueueSpec::new("short");
        spec.visibility_timeout_secs = 1;
        let broker = MemoryBroker::with_topology(&Topology {
            queues: vec![spec],
            ..Topology::default()
        })
        .await
        .unwrap();
        let (src, dest) = (Source::queue("short"), Destination::queue("short"));
        for n in 0..3 {
            let e = Event::new("/t", "OrderCreated", serde_json::json!({ "n": n }));
            broker.publish_event(&dest, &e).await.unwrap();
        }
        for d in broker.receive(&src, 10, Duration::ZERO).await.unwrap() {
            d.dead_letter("bad").await.unwrap();
        }
        let only_other_types = RedriveOptions {
            event_type: Some("OrderCancelled".into()),
            ..RedriveOptions::default()
        };
        let report = tokio::time::timeout(
            Duration::from_secs(600),
            broker.redrive_dead_letters(&src, &only_other_types),
        )
        .await
        .expect("the pass ends")
        .unwrap();
        assert_eq!((report.moved, report.skipped), (0, 3), "{report:?}");
        let peeked = tokio::time::timeout(
            Duration::from_secs(600),
            broker.peek_dead_letters(&src, 100),
        )
        .await
        .expect("the peek ends")
        .unwrap();
        assert_eq!(peeked.len(), 3, "each dead letter shown once");
    }
}
