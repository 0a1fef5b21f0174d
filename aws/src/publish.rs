//! SendMessage(Batch) to queues, Publish(Batch) to topics.

use std::collections::HashMap;

use aws_sdk_sns::types::{MessageAttributeValue as SnsAttribute, PublishBatchRequestEntry};
use aws_sdk_sqs::types::{MessageAttributeValue as SqsAttribute, SendMessageBatchRequestEntry};
use courier_core::{Destination, Error, Message, Result};
use futures_util::stream::{self, StreamExt};

use crate::resolve::{Inner, QueueInfo, TopicInfo};
use crate::wire::{self, Wire};
use crate::{error, MAX_DELAY};

/// Most entries of one SendMessageBatch / PublishBatch.
const BATCH_ENTRIES: usize = 10;
/// Batch calls in flight at once for one `publish_batch`.
const BATCH_CONCURRENCY: usize = 8;

/// A message checked and encoded for one destination.
pub(crate) struct Prepared {
    pub(crate) wire: Wire,
    pub(crate) group: Option<String>,
    pub(crate) dedup: Option<String>,
    pub(crate) delay_secs: Option<i32>,
}

/// The rules both SQS and SNS apply; `fifo`/`cbd` describe the destination.
fn prepare(
    m: &Message,
    what: &str,
    fifo: bool,
    content_based_dedup: bool,
    limit: usize,
) -> Result<Prepared> {
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
    let (group, dedup) = if fifo {
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
    let wire = wire::encode(m, !fifo)?;
    wire.check_size(limit)?;
    Ok(Prepared {
        wire,
        group,
        dedup,
        delay_secs: None,
    })
}

pub(crate) fn prepare_sqs(m: &Message, q: &QueueInfo) -> Result<Prepared> {
    let what = format!("queue '{}'", q.base);
    let mut p = prepare(
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
        // SQS counts whole seconds; round up so a message never comes early.
        let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        p.delay_secs = Some(i32::try_from(secs).unwrap_or(900));
    }
    Ok(p)
}

fn prepare_sns(m: &Message, t: &TopicInfo) -> Result<Prepared> {
    let what = format!("topic '{}'", t.name);
    if m.delay.is_some_and(|d| !d.is_zero()) {
        return Err(Error::unsupported(format!(
            "a delay on {what}: SNS cannot delay messages (publish to a queue, or delay in the consumer)"
        )));
    }
    prepare(
        m,
        &what,
        t.fifo,
        t.content_based_dedup,
        wire::SNS_MAX_MESSAGE_SIZE,
    )
}

fn sqs_attributes(w: &Wire) -> HashMap<String, SqsAttribute> {
    w.attributes
        .iter()
        .map(|a| {
            let v = SqsAttribute::builder()
                .data_type(a.data_type)
                .string_value(&a.value)
                .build()
                .expect("data type is set");
            (a.name.clone(), v)
        })
        .collect()
}

fn sns_attributes(w: &Wire) -> HashMap<String, SnsAttribute> {
    w.attributes
        .iter()
        .map(|a| {
            let v = SnsAttribute::builder()
                .data_type(a.data_type)
                .string_value(&a.value)
                .build()
                .expect("data type is set");
            (a.name.clone(), v)
        })
        .collect()
}

/// Sends one prepared message to a queue; returns the SQS message id.
pub(crate) async fn send(inner: &Inner, q: &QueueInfo, p: Prepared) -> Result<String> {
    let out = inner
        .sqs
        .send_message()
        .queue_url(&q.url)
        .message_body(p.wire.body.clone())
        .set_message_attributes(Some(sqs_attributes(&p.wire)).filter(|a| !a.is_empty()))
        .set_delay_seconds(p.delay_secs)
        .set_message_group_id(p.group)
        .set_message_deduplication_id(p.dedup)
        .send()
        .await
        .map_err(|e| error::map("SendMessage", &format!("queue '{}'", q.base), e))?;
    Ok(out.message_id.unwrap_or_default())
}

pub(crate) async fn one(inner: &Inner, destination: &Destination, m: Message) -> Result<String> {
    match destination {
        Destination::Queue(name) => {
            let q = inner.queue(name, &format!("queue '{name}'")).await?;
            let p = prepare_sqs(&m, &q)?;
            send(inner, &q, p).await
        }
        Destination::Topic(name) => {
            let t = inner.topic(name).await?;
            let p = prepare_sns(&m, &t)?;
            let out = inner
                .sns
                .publish()
                .topic_arn(&t.arn)
                .message(p.wire.body.clone())
                .set_message_attributes(Some(sns_attributes(&p.wire)).filter(|a| !a.is_empty()))
                .set_message_group_id(p.group)
                .set_message_deduplication_id(p.dedup)
                .send()
                .await
                .map_err(|e| error::map("Publish", &format!("topic '{name}'"), e))?;
            Ok(out.message_id.unwrap_or_default())
        }
    }
}

/// Splits prepared entries (with their indexes) into batches by count and total size.
fn chunks(entries: Vec<(usize, Prepared)>, limit: usize) -> Vec<Vec<(usize, Prepared)>> {
    let mut out: Vec<Vec<(usize, Prepared)>> = Vec::new();
    let mut size = 0;
    for (i, p) in entries {
        let s = p.wire.size();
        match out.last_mut() {
            Some(last) if last.len() < BATCH_ENTRIES && size + s <= limit => {
                size += s;
                last.push((i, p));
            }
            _ => {
                size = s;
                out.push(vec![(i, p)]);
            }
        }
    }
    out
}

type Outcomes = Vec<(usize, Result<String>)>;

async fn send_chunk(inner: &Inner, q: &QueueInfo, chunk: Vec<(usize, Prepared)>) -> Outcomes {
    let what = format!("queue '{}'", q.base);
    let ids: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
    let entries: Vec<SendMessageBatchRequestEntry> = chunk
        .into_iter()
        .map(|(i, p)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(p.wire.body.clone())
                .set_message_attributes(Some(sqs_attributes(&p.wire)).filter(|a| !a.is_empty()))
                .set_delay_seconds(p.delay_secs)
                .set_message_group_id(p.group)
                .set_message_deduplication_id(p.dedup)
                .build()
                .expect("id and body are set")
        })
        .collect();
    match inner
        .sqs
        .send_message_batch()
        .queue_url(&q.url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => {
            let mut results: Outcomes = out
                .successful
                .into_iter()
                .map(|s| (s.id.parse().unwrap_or(usize::MAX), Ok(s.message_id)))
                .collect();
            results.extend(out.failed.into_iter().map(|f| {
                let message = format!(
                    "SendMessageBatch entry on {what}: {} {}",
                    f.code,
                    f.message.unwrap_or_default()
                );
                let err = if f.sender_fault {
                    Error::invalid_input(message)
                } else {
                    Error::transient(message)
                };
                (f.id.parse().unwrap_or(usize::MAX), Err(err))
            }));
            results
        }
        Err(e) => whole_batch_failed(&ids, error::map("SendMessageBatch", &what, e)),
    }
}

async fn publish_chunk(inner: &Inner, t: &TopicInfo, chunk: Vec<(usize, Prepared)>) -> Outcomes {
    let what = format!("topic '{}'", t.name);
    let ids: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
    let entries: Vec<PublishBatchRequestEntry> = chunk
        .into_iter()
        .map(|(i, p)| {
            PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .message(p.wire.body.clone())
                .set_message_attributes(Some(sns_attributes(&p.wire)).filter(|a| !a.is_empty()))
                .set_message_group_id(p.group)
                .set_message_deduplication_id(p.dedup)
                .build()
                .expect("id and message are set")
        })
        .collect();
    match inner
        .sns
        .publish_batch()
        .topic_arn(&t.arn)
        .set_publish_batch_request_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => {
            let mut results: Outcomes = out
                .successful
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    (
                        s.id.and_then(|i| i.parse().ok()).unwrap_or(usize::MAX),
                        Ok(s.message_id.unwrap_or_default()),
                    )
                })
                .collect();
            results.extend(out.failed.unwrap_or_default().into_iter().map(|f| {
                let message = format!(
                    "PublishBatch entry on {what}: {} {}",
                    f.code,
                    f.message.unwrap_or_default()
                );
                let err = if f.sender_fault {
                    Error::invalid_input(message)
                } else {
                    Error::transient(message)
                };
                (f.id.parse().unwrap_or(usize::MAX), Err(err))
            }));
            results
        }
        Err(e) => whole_batch_failed(&ids, error::map("PublishBatch", &what, e)),
    }
}

/// One error for every entry of a failed call: the first keeps the typed error.
fn whole_batch_failed(ids: &[usize], err: Error) -> Outcomes {
    let text = err.to_string();
    let transient = err.is_transient();
    let mut err = Some(err);
    ids.iter()
        .map(|i| {
            let e = err.take().unwrap_or_else(|| {
                if transient {
                    Error::transient(text.clone())
                } else {
                    Error::Backend {
                        message: text.clone(),
                        source: None,
                    }
                }
            });
            (*i, Err(e))
        })
        .collect()
}

pub(crate) async fn batch(
    inner: &Inner,
    destination: &Destination,
    messages: Vec<Message>,
) -> Result<Vec<Result<String>>> {
    let n = messages.len();
    let mut slots: Vec<Option<Result<String>>> = (0..n).map(|_| None).collect();
    let mut ready = Vec::with_capacity(n);
    enum Target {
        Queue(std::sync::Arc<QueueInfo>),
        Topic(std::sync::Arc<TopicInfo>),
    }
    let (target, limit) = match destination {
        Destination::Queue(name) => (
            Target::Queue(inner.queue(name, &format!("queue '{name}'")).await?),
            wire::SQS_MAX_MESSAGE_SIZE,
        ),
        Destination::Topic(name) => (
            Target::Topic(inner.topic(name).await?),
            wire::SNS_MAX_MESSAGE_SIZE,
        ),
    };
    for (i, m) in messages.iter().enumerate() {
        let prepared = match &target {
            Target::Queue(q) => prepare_sqs(m, q),
            Target::Topic(t) => prepare_sns(m, t),
        };
        match prepared {
            Ok(p) => ready.push((i, p)),
            Err(e) => slots[i] = Some(Err(e)),
        }
    }
    let target = &target;
    let outcomes: Vec<Outcomes> = stream::iter(chunks(ready, limit))
        .map(|chunk| async move {
            match target {
                Target::Queue(q) => send_chunk(inner, q, chunk).await,
                Target::Topic(t) => publish_chunk(inner, t, chunk).await,
            }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    for (i, r) in outcomes.into_iter().flatten() {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(r);
        }
    }
    Ok(slots
        .into_iter()
        .map(|s| {
            s.unwrap_or_else(|| {
                Err(Error::Backend {
                    message: "the batch answer left this entry out".into(),
                    source: None,
                })
            })
        })
        .collect())
}
