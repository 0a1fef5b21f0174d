//! [`Timed`]: a broker wrapper that measures every call, settlements of the deliveries it
//! hands out included, so that a test can say how long the longest one took (no call
//! may hang past its timeout).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use courier_core::Settle;
use courier_core::{
    Broker, Capabilities, Consumer, Delivery, Destination, Message, ProvisionReport, Publisher,
    Result, Source, Topology,
};

/// The longest call seen, and how many calls there were.
#[derive(Debug, Default)]
pub struct CallTimes {
    longest_micros: AtomicU64,
    calls: AtomicU64,
}

impl CallTimes {
    fn record(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.longest_micros.fetch_max(micros, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The longest call so far.
    pub fn longest(&self) -> Duration {
        Duration::from_micros(self.longest_micros.load(Ordering::Relaxed))
    }

    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Wraps a broker; see the module docs.
pub struct Timed {
    inner: Arc<dyn Broker>,
    times: Arc<CallTimes>,
}

impl Timed {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Broker>) -> Timed {
        Timed {
            inner,
            times: Arc::default(),
        }
    }

    /// The figures, readable while the broker is used.
    pub fn times(&self) -> Arc<CallTimes> {
        self.times.clone()
    }

    async fn timed<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        time(&self.times, call).await
    }
}

async fn time<T>(times: &CallTimes, call: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = call.await;
    times.record(started.elapsed());
    out
}

#[async_trait]
impl Publisher for Timed {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        self.timed(self.inner.publish(destination, message)).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        self.timed(self.inner.publish_batch(destination, messages))
            .await
    }
}

#[async_trait]
impl Consumer for Timed {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let got = self.timed(self.inner.receive(source, max, wait)).await?;
        Ok(got
            .into_iter()
            .map(|d| {
                let (message, info) = (d.shared_message().clone(), d.info().clone());
                let settle = TimedSettle {
                    delivery: tokio::sync::Mutex::new(Some(d)),
                    times: self.times.clone(),
                };
                Delivery::new(message, info, Box::new(settle))
            })
            .collect())
    }
}

#[async_trait]
impl Broker for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        self.timed(self.inner.provision(topology)).await
    }
}

/// Settles the wrapped delivery, timing the call; a failed settlement puts it back.
struct TimedSettle {
    delivery: tokio::sync::Mutex<Option<Delivery>>,
    times: Arc<CallTimes>,
}

impl TimedSettle {
    async fn settle_with<F, Fut>(&self, settle: F) -> Result<()>
    where
        F: FnOnce(Delivery) -> Fut + Send,
        Fut:
            std::future::Future<Output = std::result::Result<(), courier_core::SettleError>> + Send,
    {
        let mut held = self.delivery.lock().await;
        let Some(delivery) = held.take() else {
            return Err(courier_core::Error::backend("settled twice"));
        };
        match time(&self.times, settle(delivery)).await {
            Ok(()) => Ok(()),
            Err(e) => {
                *held = Some(*e.delivery);
                Err(e.error)
            }
        }
    }
}

#[async_trait]
impl Settle for TimedSettle {
    async fn ack(&self) -> Result<()> {
        self.settle_with(Delivery::ack).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        self.settle_with(move |d| d.nack(after)).await
    }

    async fn dead_letter(&self, _message: &Message, reason: &str) -> Result<()> {
        let reason = reason.to_owned();
        self.settle_with(move |d| async move { d.dead_letter(&reason).await })
            .await
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        let held = self.delivery.lock().await;
        match held.as_ref() {
            Some(d) => time(&self.times, d.extend(by)).await,
            None => Err(courier_core::Error::backend("extended after settling")),
        }
    }
}
