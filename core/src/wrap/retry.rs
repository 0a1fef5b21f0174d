//! [`Retrying`]: publishes that failed transiently are tried again, with backoff.

use std::time::Duration;

use async_trait::async_trait;

use crate::broker::{Broker, Capabilities, Consumer, Publisher};
use crate::dead_letter::{DeadLetter, Depth, RedriveOptions, RedriveReport};
use crate::delivery::Delivery;
use crate::error::{display_chain, Result};
use crate::message::{Destination, Message, Source};
use crate::provision::ProvisionReport;
use crate::request::ReplyQueue;
use crate::topology::Topology;
use crate::worker::Backoff;

/// Retries `publish` and the failed entries of `publish_batch` when the failure is
/// transient ([`Error::is_transient`](crate::Error::is_transient)): throttling, a reset
/// connection, a timeout. It waits per `backoff`, or longer when the broker said so
/// (`retry_after`), up to `attempts` tries in all. A transient failure may hide a message
/// that was in fact accepted: a retry can then duplicate it, never lose it.
///
/// ```
/// use std::sync::Arc;
/// use courier_core::prelude::*;
/// use courier_core::worker::Backoff;
/// use courier_core::wrap::Retrying;
///
/// let broker: Arc<dyn Broker> = Arc::new(Retrying::new(MemoryBroker::new(), Backoff::default(), 4));
/// ```
#[derive(Debug, Clone)]
pub struct Retrying<B> {
    inner: B,
    backoff: Backoff,
    attempts: u32,
}

impl<B> Retrying<B> {
    /// Wraps `inner`, trying each publish at most `attempts` times (at least once).
    pub fn new(inner: B, backoff: Backoff, attempts: u32) -> Self {
        Retrying {
            inner,
            backoff,
            attempts: attempts.max(1),
        }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn pause(&self, attempt: u32, error: &crate::Error) -> Duration {
        self.backoff
            .delay(attempt)
            .max(error.retry_after().unwrap_or_default())
    }
}

#[async_trait]
impl<B: Broker> Publisher for Retrying<B> {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        let mut attempt = 1;
        loop {
            match self.inner.publish(destination, message.clone()).await {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    let pause = self.pause(attempt, &e);
                    tracing::debug!(%destination, attempt, ?pause, error = %display_chain(&e), "publish failed transiently; retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let mut results = self
            .inner
            .publish_batch(destination, messages.clone())
            .await?;
        for attempt in 1..self.attempts {
            let again: Vec<usize> = (0..results.len())
                .filter(|&i| results[i].as_ref().is_err_and(crate::Error::is_transient))
                .collect();
            let Some(first) = again.first() else { break };
            let pause = match &results[*first] {
                Err(e) => self.pause(attempt, e),
                Ok(_) => self.backoff.delay(attempt),
            };
            tracing::debug!(%destination, attempt, entries = again.len(), ?pause, "batch entries failed transiently; retrying them");
            tokio::time::sleep(pause).await;
            let retry: Vec<Message> = again.iter().map(|&i| messages[i].clone()).collect();
            match self.inner.publish_batch(destination, retry).await {
                Ok(retried) => {
                    for (i, r) in again.into_iter().zip(retried) {
                        results[i] = r;
                    }
                }
                // The whole retry failed: the earlier per-entry answers stand.
                Err(e) if e.is_transient() => continue,
                Err(e) => {
                    tracing::debug!(error = %display_chain(&e), "retrying the batch failed; keeping the first answers");
                    break;
                }
            }
        }
        Ok(results)
    }
}

#[async_trait]
impl<B: Broker> Consumer for Retrying<B> {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        self.inner.receive(source, max, wait).await
    }
}

#[async_trait]
impl<B: Broker> Broker for Retrying<B> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        self.inner.provision(topology).await
    }
    async fn depth(&self, source: &Source) -> Result<Depth> {
        self.inner.depth(source).await
    }
    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        self.inner.resubmit(source, message).await
    }
    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        self.inner.create_reply_queue().await
    }
    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
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
