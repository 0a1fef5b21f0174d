//! Where an SQS record that cannot be handled goes: the dead-letter queue of its source
//! queue, as the queue's `RedrivePolicy` names it, with every attribute it arrived with.

use async_trait::async_trait;
use courier_aws::redrive::{DeliveredAttribute, DeliveredMessage};
use courier_core::Result;

use crate::event::SqsRecord;

/// Takes the records the pipeline gave up on.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Keeps `message` (exactly as SQS delivered it) with `reason`; `Ok` only once it is
    /// stored, since the record is then reported done and deleted.
    async fn dead_letter(&self, message: &DeliveredMessage<'_>, reason: &str) -> Result<()>;
}

/// Through SQS alone: what a function uses, so that its binary links no more of AWS.
#[async_trait]
impl DeadLetterSink for courier_aws::dead_letter_queues::DeadLetterQueues {
    async fn dead_letter(&self, message: &DeliveredMessage<'_>, reason: &str) -> Result<()> {
        self.dead_letter_to(message, reason).await
    }
}

#[async_trait]
impl DeadLetterSink for courier_aws::AwsBroker {
    async fn dead_letter(&self, message: &DeliveredMessage<'_>, reason: &str) -> Result<()> {
        self.dead_letter_to(message, reason).await
    }
}

/// The record as SQS delivered it: body, every attribute (`Binary` ones too), group,
/// trace header.
pub fn delivered<'r>(r: &'r SqsRecord<'_>) -> DeliveredMessage<'r> {
    DeliveredMessage {
        source_arn: &r.event_source_arn,
        message_id: &r.message_id,
        body: &r.body,
        attributes: r
            .message_attributes
            .iter()
            .map(|(name, v)| DeliveredAttribute {
                name,
                data_type: &v.data_type,
                string_value: v.string_value.as_deref(),
                binary_value_base64: v.binary_value.as_deref(),
            })
            .collect(),
        group_id: r.attributes.message_group_id.as_deref(),
        trace_header: r.attributes.aws_trace_header.as_deref(),
    }
}
