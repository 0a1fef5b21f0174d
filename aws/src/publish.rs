//! SendMessage(Batch) to queues, Publish(Batch) to topics.

use std::collections::{HashMap, HashSet};
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

/// Publishes messages in batch calls of up to 10 (and the size limit), several at once
/// except where they share a FIFO group ([`chains`]); one result per message, in order.
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
    let mut answered = stream::iter(chains(batches))
        .map(|chain| send_chain(broker, target, chain))
        .buffer_unordered(BATCH_CONCURRENCY);
    while let Some(answers) = answered.next().await {
        for answer in answers {
            answer.record(&mut slots);
        }
    }
    Ok(slots.into_results(&target.describe()))
}

/// Batches of entries with their index in the caller's batch.
type Batch = Vec<(usize, Entry)>;

/// Groups batches into chains that are sent one batch after another: batches that share
/// a FIFO message group are in one chain, in the caller's order, so that a later chunk of
/// a group never overtakes an earlier one; batches without a shared group (every batch
/// of a standard destination) are chains of their own and go concurrently.
fn chains(batches: Vec<Batch>) -> Vec<Vec<Batch>> {
    // Union-find over batch positions, joined through the groups they carry.
    let mut parent: Vec<usize> = (0..batches.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut last_with_group: HashMap<&str, usize> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        for group in batch.iter().filter_map(|(_, e)| e.group_id.as_deref()) {
            if let Some(&earlier) = last_with_group.get(group) {
                let (x, y) = (root(&mut parent, earlier), root(&mut parent, b));
                parent[x.max(y)] = x.min(y);
            }
            last_with_group.insert(group, b);
        }
    }
    let roots: Vec<usize> = (0..batches.len()).map(|b| root(&mut parent, b)).collect();
    let mut chains: Vec<Vec<Batch>> = Vec::new();
    let mut chain_of_root: HashMap<usize, usize> = HashMap::new();
    for (batch, r) in batches.into_iter().zip(roots) {
        let c = *chain_of_root.entry(r).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[c].push(batch);
    }
    chains
}

/// Sends the batches of one chain in order. An entry of a FIFO group that already failed
/// in this chain is not sent (it would overtake the failed one): it fails as transient,
/// to be retried after the earlier one.
async fn send_chain(broker: &AwsBroker, target: &Target, chain: Vec<Batch>) -> Vec<BatchAnswer> {
    let mut answers = Vec::with_capacity(chain.len());
    let mut failed_groups: HashSet<String> = HashSet::new();
    for batch in chain {
        let (held, entries): (Batch, Batch) = batch.into_iter().partition(|(_, e)| {
            e.group_id
                .as_ref()
                .is_some_and(|g| failed_groups.contains(g))
        });
        if !held.is_empty() {
            answers.push(held_back(held, &target.describe()));
        }
        if entries.is_empty() {
            continue;
        }
        let groups: HashMap<usize, Option<String>> = entries
            .iter()
            .map(|(i, e)| (*i, e.group_id.clone()))
            .collect();
        let answer = match target {
            Target::Queue(q) => send_batch(broker, q, entries).await,
            Target::Topic(t) => publish_topic_batch(broker, t, entries).await,
        };
        failed_groups.extend(
            answer
                .failed_indexes()
                .filter_map(|i| groups.get(&i).cloned().flatten()),
        );
        answers.push(answer);
    }
    answers
}

/// The answer for entries held back behind an earlier failure of their group.
fn held_back(held: Batch, what: &str) -> BatchAnswer {
    BatchAnswer::Entries(
        held.into_iter()
            .map(|(i, e)| {
                let group = e.group_id.unwrap_or_default();
                let error = Error::transient(format!(
                    "not sent to {what}: an earlier message of FIFO group '{group}' in this batch failed, and this one must not overtake it"
                ));
                (i, Err(error))
            })
            .collect(),
    )
}

/// What one batch call answered, by index in the caller's batch.
enum BatchAnswer {
    /// Entry by entry.
    Entries(Vec<(usize, Result<String>)>),
    /// The call failed as a whole: one error for all of these entries.
    Failed(Vec<usize>, Error),
}

impl BatchAnswer {
    /// The indexes of the entries that failed.
    fn failed_indexes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            BatchAnswer::Entries(entries) => {
                Box::new(entries.iter().filter(|(_, r)| r.is_err()).map(|(i, _)| *i))
            }
            BatchAnswer::Failed(indexes, _) => Box::new(indexes.iter().copied()),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: usize, groups: &[Option<&str>]) -> Batch {
        groups
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let entry = Entry {
                    encoded: EncodedMessage {
                        body: String::new(),
                        attributes: Vec::new(),
                    },
                    group_id: g.map(str::to_owned),
                    dedup_id: None,
                    delay_secs: None,
                };
                (first + k, entry)
            })
            .collect()
    }

    fn shape(chains: &[Vec<Batch>]) -> Vec<Vec<usize>> {
        chains
            .iter()
            .map(|c| c.iter().map(|b| b[0].0).collect())
            .collect()
    }

    #[test]
    fn batches_sharing_a_group_form_one_chain_in_order() {
        let (a, b, c) = (Some("a"), Some("b"), Some("c"));
        let batches = vec![
            batch(0, &[a, a]),
            batch(10, &[b]),
            batch(20, &[c]),
            batch(30, &[a, b]), // joins the chains of 0 and 10
            batch(40, &[c]),
        ];
        assert_eq!(shape(&chains(batches)), vec![vec![0, 10, 30], vec![20, 40]]);
        let standard = vec![batch(0, &[None]), batch(10, &[None]), batch(20, &[None])];
        assert_eq!(
            shape(&chains(standard)),
            vec![vec![0], vec![10], vec![20]],
            "no groups: every batch on its own, sent concurrently"
        );
    }
}
