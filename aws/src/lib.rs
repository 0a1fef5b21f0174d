//! courier-aws: courier's backend for Amazon SQS and SNS.
//!
//! | courier | AWS |
//! | --- | --- |
//! | topic | SNS topic (FIFO: `.fifo`) |
//! | queue | SQS queue, with `<queue>-dlq` and a RedrivePolicy |
//! | subscription | its own SQS queue `<topic>-<subscription>` subscribed with raw delivery and the filter policy |
//! | ack | DeleteMessage, batched into DeleteMessageBatch when acks arrive together |
//! | nack(after), extend(by) | ChangeMessageVisibility |
//! | dead_letter(reason) | SendMessage to the dead-letter queue (reason kept), then DeleteMessage |
//! | delay | DelaySeconds, at most 15 minutes, queues only (SNS cannot delay) |
//! | FIFO group / dedup | MessageGroupId / MessageDeduplicationId (default: the message id) |
//!
//! Credentials, region and endpoint come from the standard AWS chain (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, profiles, roles) unless [`AwsConfig`] sets them. How attributes fit
//! in SQS's limit of 10 is described in [`wire`].
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod error;
pub mod names;
mod provision;
mod publish;
mod receive;
pub mod redrive;
mod resolve;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use courier_core::config::AwsConfig;
use courier_core::{
    Broker, Capabilities, Consumer, Delivery, Destination, Error, Message, ProvisionReport,
    Publisher, Result, Source, Topology,
};

/// Longest delay SQS applies to one message.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// The SQS + SNS broker. Cheap to clone; clones share clients and caches.
#[derive(Clone)]
pub struct AwsBroker {
    inner: Arc<resolve::Inner>,
    redrive: Arc<redrive::Targets>,
}

impl std::fmt::Debug for AwsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsBroker").finish_non_exhaustive()
    }
}

impl AwsBroker {
    /// Loads the standard AWS configuration chain, with `config`'s settings on top.
    pub async fn connect(config: &AwsConfig) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(Error::invalid_config(
                "no AWS region: set [aws] region in courier.toml, COURIER_AWS_REGION, AWS_REGION, or a profile's region",
            ));
        }
        Ok(Self::from_sdk_config(&sdk))
    }

    /// A broker on an already loaded SDK configuration.
    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self::from_clients(aws_sdk_sqs::Client::new(sdk), aws_sdk_sns::Client::new(sdk))
    }

    /// A broker on these clients.
    pub fn from_clients(sqs: aws_sdk_sqs::Client, sns: aws_sdk_sns::Client) -> Self {
        AwsBroker {
            inner: Arc::new(resolve::Inner::new(sqs, sns)),
            redrive: Arc::default(),
        }
    }

    /// The SQS client, for what courier does not cover.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.inner.sqs
    }

    /// The SNS client, for what courier does not cover.
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        &self.inner.sns
    }

    /// Copies `message`, as SQS delivered it to someone else (a Lambda function, whose
    /// event source mapping deletes what it reports done), to the dead-letter queue that
    /// its source queue's `RedrivePolicy` names, with `reason`: body and every attribute,
    /// `Binary` ones included, kept as they were. See [`redrive`] for how the queue is
    /// found (cached per source queue, across accounts; a FIFO source never goes to a
    /// standard queue).
    pub async fn dead_letter_to(
        &self,
        message: &redrive::DeliveredMessage<'_>,
        reason: &str,
    ) -> Result<()> {
        let sqs = &self.inner.sqs;
        let target = self.redrive.of(sqs, message.source_arn).await?;
        let sent = redrive::send(sqs, &target, message, reason).await;
        if sent.as_ref().is_err_and(|e| e.is_not_found()) {
            self.redrive.forget(message.source_arn);
        }
        sent
    }
}

#[async_trait]
impl Publisher for AwsBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        publish::one(&self.inner, destination, message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        publish::batch(&self.inner, destination, messages).await
    }
}

#[async_trait]
impl Consumer for AwsBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        receive::receive(&self.inner, source, max, wait).await
    }
}

#[async_trait]
impl Broker for AwsBroker {
    fn name(&self) -> &str {
        "aws"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new(wire::SQS_MAX_MESSAGE_SIZE);
        c.max_attributes = Some(wire::MAX_ATTRIBUTES);
        c.max_delay = Some(MAX_DELAY);
        c.fifo = true;
        c.dedup = true;
        c.explicit_dead_letter = true;
        c.nack_delay = true;
        c.extend = true;
        c
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        provision::provision(&self.inner, topology).await
    }
}
