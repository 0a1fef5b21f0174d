//! Dead-lettering with an SQS client only: what a Lambda function needs to move the
//! records its event source mapping delivered to their dead-letter queues, without the
//! rest of the broker (SNS, receiving, provisioning), so that a function's binary links
//! SQS alone.

use std::sync::Arc;

use courier_core::Result;

use crate::connect::Timeouts;
use crate::redrive::{self, DeliveredMessage, Targets};

/// The dead-letter queues of source queues, found from their `RedrivePolicy` and cached
/// (see [`redrive`]). Cheap to clone; clones share the client and the cache.
#[derive(Clone)]
pub struct DeadLetterQueues {
    sqs: aws_sdk_sqs::Client,
    targets: Arc<Targets>,
}

impl std::fmt::Debug for DeadLetterQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterQueues").finish_non_exhaustive()
    }
}

impl DeadLetterQueues {
    /// On this client. Its operation and attempt timeouts are kept; those it does not
    /// set get courier's defaults.
    pub fn from_client(sqs: aws_sdk_sqs::Client) -> Self {
        let config = sqs.config();
        let timeouts = Timeouts::default().applied_to(config.timeout_config());
        let sqs =
            aws_sdk_sqs::Client::from_conf(config.to_builder().timeout_config(timeouts).build());
        DeadLetterQueues {
            sqs,
            targets: Arc::default(),
        }
    }

    /// Copies `message`, as SQS delivered it, to the dead-letter queue that its source
    /// queue's `RedrivePolicy` names, with `reason`: body and every attribute, `Binary`
    /// ones included (see [`redrive`]). A target that has vanished is looked up again
    /// next time.
    pub async fn dead_letter_to(&self, message: &DeliveredMessage<'_>, reason: &str) -> Result<()> {
        let target = self.targets.of(&self.sqs, message.source_arn).await?;
        let sent = redrive::send(&self.sqs, &target, message, reason).await;
        if sent.as_ref().is_err_and(|e| e.is_not_found()) {
            self.targets.forget(message.source_arn);
        }
        sent
    }
}
