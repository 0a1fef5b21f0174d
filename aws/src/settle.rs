//! Settling SQS deliveries: ack (batched, see [`crate::acks`]), nack and extend through
//! ChangeMessageVisibility, dead-letter by sending a copy and then deleting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::types::MessageAttributeValue;
use courier_core::duration::whole_seconds_up;
use courier_core::event::attr;
use courier_core::{Error, Message, Result, Settle, Source};

use crate::entities::QueueInfo;
use crate::{error, names, publish, redrive, wire, AwsBroker};

/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(43_200);
/// Longest dead-letter reason kept (the message must still fit the queue).
const MAX_REASON: usize = 1024;
/// The group of a dead-letter copy of a message that had none (FIFO needs one).
const DEAD_LETTER_GROUP: &str = "dead-letter";

/// The settlement of one received SQS message.
pub(crate) struct SqsSettle {
    pub(crate) broker: AwsBroker,
    pub(crate) queue: Arc<QueueInfo>,
    pub(crate) receipt: String,
    /// SQS's id of the message: the dedup id of its FIFO dead-letter copy.
    pub(crate) message_id: String,
    /// Where the message goes when dead-lettered; `None` when this is a dead-letter queue.
    pub(crate) dead_letter: Option<DeadLetterTo>,
}

/// The dead-letter queue of a received message, and what its copy there is made of.
pub(crate) struct DeadLetterTo {
    /// The dead-letter source to move to.
    pub(crate) source: Source,
    /// The message as SQS delivered it.
    pub(crate) received: Received,
}

/// What the dead-letter copy of a received message is made of.
pub(crate) enum Received {
    /// The message as SQS delivered it: its body and every message attribute, `Binary`
    /// ones included, each with its data type as sent (custom suffixes such as
    /// `Binary.png` too;
    /// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html>).
    AsSent {
        /// The body text.
        body: String,
        /// Every message attribute, untouched.
        attributes: HashMap<String, MessageAttributeValue>,
    },
    /// An SNS notification envelope (a subscription without raw message delivery): the
    /// copy is the message inside it, encoded as courier publishes, so that it reads the
    /// same from the dead-letter queue (an envelope with an attribute added would no
    /// longer be taken for one).
    SnsEnvelope,
}

impl SqsSettle {
    async fn change_visibility(&self, to: Duration, op: &str) -> Result<()> {
        if to > MAX_VISIBILITY {
            return Err(Error::unsupported(format!(
                "{op} by {to:?}: SQS hides a message for at most 12 hours"
            )));
        }
        let secs = i32::try_from(whole_seconds_up(to)).unwrap_or(i32::MAX);
        self.broker
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue.url)
            .receipt_handle(&self.receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map(drop)
            .map_err(|e| visibility_error(e, &self.queue.describe()))
    }
}

/// ChangeMessageVisibility's failures. A receipt handle that no longer holds the message
/// is `LockLost`: the typed `ReceiptHandleIsInvalid` and `MessageNotInflight`, and
/// `InvalidParameterValue`, which SQS answers when the message "does not exist or is not
/// available for visibility timeout change" (deleted, or received again by another
/// consumer) or when the change would pass the 12 hours a message may be hidden in all
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>:
/// "any attempt to change the visibility timeout or to delete that message ... might
/// result in an error"; "If you try to extend the visibility timeout beyond the maximum,
/// your request is rejected"). courier checks the timeout's own range before the call, so
/// the receipt handle and the message's total are what that code can be about; either
/// way the message will not stay hidden for this consumer.
fn visibility_error(
    err: SdkError<ChangeMessageVisibilityError, HttpResponse>,
    what: &str,
) -> Error {
    let lost = match err.as_service_error() {
        Some(
            ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
            | ChangeMessageVisibilityError::MessageNotInflight(_),
        ) => true,
        Some(other) => other.code() == Some("InvalidParameterValue"),
        None => false,
    };
    if lost {
        Error::LockLost {
            message: format!(
                "ChangeMessageVisibility on {what}: the receipt handle no longer holds the message"
            ),
            source: Some(Box::new(err)),
        }
    } else {
        error::map("ChangeMessageVisibility", what, err)
    }
}

#[async_trait]
impl Settle for SqsSettle {
    async fn ack(&self) -> Result<()> {
        self.broker.acks.delete(&self.queue, &self.receipt).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        self.change_visibility(after, "nack").await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        let Some(to) = &self.dead_letter else {
            return Err(Error::unsupported(
                "dead-lettering a message that is already in a dead-letter queue",
            ));
        };
        let dlq_base = names::queue_base(&to.source);
        let dlq = self
            .broker
            .entities
            .queue(&dlq_base, &to.source.to_string())
            .await?;
        let copy = DeadLetterCopy {
            from_base: &self.queue.base,
            message,
            reason,
            original_id: &self.message_id,
        };
        match &to.received {
            Received::AsSent { body, attributes } => {
                send_dead_letter(&self.broker, &dlq, copy, body, attributes.clone()).await?
            }
            Received::SnsEnvelope => send_decoded_dead_letter(&self.broker, &dlq, copy).await?,
        }
        // Sent first, deleted second: a crash in between duplicates, never loses.
        self.broker.acks.delete(&self.queue, &self.receipt).await
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        self.change_visibility(by, "extend").await
    }
}

/// A message on its way to a dead-letter queue.
pub(crate) struct DeadLetterCopy<'a> {
    /// The base name of the queue it came from.
    pub(crate) from_base: &'a str,
    /// The message as decoded.
    pub(crate) message: &'a Message,
    /// Why it is dead-lettered.
    pub(crate) reason: &'a str,
    /// An id of the original message that stays the same for every attempt to
    /// dead-letter it (SQS's message id): on a FIFO dead-letter queue it is the copy's
    /// deduplication id, so a retried send is dropped by SQS instead of duplicated
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html#SQS-SendMessage-request-MessageDeduplicationId>).
    pub(crate) original_id: &'a str,
}

/// Sends a copy of the message to the dead-letter queue `dlq`: `body` and `attributes`
/// as SQS delivered them, with the reason, the time and the queue it came from added to
/// courier's packed attribute (as [`crate::redrive`] does for a Lambda's messages).
async fn send_dead_letter(
    broker: &AwsBroker,
    dlq: &QueueInfo,
    copy: DeadLetterCopy<'_>,
    body: &str,
    mut attributes: HashMap<String, MessageAttributeValue>,
) -> Result<()> {
    let reason: String = copy.reason.chars().take(MAX_REASON).collect();
    match redrive::with_reason(&attributes, &reason, copy.from_base) {
        Some(pack) => {
            attributes.insert(wire::PACK_ATTRIBUTE.to_owned(), pack);
        }
        None => tracing::warn!(
            %reason,
            "no room for the dead-letter reason among the message's attributes; sending it without"
        ),
    }
    let mut send = broker
        .sqs
        .send_message()
        .queue_url(&dlq.url)
        .message_body(body)
        .set_message_attributes(Some(attributes).filter(|a| !a.is_empty()));
    if dlq.fifo {
        send = send
            .message_group_id(
                copy.message
                    .group_id
                    .as_deref()
                    .unwrap_or(DEAD_LETTER_GROUP),
            )
            .message_deduplication_id(copy.original_id);
    }
    send.send()
        .await
        .map(drop)
        .map_err(|e| error::map("SendMessage", &dlq.describe(), e))
}

/// Sends a copy of the decoded message to the dead-letter queue `dlq`, encoded as courier
/// publishes, with the reason, the time and the queue it came from as attributes.
async fn send_decoded_dead_letter(
    broker: &AwsBroker,
    dlq: &QueueInfo,
    copy: DeadLetterCopy<'_>,
) -> Result<()> {
    let mut moved = copy.message.clone();
    let reason: String = copy.reason.chars().take(MAX_REASON).collect();
    moved
        .attributes
        .insert(attr::DEAD_LETTER_REASON.into(), reason);
    moved
        .attributes
        .insert(attr::DEAD_LETTER_SOURCE.into(), copy.from_base.to_owned());
    moved
        .attributes
        .insert(attr::DEAD_LETTERED_AT.into(), attr::dead_lettered_now());
    moved.delay = None;
    if dlq.fifo {
        moved.group_id = moved.group_id.or_else(|| Some(DEAD_LETTER_GROUP.into()));
        moved.dedup_id = Some(copy.original_id.to_owned());
    } else {
        moved.dedup_id = None;
    }
    let entry = publish::queue_entry(&moved, dlq)?;
    publish::send(broker, dlq, entry).await.map(drop)
}
