//! ReceiveMessage, and the deliveries made of what it returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message as SqsMessage, MessageSystemAttributeName,
};
use courier_core::duration::deadline_after;
use courier_core::event::attr;
use courier_core::{display_chain, Delivery, DeliveryInfo, Error, Result, Source};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::entities::QueueInfo;
use crate::settle::{DeadLetterTo, Received, SqsSettle};
use crate::{error, names, wire, AwsBroker};

/// Most messages one ReceiveMessage returns.
const MAX_MESSAGES: usize = 10;

/// Receives up to `max` messages from `source`, waiting up to `wait` for the first.
pub(crate) async fn receive(
    broker: &AwsBroker,
    source: &Source,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery>> {
    let what = source.to_string();
    let queue = broker
        .entities
        .queue(&names::queue_base(source), &what)
        .await?;
    let deadline = deadline_after(wait);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let poll = left.min(broker.long_poll).as_secs();
        let asked_at = Instant::now();
        let messages = match receive_call(broker, &queue, max, poll, &what).await {
            Ok(messages) => messages,
            Err(e) => {
                if e.is_not_found() {
                    broker.entities.forget();
                }
                return Err(e);
            }
        };
        if !messages.is_empty() || left.as_secs() <= poll {
            // The queue's own visibility timeout: SQS caps it at 12 hours, an emulator may
            // not, and an absurd one must not overflow `Instant`.
            let locked_until = asked_at
                .checked_add(queue.visibility)
                .unwrap_or_else(|| deadline_after(queue.visibility));
            return Ok(messages
                .into_iter()
                .map(|m| delivery(broker, source, &queue, m, locked_until))
                .collect());
        }
    }
}

/// What one ReceiveMessage call answers.
type ReceiveAnswer =
    std::result::Result<ReceiveMessageOutput, SdkError<ReceiveMessageError, HttpResponse>>;

/// One ReceiveMessage call with a long poll of `poll_secs`.
///
/// It runs in a task of its own that finishes even when the caller stops waiting: SQS
/// hands messages to a long poll whose caller has gone, and they would stay hidden for
/// a visibility timeout (AWS advises a visibility timeout longer than the SDK's read
/// timeout for that reason:
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/working-with-visibility-timeouts.html>).
/// What a call brings back after its caller left is made visible again at once.
async fn receive_call(
    broker: &AwsBroker,
    queue: &Arc<QueueInfo>,
    max: usize,
    poll_secs: u64,
    what: &str,
) -> Result<Vec<SqsMessage>> {
    let request = broker
        .sqs
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(i32::try_from(max.clamp(1, MAX_MESSAGES)).unwrap_or(10))
        .wait_time_seconds(i32::try_from(poll_secs).unwrap_or(20))
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All);
    let (answer, reply) = oneshot::channel::<ReceiveAnswer>();
    let (sqs, queue) = (broker.sqs.clone(), queue.clone());
    tokio::spawn(async move {
        if let Err(Ok(out)) = answer.send(request.send().await) {
            release(&sqs, &queue, out.messages.unwrap_or_default()).await;
        }
    });
    match reply.await {
        Ok(answer) => answer
            .map(|out| out.messages.unwrap_or_default())
            .map_err(|e| error::map("ReceiveMessage", what, e)),
        // The task making the call ended without an answer: its runtime is shutting down.
        Err(_) => Err(Error::transient(format!(
            "ReceiveMessage on {what}: the call ended without an answer (its runtime is shutting down)"
        ))),
    }
}

/// Makes messages received for nobody visible again (ChangeMessageVisibilityBatch to 0).
async fn release(sqs: &aws_sdk_sqs::Client, queue: &QueueInfo, messages: Vec<SqsMessage>) {
    let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = messages
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle?)
                .visibility_timeout(0)
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    let released = sqs
        .change_message_visibility_batch()
        .queue_url(&queue.url)
        .set_entries(Some(entries))
        .send()
        .await;
    if let Err(e) = released {
        let e = error::map("ChangeMessageVisibilityBatch", &queue.describe(), e);
        tracing::warn!(error = %display_chain(&e), "messages received after their receive was abandoned stay hidden until their visibility timeout");
    }
}

fn delivery(
    broker: &AwsBroker,
    source: &Source,
    queue: &Arc<QueueInfo>,
    m: SqsMessage,
    locked_until: Instant,
) -> Delivery {
    let raw_attributes = m.message_attributes.unwrap_or_default();
    let attrs: HashMap<String, String> = raw_attributes
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.string_value.clone()?)))
        .collect();
    let body = m.body.unwrap_or_default();
    // What a dead-letter copy is made of: the body and every attribute as SQS delivered
    // them (`Binary` ones are not in the decoded message). A dead-letter queue's
    // messages go nowhere further, so nothing is kept for them.
    let kept = (!source.is_dead_letter()).then(|| body.clone());
    let (mut message, enveloped) = wire::decode_received(body, attrs);
    let dead_letter = kept.map(|body| DeadLetterTo {
        source: source.dead_letter(),
        received: if enveloped {
            Received::SnsEnvelope
        } else {
            Received::AsSent {
                body,
                attributes: raw_attributes,
            }
        },
    });
    if !source.is_dead_letter() {
        // What a dead-letter queue added, on a message that SQS moved back as it was
        // (StartMessageMoveTask): history, not this delivery's (see `dead_letters`).
        for name in [
            attr::DEAD_LETTER_REASON,
            attr::DEAD_LETTER_SOURCE,
            attr::DEAD_LETTERED_AT,
        ] {
            message.attributes.remove(name);
        }
    }
    let system = m.attributes.unwrap_or_default();
    let sys = |name: MessageSystemAttributeName| system.get(&name).cloned();
    if queue.fifo {
        message.group_id = sys(MessageSystemAttributeName::MessageGroupId).or(message.group_id);
        message.dedup_id = sys(MessageSystemAttributeName::MessageDeduplicationId);
    }
    let message_id = m.message_id.unwrap_or_default();
    let info = DeliveryInfo {
        source: source.clone(),
        broker_message_id: message_id.clone(),
        delivery_count: sys(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        enqueued_at: sys(MessageSystemAttributeName::SentTimestamp)
            .and_then(|t| t.parse::<u64>().ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        locked_until: Some(locked_until),
    };
    let settle = SqsSettle {
        broker: broker.clone(),
        queue: queue.clone(),
        receipt: m.receipt_handle.unwrap_or_default(),
        message_id,
        dead_letter,
    };
    Delivery::new(message, info, Box::new(settle))
}
