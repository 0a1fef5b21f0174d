//! The operator's calls on Service Bus: how deep an entity is (its description's
//! `CountDetails`), putting a message back on a queue, and the reply queues of
//! request-response (queues that delete themselves when abandoned: `AutoDeleteOnIdle`).

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;

use courier_core::request::ReplyQueue;
use courier_core::{Depth, Destination, Entity, Error, Message, Result, Source};

use crate::provision::{self, atom::SERVICE_BUS_COUNTS_NS};
use crate::rest::RestClient;
use crate::send;

/// An abandoned reply queue is deleted after this long without use (Service Bus's
/// shortest `AutoDeleteOnIdle`).
const REPLY_QUEUE_IDLE_SECS: u64 = 300;

/// A count of `CountDetails`, if the entry has it.
fn count(entry: &str, name: &str) -> Option<u64> {
    let doc = roxmltree::Document::parse(entry).ok()?;
    doc.descendants()
        .find(|n| n.has_tag_name((SERVICE_BUS_COUNTS_NS, name)))
        .and_then(|n| n.text())
        .and_then(|t| t.trim().parse().ok())
}

/// The management path of the entity behind `source`.
fn entity_path(source: &Source) -> String {
    match source.entity() {
        Entity::Queue(q) => q.clone(),
        Entity::Subscription { topic, name } => format!("{topic}/subscriptions/{name}"),
    }
}

/// The counts Service Bus keeps (`CountDetails` of the entity description): active, which
/// counts ready *and* locked messages as one figure (so [`Depth::active`], with `visible`
/// and `in_flight` unknown), and scheduled; or the dead-letter count for a dead-letter
/// queue, which likewise includes locked dead letters.
pub(crate) async fn depth(rest: &RestClient, source: &Source) -> Result<Depth> {
    let path = entity_path(source);
    let target = source.to_string();
    let entry = provision::management::get(rest, &path, &target)
        .await?
        .ok_or_else(|| Error::not_found(target.clone()))?;
    if source.is_dead_letter() {
        let dead = count(&entry, "DeadLetterMessageCount");
        return Ok(Depth::unsplit(dead, Some(0), None));
    }
    Ok(Depth::unsplit(
        count(&entry, "ActiveMessageCount"),
        count(&entry, "ScheduledMessageCount"),
        None,
    ))
}

/// The subscriptions whose rules were seen to admit messages addressed to them, as
/// `topic/subscription` (checked once per broker).
#[derive(Debug, Default)]
pub(crate) struct Addressable(Mutex<BTreeSet<String>>);

/// Puts `message` back on a queue, or on one subscription: Service Bus cannot send to a
/// subscription, so it goes to the topic addressed to that subscription, which courier's
/// rules admit there and refuse everywhere else (see [`crate::sql`]). The subscription's
/// rule is checked first (once per broker), so that a topology provisioned by an older
/// courier is refused rather than redelivered to every subscription.
pub(crate) async fn resubmit(
    rest: &Arc<RestClient>,
    addressable: &Addressable,
    source: &Source,
    message: Message,
) -> Result<String> {
    if source.is_dead_letter() {
        return Err(Error::invalid_input(format!(
            "resubmitting to {source}: a message goes back to a queue or subscription, not to a dead-letter queue"
        )));
    }
    // An entity with duplicate detection would accept a copy with the first send's
    // MessageId and drop it ("Duplicate detection"), after which the dead letter is
    // deleted: the copy is a new message to the service (its event id, `ce_id`, is kept).
    let mut message = message;
    message.message_id = Some(format!("redrive-{}", uuid::Uuid::new_v4().simple()));
    match source.entity() {
        Entity::Queue(q) => send::one(rest, &Destination::queue(q), &message).await,
        Entity::Subscription { topic, name } => {
            let key = format!("{topic}/{}", crate::sql::address(name));
            if !addressable.0.lock().contains(&key) {
                provision::rule::check_addressable(rest, topic, name).await?;
                addressable.0.lock().insert(key);
            }
            send::to_subscription(rest, topic, name, &message).await
        }
    }
}

/// A new queue of this requester's own, deleted by the service once idle for five minutes.
pub(crate) async fn create_reply_queue(rest: &RestClient) -> Result<ReplyQueue> {
    let name = format!("courier-reply-{}", uuid::Uuid::new_v4().simple());
    provision::create_queue(rest, &name, REPLY_QUEUE_IDLE_SECS).await?;
    Ok(ReplyQueue {
        source: Source::queue(&name),
        address: name,
    })
}

/// Deletes a reply queue.
pub(crate) async fn delete_reply_queue(rest: &RestClient, queue: &ReplyQueue) -> Result<()> {
    let target = format!("reply queue '{}'", queue.address);
    if provision::management::delete(rest, &queue.address, &target).await? {
        Ok(())
    } else {
        Err(Error::not_found(target))
    }
}
