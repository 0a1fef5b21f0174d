//! ReceiveMessage, and settlement of SQS deliveries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use courier_core::event::attr;
use courier_core::{Delivery, DeliveryInfo, Error, Message, Result, Settle, Source};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::resolve::{Inner, QueueInfo};
use crate::{error, names, publish, wire};

/// SQS's longest long poll.
const MAX_WAIT_SECS: u64 = 20;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(43_200);
/// Longest an ack waits for others to share its DeleteMessageBatch call.
const ACK_LINGER: Duration = Duration::from_millis(5);
/// Longest dead-letter reason kept (the message must still fit the queue).
const MAX_REASON: usize = 1024;

pub(crate) async fn receive(
    inner: &Arc<Inner>,
    source: &Source,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery>> {
    let base = names::queue_base(source);
    let what = source.to_string();
    let q = inner.queue(&base, &what).await?;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait_secs = left.as_secs().min(MAX_WAIT_SECS);
        let asked_at = Instant::now();
        let out = inner
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait_secs).unwrap_or(20))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                let err = error::map("ReceiveMessage", &what, e);
                if matches!(err, Error::NotFound { .. }) {
                    inner.forget();
                }
                err
            })?;
        let messages = out.messages.unwrap_or_default();
        if !messages.is_empty() || left.as_secs() <= wait_secs {
            let locked_until = asked_at + q.visibility;
            return Ok(messages
                .into_iter()
                .map(|m| delivery(inner, source, &q, m, locked_until))
                .collect());
        }
    }
}

fn delivery(
    inner: &Arc<Inner>,
    source: &Source,
    q: &Arc<QueueInfo>,
    m: aws_sdk_sqs::types::Message,
    locked_until: Instant,
) -> Delivery {
    let attrs: HashMap<String, String> = m
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
        .collect();
    let mut message = wire::decode(m.body.unwrap_or_default(), attrs);
    let system = m.attributes.unwrap_or_default();
    let sys = |name: MessageSystemAttributeName| system.get(&name).cloned();
    if q.fifo {
        message.group_id = sys(MessageSystemAttributeName::MessageGroupId).or(message.group_id);
        message.dedup_id = sys(MessageSystemAttributeName::MessageDeduplicationId);
    }
    let info = DeliveryInfo {
        source: source.clone(),
        broker_message_id: m.message_id.unwrap_or_default(),
        delivery_count: sys(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        enqueued_at: sys(MessageSystemAttributeName::SentTimestamp)
            .and_then(|t| t.parse::<u64>().ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        locked_until: Some(locked_until),
    };
    let settle = SqsSettle {
        inner: inner.clone(),
        queue: q.clone(),
        receipt: m.receipt_handle.unwrap_or_default(),
        dead_letter_of: (!source.is_dead_letter()).then(|| source.dead_letter()),
    };
    Delivery::new(message, info, Box::new(settle))
}

struct SqsSettle {
    inner: Arc<Inner>,
    queue: Arc<QueueInfo>,
    receipt: String,
    /// The dead-letter source to move to; `None` when this is a dead-letter queue.
    dead_letter_of: Option<Source>,
}

fn lock_lost_or(err: Error, queue: &str) -> Error {
    let text = err.to_string();
    if text.contains("ReceiptHandleIsInvalid")
        || text.contains("MessageNotInflight")
        || text.contains("InvalidReceiptHandle")
    {
        Error::LockLost {
            message: format!("queue '{queue}'"),
            source: Some(Box::new(err)),
        }
    } else {
        err
    }
}

impl SqsSettle {
    async fn change_visibility(&self, to: Duration, op: &str) -> Result<()> {
        if to > MAX_VISIBILITY {
            return Err(Error::unsupported(format!(
                "{op} by {to:?}: SQS hides a message for at most 12 hours"
            )));
        }
        let secs = to.as_secs() + u64::from(to.subsec_nanos() > 0);
        self.inner
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue.url)
            .receipt_handle(&self.receipt)
            .visibility_timeout(i32::try_from(secs).unwrap_or(43_200))
            .send()
            .await
            .map_err(|e| {
                lock_lost_or(
                    error::map(
                        "ChangeMessageVisibility",
                        &format!("queue '{}'", self.queue.base),
                        e,
                    ),
                    &self.queue.base,
                )
            })?;
        Ok(())
    }
}

#[async_trait]
impl Settle for SqsSettle {
    async fn ack(&self) -> Result<()> {
        self.inner.acks().delete(&self.queue, &self.receipt).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        self.change_visibility(after, "nack").await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        let Some(dlq_source) = &self.dead_letter_of else {
            return Err(Error::unsupported(
                "dead-lettering a message that is already in a dead-letter queue",
            ));
        };
        let dlq_base = names::queue_base(dlq_source);
        send_dead_letter(
            &self.inner,
            &self.queue.base,
            &dlq_base,
            &dlq_source.to_string(),
            message,
            reason,
        )
        .await?;
        // Sent first, deleted second: a crash in between duplicates, never loses.
        self.inner.acks().delete(&self.queue, &self.receipt).await
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        self.change_visibility(by, "extend").await
    }
}

/// Sends a copy of `message` to the dead-letter queue `dlq_base` with the reason and the
/// queue it came from (`from_base`) as attributes.
pub(crate) async fn send_dead_letter(
    inner: &Inner,
    from_base: &str,
    dlq_base: &str,
    what: &str,
    message: &Message,
    reason: &str,
) -> Result<()> {
    let dlq = inner.queue(dlq_base, what).await?;
    let mut moved = message.clone();
    let reason: String = reason.chars().take(MAX_REASON).collect();
    moved
        .attributes
        .insert(attr::DEAD_LETTER_REASON.into(), reason);
    moved
        .attributes
        .insert(attr::DEAD_LETTER_SOURCE.into(), from_base.to_owned());
    moved.delay = None;
    if dlq.fifo {
        moved.group_id = moved.group_id.or_else(|| Some("dead-letter".into()));
        moved.dedup_id = Some(uuid::Uuid::new_v4().to_string());
    } else {
        moved.dedup_id = None;
    }
    let prepared = publish::prepare_sqs(&moved, &dlq)?;
    publish::send(inner, &dlq, prepared).await.map(drop)
}

struct AckRequest {
    queue: Arc<QueueInfo>,
    receipt: String,
    done: oneshot::Sender<Result<()>>,
}

/// Collects acks into DeleteMessageBatch calls of up to 10, waiting at most
/// [`ACK_LINGER`] for companions; each ack still gets its own answer.
pub(crate) struct AckBatcher {
    tx: mpsc::UnboundedSender<AckRequest>,
}

impl AckBatcher {
    pub(crate) fn start(sqs: aws_sdk_sqs::Client) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<AckRequest>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut pending = vec![first];
                // Acks of a busy worker arrive a few at a time: wait briefly for more, so
                // that one DeleteMessageBatch carries up to 10 instead of one each.
                let until = Instant::now() + ACK_LINGER;
                while pending.len() < 10 {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(r)) => pending.push(r),
                        Ok(None) | Err(_) => break,
                    }
                }
                let mut by_queue: HashMap<String, Vec<AckRequest>> = HashMap::new();
                for r in pending {
                    by_queue.entry(r.queue.url.clone()).or_default().push(r);
                }
                for (_, reqs) in by_queue {
                    tokio::spawn(delete_batch(sqs.clone(), reqs));
                }
            }
        });
        AckBatcher { tx }
    }

    pub(crate) async fn delete(&self, queue: &Arc<QueueInfo>, receipt: &str) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let request = AckRequest {
            queue: queue.clone(),
            receipt: receipt.to_owned(),
            done,
        };
        self.tx.send(request).map_err(|_| Error::Backend {
            message: "the ack batcher stopped".into(),
            source: None,
        })?;
        answer.await.map_err(|_| Error::Backend {
            message: "the ack batcher dropped an ack".into(),
            source: None,
        })?
    }
}

async fn delete_batch(sqs: aws_sdk_sqs::Client, reqs: Vec<AckRequest>) {
    let queue = reqs[0].queue.clone();
    let what = format!("queue '{}'", queue.base);
    let entries: Vec<DeleteMessageBatchRequestEntry> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&r.receipt)
                .build()
                .expect("id and handle are set")
        })
        .collect();
    let started = SystemTime::now();
    match sqs
        .delete_message_batch()
        .queue_url(&queue.url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => {
            let mut failed: HashMap<usize, Error> = out
                .failed
                .into_iter()
                .map(|f| {
                    let message = format!(
                        "DeleteMessageBatch entry on {what}: {} {}",
                        f.code,
                        f.message.unwrap_or_default()
                    );
                    (
                        f.id.parse().unwrap_or(usize::MAX),
                        lock_lost_or(
                            Error::Backend {
                                message,
                                source: None,
                            },
                            &queue.base,
                        ),
                    )
                })
                .collect();
            for (i, r) in reqs.into_iter().enumerate() {
                let _ = r.done.send(failed.remove(&i).map_or(Ok(()), Err));
            }
        }
        Err(e) => {
            let err = error::map("DeleteMessageBatch", &what, e);
            tracing::warn!(error = %courier_core::display_chain(&err), elapsed = ?started.elapsed().ok(), "acks failed; the messages will be redelivered");
            let (text, transient) = (err.to_string(), err.is_transient());
            for r in reqs {
                let e = if transient {
                    Error::transient(text.clone())
                } else {
                    Error::Backend {
                        message: text.clone(),
                        source: None,
                    }
                };
                let _ = r.done.send(Err(e));
            }
        }
    }
}
