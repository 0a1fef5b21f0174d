//! SendMessage(Batch) to queues, Publish(Batch) to topics.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_sns::types::{MessageAttributeValue as SnsAttribute, PublishBatchRequestEntry};
use aws_sdk_sqs::types::{MessageAttributeValue as SqsAttribute, SendMessageBatchRequestEntry};
use courier_core::batch::{self, Slots};
use courier_core::duration::whole_seconds_up;
use courier_core::{Destination, Error, Message, Result};
use futures_util::stream::{self, StreamExt};

use crate::entities::{QueueInfo, TopicInfo};
use crate::error::{self, EntryFailure};
use crate::wire::{self, EncodedMessage};
use crate::{AwsBroker, MAX_DELAY};

/// Most entries of one SendMessageBatch / PublishBatch.
const BATCH_ENTRIES: usize = 10;
/// Batch calls in flight at once for one `publish_batch`.
const BATCH_CONCURRENCY: usize = 8;

/// One message checked and encoded for its destination: the parameters of one
/// SendMessage or Publish call, or of one entry of their batch forms.
pub(crate) struct Entry {
    pub(crate) encoded: EncodedMessage,
    pub(crate) group_id: Option<String>,
    pub(crate) dedup_id: Option<String>,
    pub(crate) delay_secs: Option<i32>,
}

/// A destination as looked up.
enum Target {
    Queue(Arc<QueueInfo>),
    Topic(Arc<TopicInfo>),
}

impl Target {
    async fn resolve(broker: &AwsBroker, destination: &Destination) -> Result<Target> {
        Ok(match destination {
            Destination::Queue(name) => Target::Queue(
                broker
                    .entities
                    .queue(name, &format!("queue '{name}'"))
                    .await?,
            ),
            Destination::Topic(name) => Target::Topic(broker.entities.topic(name).await?),
        })
    }

    fn entry(&self, m: &Message) -> Result<Entry> {
        match self {
            Target::Queue(q) => queue_entry(m, q),
            Target::Topic(t) => topic_entry(m, t),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Queue(q) => q.describe(),
            Target::Topic(t) => format!("topic '{}'", t.name),
        }
    }

    fn max_batch_bytes(&self) -> usize {
        match self {
            Target::Queue(_) => wire::SQS_MAX_MESSAGE_SIZE,
            Target::Topic(_) => wire::SNS_MAX_MESSAGE_SIZE,
        }
    }
}

/// The rules SQS and SNS share; `fifo` and `content_based_dedup` describe the destination.
fn entry(
    m: &Message,
    what: &str,
    fifo: bool,
    content_based_dedup: bool,
    limit: usize,
) -> Result<Entry> {
    if m.time_to_live.is_some() {
        return Err(Error::unsupported(format!(
            "time_to_live on {what}: SQS and SNS have no per-message expiry (set the queue's retention period instead)"
        )));
    }
    if !fifo && m.dedup_id.is_some() {
        return Err(Error::unsupported(format!(
            "dedup_id on {what}: deduplication needs a FIFO destination"
        )));
    }
    let (group_id, dedup_id) = if fifo {
        let group = m.group_id.clone().ok_or_else(|| {
            Error::invalid_input(format!("FIFO {what} needs a group_id on every message"))
        })?;
        let dedup = m.dedup_id.clone().or_else(|| m.message_id.clone());
        if dedup.is_none() && !content_based_dedup {
            return Err(Error::invalid_input(format!(
                "FIFO {what} needs a dedup_id or message_id (or content_based_deduplication)"
            )));
        }
        (Some(group), dedup)
    } else {
        (None, None)
    };
    let encoded = wire::encode(m, !fifo)?;
    encoded.check_size(limit)?;
    Ok(Entry {
        encoded,
        group_id,
        dedup_id,
        delay_secs: None,
    })
}

/// `m` checked and encoded for the queue `q` (SQS: delays of whole seconds, up to 15
/// minutes, not per message on FIFO queues).
pub(crate) fn queue_entry(m: &Message, q: &QueueInfo) -> Result<Entry> {
    let what = q.describe();
    let mut e = entry(
        m,
        &what,
        q.fifo,
        q.content_based_dedup,
        wire::SQS_MAX_MESSAGE_SIZE,
    )?;
    if let Some(delay) = m.delay.filter(|d| !d.is_zero()) {
        if delay > MAX_DELAY {
            return Err(Error::unsupported(format!(
                "a delay of {delay:?} on {what}: SQS delays a message by at most 15 minutes"
            )));
        }
        if q.fifo {
            return Err(Error::unsupported(format!(
                "a per-message delay on FIFO {what}: SQS FIFO queues only delay whole queues"
            )));
        }
        // Rounded up: a message never comes early.
        e.delay_secs = Some(i32::try_from(whole_seconds_up(delay)).unwrap_or(i32::MAX));
    }
    Ok(e)
}

/// `m` checked and encoded for the topic `t` (SNS cannot delay).
fn topic_entry(m: &Message, t: &TopicInfo) -> Result<Entry> {
    let what = format!("topic '{}'", t.name);
    if m.delay.is_some_and(|d| !d.is_zero()) {
        return Err(Error::unsupported(format!(
            "a delay on {what}: SNS cannot delay messages (publish to a queue, or delay in the consumer)"
        )));
    }
    entry(
        m,
        &what,
        t.fifo,
        t.content_based_dedup,
        wire::SNS_MAX_MESSAGE_SIZE,
    )
}

fn sqs_attributes(e: &EncodedMessage) -> Option<HashMap<String, SqsAttribute>> {
    let attributes: HashMap<String, SqsAttribute> = e
        .attributes
        .iter()
        .map(|a| {
            let v = SqsAttribute::builder()
                .data_type(a.data_type)
                .string_value(&a.value)
                .build()
                .expect("data type is set");
            (a.name.clone(), v)
        })
        .collect();
    Some(attributes).filter(|a| !a.is_empty())
}

fn sns_attributes(e: &EncodedMessage) -> Option<HashMap<String, SnsAttribute>> {
    let attributes: HashMap<String, SnsAttribute> = e
        .attributes
        .iter()
        .map(|a| {
            let v = SnsAttribute::builder()
                .data_type(a.data_type)
                .string_value(&a.value)
                .build()
                .expect("data type is set");
            (a.name.clone(), v)
        })
        .collect();
    Some(attributes).filter(|a| !a.is_empty())
}

/// Sends one entry to a queue; returns the SQS message id.
pub(crate) async fn send(broker: &AwsBroker, q: &QueueInfo, e: Entry) -> Result<String> {
    let out = broker
        .sqs
        .send_message()
        .queue_url(&q.url)
        .set_message_attributes(sqs_attributes(&e.encoded))
        .message_body(e.encoded.body)
        .set_delay_seconds(e.delay_secs)
        .set_message_group_id(e.group_id)
        .set_message_deduplication_id(e.dedup_id)
        .send()
        .await
        .map_err(|err| error::map("SendMessage", &q.describe(), err))?;
    Ok(out.message_id.unwrap_or_default())
}

/// Publishes one entry to a topic; returns the SNS message id.
async fn publish_to_topic(broker: &AwsBroker, t: &TopicInfo, e: Entry) -> Result<String> {
    let out = broker
        .sns
        .publish()
        .topic_arn(&t.arn)
        .set_message_attributes(sns_attributes(&e.encoded))
        .message(e.encoded.body)
        .set_message_group_id(e.group_id)
        .set_message_deduplication_id(e.dedup_id)
        .send()
        .await
        .map_err(|err| error::map("Publish", &format!("topic '{}'", t.name), err))?;
    Ok(out.message_id.unwrap_or_default())
}

/// Publishes one message; returns the broker's message id.
pub(crate) async fn publish(
    broker: &AwsBroker,
    destination: &Destination,
    m: Message,
) -> Result<String> {
    match Target::resolve(broker, destination).await? {
        Target::Queue(q) => send(broker, &q, queue_entry(&m, &q)?).await,
        Target::Topic(t) => publish_to_topic(broker, &t, topic_entry(&m, &t)?).await,
    }
}

/// Publishes messages in batch calls of up to 10 (and the size limit), several at once;
/// one result per message, in order.
pub(crate) async fn publish_batch(
    broker: &AwsBroker,
    destination: &Destination,
    messages: Vec<Message>,
) -> Result<Vec<Result<String>>> {
    let target = Target::resolve(broker, destination).await?;
    let mut slots = Slots::new(messages.len());
    let mut ready = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match target.entry(m) {
            Ok(e) => ready.push((i, e)),
            Err(e) => slots.fill(i, Err(e)),
        }
    }
    let batches = batch::split(ready, BATCH_ENTRIES, target.max_batch_bytes(), |e| {
        e.encoded.size()
    });
    let target = &target;
    let mut answered = stream::iter(batches)
        .map(|entries| async move {
            match target {
                Target::Queue(q) => send_batch(broker, q, entries).await,
                Target::Topic(t) => publish_topic_batch(broker, t, entries).await,
            }
        })
        .buffer_unordered(BATCH_CONCURRENCY);
    while let Some(batch) = answered.next().await {
        batch.record(&mut slots);
    }
    Ok(slots.into_results(&target.describe()))
}

/// What one batch call answered, by index in the caller's batch.
enum BatchAnswer {
    /// Entry by entry.
    Entries(Vec<(usize, Result<String>)>),
    /// The call failed as a whole: one error for all of these entries.
    Failed(Vec<usize>, Error),
}

impl BatchAnswer {
    fn record(self, slots: &mut Slots<String>) {
        match self {
            BatchAnswer::Entries(entries) => {
                for (i, r) in entries {
                    slots.fill(i, r);
                }
            }
            BatchAnswer::Failed(indexes, e) => slots.fail_all(&indexes, e),
        }
    }
}

/// A failed entry's error (its id is its index in the caller's batch).
fn failed_entry(
    operation: &str,
    what: &str,
    id: &str,
    failure: EntryFailure,
) -> Option<(usize, Result<String>)> {
    let i = id.parse().ok()?;
    Some((i, Err(failure.into_error(operation, what))))
}

async fn send_batch(
    broker: &AwsBroker,
    q: &QueueInfo,
    entries: Vec<(usize, Entry)>,
) -> BatchAnswer {
    let what = q.describe();
    let indexes: Vec<usize> = entries.iter().map(|(i, _)| *i).collect();
    let entries: Vec<SendMessageBatchRequestEntry> = entries
        .into_iter()
        .map(|(i, e)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_message_attributes(sqs_attributes(&e.encoded))
                .message_body(e.encoded.body)
                .set_delay_seconds(e.delay_secs)
                .set_message_group_id(e.group_id)
                .set_message_deduplication_id(e.dedup_id)
                .build()
                .expect("id and body are set")
        })
        .collect();
    let call = broker
        .sqs
        .send_message_batch()
        .queue_url(&q.url)
        .set_entries(Some(entries))
        .send()
        .await;
    match call {
        Ok(out) => {
            let ok = out
                .successful
                .into_iter()
                .filter_map(|s| Some((s.id.parse().ok()?, Ok(s.message_id))));
            let failed = out.failed.into_iter().filter_map(|f| {
                let failure = EntryFailure {
                    code: f.code,
                    message: f.message,
                    sender_fault: f.sender_fault,
                };
                failed_entry("SendMessageBatch", &what, &f.id, failure)
            });
            BatchAnswer::Entries(ok.chain(failed).collect())
        }
        Err(e) => BatchAnswer::Failed(indexes, error::map("SendMessageBatch", &what, e)),
    }
}

async fn publish_topic_batch(
    broker: &AwsBroker,
    t: &TopicInfo,
    entries: Vec<(usize, Entry)>,
) -> BatchAnswer {
    let what = format!("topic '{}'", t.name);
    let indexes: Vec<usize> = entries.iter().map(|(i, _)| *i).collect();
    let entries: Vec<PublishBatchRequestEntry> = entries
        .into_iter()
        .map(|(i, e)| {
            PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .set_message_attributes(sns_attributes(&e.encoded))
                .message(e.encoded.body)
                .set_message_group_id(e.group_id)
                .set_message_deduplication_id(e.dedup_id)
                .build()
                .expect("id and message are set")
        })
        .collect();
    let call = broker
        .sns
        .publish_batch()
        .topic_arn(&t.arn)
        .set_publish_batch_request_entries(Some(entries))
        .send()
        .await;
    match call {
        Ok(out) => {
            let ok = out
                .successful
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| Some((s.id?.parse().ok()?, Ok(s.message_id.unwrap_or_default()))));
            let failed = out.failed.unwrap_or_default().into_iter().filter_map(|f| {
                let failure = EntryFailure {
                    code: f.code,
                    message: f.message,
                    sender_fault: f.sender_fault,
                };
                failed_entry("PublishBatch", &what, &f.id, failure)
            });
            BatchAnswer::Entries(ok.chain(failed).collect())
        }
        Err(e) => BatchAnswer::Failed(indexes, error::map("PublishBatch", &what, e)),
    }
}
