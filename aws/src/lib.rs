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
//! `AWS_ENDPOINT_URL`, profiles, roles) unless [`AwsConfig`](courier_core::config::AwsConfig)
//! sets them. Every call has an operation and an attempt timeout
//! ([`connect::DEFAULT_OPERATION_TIMEOUT`], [`connect::DEFAULT_ATTEMPT_TIMEOUT`] unless
//! configured): a call that hangs fails as a transient error. How attributes fit in SQS's
//! limit of 10 is described in [`wire`].
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod acks;
pub mod connect;
pub mod dead_letter_queues;
pub mod dead_letters;
mod entities;
mod error;
pub mod names;
mod provision;
mod publish;
mod receive;
pub mod redrive;
pub mod reply_queues;
mod settle;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use courier_core::dead_letter::{Depth, RedriveOptions, RedriveReport};
use courier_core::request::ReplyQueue;
use courier_core::{
    Broker, Capabilities, Consumer, Delivery, Destination, Message, ProvisionReport, Publisher,
    Result, Source, Topology,
};

use acks::AckBatcher;
use connect::Timeouts;
use dead_letter_queues::DeadLetterQueues;
use entities::Entities;

/// Longest delay SQS applies to one message.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// The SQS + SNS broker. Cheap to clone; clones share clients, lookups and ack batches.
#[derive(Clone)]
pub struct AwsBroker {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    entities: Arc<Entities>,
    acks: Arc<AckBatcher>,
    /// Dead-letter queues of source queues, from their RedrivePolicy.
    dead_letter_queues: DeadLetterQueues,
    /// Heartbeats of the reply queues this broker made.
    heartbeats: Arc<reply_queues::Heartbeats>,
    /// How often a reply queue's heartbeat tag is refreshed.
    reply_heartbeat: Duration,
    /// The longest long poll of one ReceiveMessage: it must fit in an attempt.
    long_poll: Duration,
}

impl std::fmt::Debug for AwsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsBroker")
            .field("long_poll", &self.long_poll)
            .finish_non_exhaustive()
    }
}

impl AwsBroker {
    /// A broker on an already loaded SDK configuration. Its operation and attempt
    /// timeouts are kept; those it does not set get courier's defaults.
    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self::with_timeouts(sdk, Timeouts::default())
    }

    fn with_timeouts(sdk: &SdkConfig, timeouts: Timeouts) -> Self {
        let timeouts = timeouts.applied_to(sdk.timeout_config());
        let sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts.clone())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self::assemble(
            aws_sdk_sqs::Client::from_conf(sqs),
            aws_sdk_sns::Client::from_conf(sns),
        )
    }

    /// A broker on these clients. Their operation and attempt timeouts are kept; those
    /// they do not set get courier's defaults.
    pub fn from_clients(sqs: aws_sdk_sqs::Client, sns: aws_sdk_sns::Client) -> Self {
        let sqs_config = sqs.config();
        let sqs_timeouts = Timeouts::default().applied_to(sqs_config.timeout_config());
        let sns_config = sns.config();
        let sns_timeouts = Timeouts::default().applied_to(sns_config.timeout_config());
        Self::assemble(
            aws_sdk_sqs::Client::from_conf(
                sqs_config.to_builder().timeout_config(sqs_timeouts).build(),
            ),
            aws_sdk_sns::Client::from_conf(
                sns_config.to_builder().timeout_config(sns_timeouts).build(),
            ),
        )
    }

    fn assemble(sqs: aws_sdk_sqs::Client, sns: aws_sdk_sns::Client) -> Self {
        AwsBroker {
            long_poll: connect::long_poll_within(sqs.config().timeout_config()),
            entities: Arc::new(Entities::new(sqs.clone(), sns.clone())),
            acks: Arc::new(AckBatcher::new(sqs.clone())),
            dead_letter_queues: DeadLetterQueues::from_client(sqs.clone()),
            heartbeats: Arc::default(),
            reply_heartbeat: reply_queues::HEARTBEAT_EVERY,
            sqs,
            sns,
        }
    }

    /// Refreshes the heartbeat of the reply queues it makes every `every` instead of
    /// [`reply_queues::HEARTBEAT_EVERY`].
    pub fn with_reply_queue_heartbeat(mut self, every: Duration) -> Self {
        self.reply_heartbeat = every;
        self
    }

    /// The SQS client, for what courier does not cover.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// The SNS client, for what courier does not cover.
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        &self.sns
    }

    /// Copies `message`, as SQS delivered it to someone else (a Lambda function, whose
    /// event source mapping deletes what it reports done), to the dead-letter queue that
    /// its source queue's `RedrivePolicy` names, with `reason`: body and every attribute,
    /// `Binary` ones included, kept as they were. See [`redrive`] for how the queue is
    /// found (cached per source queue, across accounts; a FIFO source never goes to a
    /// standard queue). [`DeadLetterQueues`] does the same with an SQS client only.
    pub async fn dead_letter_to(
        &self,
        message: &redrive::DeliveredMessage<'_>,
        reason: &str,
    ) -> Result<()> {
        self.dead_letter_queues
            .dead_letter_to(message, reason)
            .await
    }
}

#[async_trait]
impl Publisher for AwsBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        publish::publish(self, destination, message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        publish::publish_batch(self, destination, messages).await
    }
}

#[async_trait]
impl Consumer for AwsBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        receive::receive(self, source, max, wait).await
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

    /// Checks the topology against AWS's names ([`names::check_topology`]) and every
    /// backend's rules, then creates or repairs its entities.
    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        provision::provision(self, topology).await
    }

    /// `ApproximateNumberOf{Messages,MessagesNotVisible,MessagesDelayed}` ([`dead_letters`]).
    async fn depth(&self, source: &Source) -> Result<Depth> {
        dead_letters::depth(self, source).await
    }

    /// SendMessage to the queue, or to the subscription's own SQS queue ([`dead_letters`]).
    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        dead_letters::resubmit(self, source, message).await
    }

    /// A tagged `courier-reply-…` queue with a heartbeat ([`reply_queues`]).
    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        reply_queues::create(self).await
    }

    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        reply_queues::delete(self, queue).await
    }

    /// The whole dead-letter queue (no type filter, no maximum, not a dry run) moves with
    /// SQS's `StartMessageMoveTask`, waited for; otherwise, or where SQS does not offer
    /// it, receive, send and delete ([`courier_core::dead_letter`]).
    async fn redrive_dead_letters(
        &self,
        source: &Source,
        options: &RedriveOptions,
    ) -> Result<RedriveReport> {
        let whole_queue = options.max.is_none() && options.event_type.is_none() && !options.dry_run;
        if whole_queue && !source.is_dead_letter() {
            match dead_letters::redrive_with_move_task(self, source).await {
                Ok(report) => return Ok(report),
                Err(dead_letters::MoveTask::Failed(e)) => return Err(e),
                Err(dead_letters::MoveTask::Unavailable(e)) => {
                    dead_letters::log_fallback(source, &e)
                }
            }
        }
        courier_core::dead_letter::redrive(self, source, options).await
    }
}
