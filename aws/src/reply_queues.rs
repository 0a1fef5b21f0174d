//! A requester's own reply queue on SQS, and the clean-up of those left behind.
//!
//! Each [`Requester`](courier_core::request::Requester) gets a standard queue named
//! `courier-reply-<32 hex digits>`, tagged when made
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html>,
//! `tags`): `courier:role` = `reply-queue`, `courier:created` and `courier:heartbeat`
//! (Unix seconds). While it lives, the broker that made it refreshes `courier:heartbeat`
//! every [`HEARTBEAT_EVERY`] (`TagQueue`); the requester's shutdown deletes it. A process
//! that was killed leaves its queue behind with a heartbeat that no longer moves:
//! [`AwsBroker::clean_reply_queues`] (`courier reply-queues clean`) lists the queues with
//! the prefix and deletes those whose heartbeat is older than the idle time it is given.
//!
//! This is the idle-queue part of AWS's Temporary Queue Client (queues with a name prefix,
//! a heartbeat tag, a sweeper that deletes idle ones) as an explicit command run by an
//! operator or a schedule, not a sweeper inside every client; its virtual queues (many
//! requesters multiplexed on one host queue) are not needed: one requester already
//! multiplexes all its requests on one queue by correlation id.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_core::request::ReplyQueue;
use courier_core::{display_chain, Error, Result, Source};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use crate::{error, names, AwsBroker};

/// The name prefix of every reply queue.
pub const REPLY_QUEUE_PREFIX: &str = "courier-reply-";
/// Tag marking a queue as a courier reply queue (value [`ROLE`]).
pub const TAG_ROLE: &str = "courier:role";
/// The value of [`TAG_ROLE`] on reply queues.
pub const ROLE: &str = "reply-queue";
/// Tag: when the queue was made (Unix seconds).
pub const TAG_CREATED: &str = "courier:created";
/// Tag: when its requester last said it is alive (Unix seconds).
pub const TAG_HEARTBEAT: &str = "courier:heartbeat";
/// How often a live requester's broker refreshes [`TAG_HEARTBEAT`]. An idle time for the
/// clean-up must be well above it.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(60);

/// The heartbeat tasks of the reply queues a broker made, by URL; stopped when the queue
/// is deleted or the last clone of the broker is dropped.
#[derive(Default)]
pub(crate) struct Heartbeats {
    tasks: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        for (_, task) in self.tasks.get_mut().drain() {
            task.abort();
        }
    }
}

/// What [`AwsBroker::clean_reply_queues`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyQueueSweep {
    /// Reply queues idle longer than asked, deleted (URLs).
    pub deleted: Vec<String>,
    /// Reply queues whose requester is alive, kept.
    pub alive: Vec<String>,
    /// Queues with the prefix but without courier's tags: not courier's, left alone.
    pub foreign: Vec<String>,
    /// Queues that could not be checked or deleted, with why.
    pub failed: Vec<(String, String)>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// [`Broker::create_reply_queue`](courier_core::Broker::create_reply_queue) on SQS.
pub(crate) async fn create(broker: &AwsBroker) -> Result<ReplyQueue> {
    let name = format!("{REPLY_QUEUE_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let what = format!("reply queue '{name}'");
    let now = unix_now().to_string();
    let out = broker
        .sqs
        .create_queue()
        .queue_name(&name)
        .tags(TAG_ROLE, ROLE)
        .tags(TAG_CREATED, &now)
        .tags(TAG_HEARTBEAT, &now)
        .send()
        .await
        .map_err(|e| error::map("CreateQueue", &what, e))?;
    let url = out
        .queue_url
        .ok_or_else(|| Error::backend(format!("CreateQueue of {what} answered no URL")))?;
    let task = tokio::spawn(beat(
        broker.sqs.clone(),
        url.clone(),
        broker.reply_heartbeat,
    ));
    if let Some(old) = broker.heartbeats.tasks.lock().insert(url.clone(), task) {
        old.abort();
    }
    Ok(ReplyQueue {
        source: Source::queue(name),
        address: url,
    })
}

/// Refreshes the heartbeat tag of the queue at `url` until stopped or the queue is gone.
async fn beat(sqs: aws_sdk_sqs::Client, url: String, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let tagged = sqs
            .tag_queue()
            .queue_url(&url)
            .tags(TAG_HEARTBEAT, unix_now().to_string())
            .send()
            .await;
        if let Err(e) = tagged {
            let e = error::map("TagQueue", &format!("reply queue {url}"), e);
            if e.is_not_found() {
                return;
            }
            tracing::warn!(error = %display_chain(&e), "could not refresh a reply queue's heartbeat");
        }
    }
}

/// [`Broker::delete_reply_queue`](courier_core::Broker::delete_reply_queue) on SQS.
pub(crate) async fn delete(broker: &AwsBroker, queue: &ReplyQueue) -> Result<()> {
    if let Some(task) = broker.heartbeats.tasks.lock().remove(&queue.address) {
        task.abort();
    }
    let name = names::queue_name_of_url(&queue.address).unwrap_or(&queue.address);
    if !name.starts_with(REPLY_QUEUE_PREFIX) {
        return Err(Error::invalid_input(format!(
            "'{}' is not a reply queue (its name does not start with {REPLY_QUEUE_PREFIX})",
            queue.address
        )));
    }
    broker.entities.forget_queue(name);
    broker.entities.forget_queue(&queue.address);
    broker
        .sqs
        .delete_queue()
        .queue_url(&queue.address)
        .send()
        .await
        .map(drop)
        .map_err(|e| error::map("DeleteQueue", &format!("reply queue '{name}'"), e))
}

impl AwsBroker {
    /// Deletes the reply queues whose requester has not refreshed their heartbeat for
    /// `idle` (left behind by a process that was killed); keeps live ones and queues that
    /// only share the name prefix. `idle` should be well above [`HEARTBEAT_EVERY`].
    pub async fn clean_reply_queues(&self, idle: Duration) -> Result<ReplyQueueSweep> {
        let mut sweep = ReplyQueueSweep::default();
        let what = format!("queues named {REPLY_QUEUE_PREFIX}*");
        let mut pages = self
            .sqs
            .list_queues()
            .queue_name_prefix(REPLY_QUEUE_PREFIX)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut urls = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error::map("ListQueues", &what, e))?;
            urls.extend(page.queue_urls.unwrap_or_default());
        }
        let now = unix_now();
        for url in urls {
            match self.reply_queue_heartbeat(&url).await {
                Ok(None) => sweep.foreign.push(url),
                Ok(Some(beat)) if now.saturating_sub(beat) < idle.as_secs() => {
                    sweep.alive.push(url)
                }
                Ok(Some(_)) => match self.sqs.delete_queue().queue_url(&url).send().await {
                    Ok(_) => sweep.deleted.push(url),
                    Err(e) => {
                        let e = error::map("DeleteQueue", &url, e);
                        if e.is_not_found() {
                            continue; // deleted meanwhile (its requester shut down)
                        }
                        sweep.failed.push((url, display_chain(&e)));
                    }
                },
                Err(e) if e.is_not_found() => {}
                Err(e) => sweep.failed.push((url, display_chain(&e))),
            }
        }
        Ok(sweep)
    }

    /// The last heartbeat of a reply queue (its creation time if it never beat), or
    /// `None` when the queue is not tagged as courier's.
    async fn reply_queue_heartbeat(&self, url: &str) -> Result<Option<u64>> {
        let tags = self
            .sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| error::map("ListQueueTags", url, e))?
            .tags
            .unwrap_or_default();
        if tags.get(TAG_ROLE).map(String::as_str) != Some(ROLE) {
            return Ok(None);
        }
        let read = |tag: &str| tags.get(tag).and_then(|v| v.parse::<u64>().ok());
        // Tagged as ours but with no readable time: idle since forever.
        Ok(Some(
            read(TAG_HEARTBEAT)
                .or_else(|| read(TAG_CREATED))
                .unwrap_or(0),
        ))
    }
}
