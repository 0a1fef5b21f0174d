//! [`Limited`]: at most N calls against the broker at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::dead_letter::{DeadLetter, Depth, RedriveOptions, RedriveReport};
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::message::{Destination, Message, Source};
use crate::provision::ProvisionReport;
use crate::request::ReplyQueue;
use crate::topology::Topology;

/// Lets at most `max_calls` publishes, receives and management calls run against the
/// wrapped broker at once (settlements of deliveries are not counted: they must never
/// wait behind new work). Like object_store's `LimitStore`: for a broker with request
/// quotas, or to keep one process from opening too many connections.
#[derive(Debug, Clone)]
pub struct Limited<B> {
    inner: B,
    permits: Arc<Semaphore>,
}

impl<B> Limited<B> {
    /// Wraps `inner` with at most `max_calls` calls in flight (at least 1).
    pub fn new(inner: B, max_calls: usize) -> Self {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(max_calls.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    async fn permit(&self) -> Result<SemaphorePermit<'_>> {
        self.permits
            .acquire()
            .await
            .map_err(|_| Error::backend("the call limit was closed"))
    }
}

#[async_trait]
impl<B: Broker> Publisher for Limited<B> {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        let _permit = self.permit().await?;
        self.inner.publish(destination, message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let _permit = self.permit().await?;
        self.inner.publish_batch(destination, messages).await
    }
}

#[async_trait]
impl<B: Broker> Consumer for Limited<B> {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let _permit = self.permit().await?;
        self.inner.receive(source, max, wait).await
    }
}

#[async_trait]
impl<B: Broker> Broker for Limited<B> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        let _permit = self.permit().await?;
        self.inner.provision(topology).await
    }
    async fn depth(&self, source: &Source) -> Result<Depth> {
        let _permit = self.permit().await?;
        self.inner.depth(source).await
    }
    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        let _permit = self.permit().await?;
        self.inner.resubmit(source, message).await
    }
    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        let _permit = self.permit().await?;
        self.inner.create_reply_queue().await
    }
    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        let _permit = self.permit().await?;
        self.inner.delete_reply_queue(queue).await
    }
    async fn peek_dead_letters(&self, source: &Source, max: usize) -> Result<Vec<DeadLetter>> {
        self.inner.peek_dead_letters(source, max).await
    }
    async fn redrive_dead_letters(
        &self,
        source: &Source,
        options: &RedriveOptions,
    ) -> Result<RedriveReport> {
        self.inner.redrive_dead_letters(source, options).await
    }
    async fn purge_dead_letters(&self, source: &Source) -> Result<u64> {
        self.inner.purge_dead_letters(source).await
    }
}
