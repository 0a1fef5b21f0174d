//! The worker runtime: runs event handlers against any [`Broker`].
//!
//! A [`Worker`] receives from one [`Source`] in batches, routes each event by its type to
//! a [`Handler`], runs up to `concurrency` handlers at once, keeps each delivery's
//! visibility/lock extended while its handler runs, and settles by outcome:
//!
//! | outcome | settlement |
//! | --- | --- |
//! | `Ok(())` | ack (after recording the id in the idempotency store, if any) |
//! | `Err(Retry)`, attempts left | nack with exponential [`Backoff`] |
//! | `Err(Retry)` on the last attempt | dead-letter: `gave up after N attempts: …` |
//! | `Err(Permanent)` | dead-letter with the reason |
//! | undecodable data | dead-letter: `cannot decode message: …` |
//! | handler panic | retried like `Retry` |
//! | no handler for the type | dead-letter (default) or ack, see [`Unrouted`] |
//!
//! On shutdown it stops receiving, lets in-flight handlers finish and settle (up to
//! `shutdown_timeout`), and returns its [`WorkerReport`]. A delivery whose handler did not
//! finish in time is left unsettled: it reappears when its lock expires, so nothing is lost.

mod backoff;
mod dispatch;
mod handle;
mod handler;
mod host;
mod idempotency;
mod lock;
mod receive;
mod settle;
mod signal;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::sync::{watch, Semaphore};

use crate::broker::{Broker, Capabilities};
use crate::error::{Error, Result};
use crate::message::Source;

pub use backoff::Backoff;
pub use dispatch::{Outcome, Pipeline, Unrouted, DEFAULT_LEASE};
pub use handler::{handler_fn, route, Context, Handler, HandlerError, HandlerFn, Route, Router};
pub use host::Host;
pub use idempotency::{Claim, IdempotencyKey, IdempotencyStore, MemoryIdempotencyStore};
pub use signal::shutdown_signal;
pub use stats::{WorkerReport, WorkerStats};

/// Settings of a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Handlers running at once (1 to [`WorkerConfig::MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// Most deliveries asked for per receive call (at least 1).
    pub batch_size: usize,
    /// Receive loops running at once (at least 1; several help on high-latency backends).
    pub pollers: usize,
    /// Long-poll wait of one receive call. Stopping lets a receive in flight end (so
    /// that no long poll is left behind on the broker to take messages nobody will
    /// handle) and gives back what it brought: shutdown can take this long more.
    pub poll_wait: Duration,
    /// Deliveries before a retried message is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// How long shutdown waits for in-flight handlers.
    pub shutdown_timeout: Duration,
    /// What happens to messages without a handler.
    pub unrouted: Unrouted,
    /// How long an idempotency claim holds (see [`IdempotencyStore`]).
    pub idempotency_lease: Duration,
}

impl WorkerConfig {
    /// The most handlers one worker runs at once.
    pub const MAX_CONCURRENCY: usize = 100_000;

    /// Refuses settings that would process nothing or could not be honoured.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(1..=Self::MAX_CONCURRENCY).contains(&self.concurrency) {
            problems.push(format!(
                "concurrency {} is not between 1 and {}",
                self.concurrency,
                Self::MAX_CONCURRENCY
            ));
        }
        if self.batch_size == 0 {
            problems.push("batch_size is 0".to_owned());
        }
        if !(1..=1000).contains(&self.pollers) {
            problems.push(format!(
                "pollers {} is not between 1 and 1000",
                self.pollers
            ));
        }
        if self.max_attempts == 0 {
            problems.push("max_attempts is 0".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_config(format!(
                "worker settings: {}",
                problems.join("; ")
            )))
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 16,
            batch_size: 10,
            pollers: 1,
            poll_wait: Duration::from_secs(5),
            max_attempts: 5,
            backoff: Backoff::default(),
            shutdown_timeout: Duration::from_secs(30),
            unrouted: Unrouted::default(),
            idempotency_lease: DEFAULT_LEASE,
        }
    }
}

/// What the tasks of a running worker share.
pub(crate) struct RunningWorker {
    broker: Arc<dyn Broker>,
    /// The broker as a publisher, for handlers' replies.
    publisher: Arc<dyn crate::broker::Publisher>,
    source: Source,
    source_arc: Arc<Source>,
    pipeline: Pipeline,
    config: WorkerConfig,
    capabilities: Capabilities,
    stats: Arc<WorkerStats>,
    /// Broker ids of messages that failed on a dead-letter queue (bounded).
    parked: Mutex<std::collections::VecDeque<String>>,
}

impl RunningWorker {
    const PARKED_REMEMBERED: usize = 10_000;

    fn park(&self, broker_message_id: String) {
        let mut parked = self.parked.lock();
        if parked.len() >= Self::PARKED_REMEMBERED {
            parked.pop_front();
        }
        parked.push_back(broker_message_id);
    }

    fn is_parked(&self, broker_message_id: &str) -> bool {
        self.source.is_dead_letter() && self.parked.lock().iter().any(|id| id == broker_message_id)
    }
}

/// Runs handlers for the events of one source.
///
/// ```
/// use std::sync::Arc;
/// use courier_core::worker::{handler_fn, shutdown_signal, HandlerError, Worker};
/// use courier_core::{Broker, MemoryBroker, Source, Topology};
///
/// # async fn run() -> courier_core::Result<()> {
/// let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::with_topology(&Topology::example()).await?);
/// let report = Worker::new(broker, Source::subscription("orders", "inventory"))
///     .handle("OrderCreated", handler_fn(|event: courier_core::Event<serde_json::Value>, _ctx| async move {
///         println!("reserving stock for {}", event.id);
///         Ok::<(), HandlerError>(())
///     }))
///     .concurrency(8)
///     .run(shutdown_signal())
///     .await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub struct Worker {
    broker: Arc<dyn Broker>,
    source: Source,
    router: Router,
    config: WorkerConfig,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    stats: Arc<WorkerStats>,
    #[cfg(feature = "otel")]
    telemetry: Option<crate::telemetry::Telemetry>,
}

impl Worker {
    /// A worker for `source` with default settings and no handlers yet.
    pub fn new(broker: Arc<dyn Broker>, source: Source) -> Self {
        Worker {
            broker,
            source,
            router: Router::new(),
            config: WorkerConfig::default(),
            idempotency: None,
            stats: Arc::new(WorkerStats::default()),
            #[cfg(feature = "otel")]
            telemetry: None,
        }
    }

    /// Traces and measures processing (feature `otel`): see
    /// [`Pipeline::telemetry`]. Wrap the broker in
    /// [`Instrumented`](crate::telemetry::Instrumented) too for receive and settle spans
    /// and the client metrics.
    #[cfg(feature = "otel")]
    pub fn telemetry(mut self, telemetry: crate::telemetry::Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Routes events of `event_type` to `handler`, decoding their data as `T`.
    pub fn handle<T, H>(mut self, event_type: impl Into<String>, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: Handler<T>,
    {
        self.router = self.router.handle(event_type, handler);
        self
    }

    /// Routes events of `T`'s [`EventType`](crate::event::EventType) to `handler`: the
    /// event type is named once, by the Rust type.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use courier_core::prelude::*;
    /// #[derive(Serialize, Deserialize)]
    /// struct OrderShipped { order_id: String }
    /// courier_core::event_type!(OrderShipped);
    ///
    /// # fn worker(broker: std::sync::Arc<dyn Broker>) -> Worker {
    /// Worker::new(broker, Source::subscription("orders", "notification"))
    ///     .on(handler_fn(|e: Event<OrderShipped>, _ctx| async move {
    ///         println!("shipped: {}", e.data.order_id);
    ///         Ok(())
    ///     }))
    /// # }
    /// ```
    pub fn on<T, H>(mut self, handler: H) -> Self
    where
        T: crate::event::EventType,
        H: Handler<T>,
    {
        self.router = self.router.on(handler);
        self
    }

    /// Uses these handlers (replacing any registered before).
    pub fn router(mut self, router: Router) -> Self {
        self.router = router;
        self
    }

    /// Replaces all settings.
    pub fn config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Handlers running at once (1 to [`WorkerConfig::MAX_CONCURRENCY`]; checked by `run`).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n;
        self
    }

    /// Deliveries per receive call (at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }

    /// Receive loops running at once (at least 1).
    pub fn pollers(mut self, n: usize) -> Self {
        self.config.pollers = n;
        self
    }

    /// Long-poll wait of each receive call.
    pub fn poll_wait(mut self, wait: Duration) -> Self {
        self.config.poll_wait = wait;
        self
    }

    /// Deliveries before a retried message is dead-lettered (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// Delay between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How long shutdown waits for in-flight handlers.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// What happens to messages without a handler.
    pub fn unrouted(mut self, policy: Unrouted) -> Self {
        self.config.unrouted = policy;
        self
    }

    /// Skips events whose id the store has seen.
    pub fn idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// Live counters, readable while the worker runs.
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// Runs until nothing has arrived for `idle_for` and no handler is running, then stops
    /// as [`run`](Worker::run) does on shutdown: for tests, batch jobs and demos.
    pub async fn run_until_idle(self, idle_for: Duration) -> Result<WorkerReport> {
        let stats = self.stats.clone();
        self.run(until_idle(vec![stats], idle_for)).await
    }

    /// The source this worker reads.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Runs until `shutdown` resolves (e.g. [`shutdown_signal`]) or receiving fails for
    /// good (the source does not exist, the credentials are refused); then stops
    /// receiving and lets in-flight handlers finish and settle.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<WorkerReport> {
        self.config.validate()?;
        if self.router.is_empty() && self.config.unrouted == Unrouted::DeadLetter {
            return Err(Error::invalid_input(format!(
                "worker for {} has no handlers: it would dead-letter everything",
                self.source
            )));
        }
        let mut pipeline = Pipeline::new(self.router)
            .unrouted(self.config.unrouted)
            .max_attempts(Some(self.config.max_attempts))
            .backoff(self.config.backoff);
        if let Some(store) = self.idempotency {
            pipeline = pipeline.idempotency(store, self.config.idempotency_lease);
        }
        #[cfg(feature = "otel")]
        if let Some(telemetry) = self.telemetry {
            let system = crate::telemetry::system_of(self.broker.name(), false);
            pipeline = pipeline.telemetry(telemetry, system, crate::telemetry::Consumption::Pull);
        }
        let shared = Arc::new(RunningWorker {
            capabilities: self.broker.capabilities(),
            publisher: Arc::new(BrokerPublisher(self.broker.clone())),
            broker: self.broker,
            source_arc: Arc::new(self.source.clone()),
            source: self.source,
            pipeline,
            config: self.config,
            stats: self.stats,
            parked: Mutex::default(),
        });
        let permits = Arc::new(Semaphore::new(shared.config.concurrency));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..shared.config.pollers {
            pollers.spawn(receive::poll(
                shared.clone(),
                permits.clone(),
                stop_rx.clone(),
            ));
        }
        tokio::pin!(shutdown);
        let mut failure = None;
        tokio::select! {
            _ = &mut shutdown => {}
            Some(joined) = pollers.join_next() => {
                failure = Some(match joined {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) => Error::backend("receive loop ended"),
                    Err(e) => Error::Backend { message: "receive loop panicked".into(), source: Some(Box::new(e)) },
                });
            }
        }
        let _ = stop_tx.send(true);
        while let Some(joined) = pollers.join_next().await {
            if let Ok(Err(e)) = joined {
                failure.get_or_insert(e);
            }
        }
        // Every in-flight handler holds a permit: having them all back means all settled.
        let all = u32::try_from(shared.config.concurrency).unwrap_or(u32::MAX);
        if tokio::time::timeout(shared.config.shutdown_timeout, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                source = %shared.source,
                timeout = ?shared.config.shutdown_timeout,
                "shutdown: handlers still running are left unsettled; their messages reappear when their locks expire"
            );
        }
        let report = shared.stats.snapshot();
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

/// A broker seen as a publisher only (trait upcasting needs Rust 1.86; courier supports 1.85).
struct BrokerPublisher(Arc<dyn Broker>);

#[async_trait::async_trait]
impl crate::broker::Publisher for BrokerPublisher {
    async fn publish(
        &self,
        destination: &crate::Destination,
        message: crate::Message,
    ) -> Result<String> {
        self.0.publish(destination, message).await
    }
}

/// Resolves once none of these workers has received anything for `idle_for` and none has
/// a handler running.
pub(crate) async fn until_idle(stats: Vec<Arc<WorkerStats>>, idle_for: Duration) {
    let look = |s: &[Arc<WorkerStats>]| -> (u64, u64) {
        s.iter().fold((0, 0), |(r, f), s| {
            let now = s.snapshot();
            (r + now.received, f + now.in_flight)
        })
    };
    let step = (idle_for / 10).clamp(Duration::from_millis(1), Duration::from_millis(100));
    let mut last = look(&stats).0;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(step).await;
        let (received, in_flight) = look(&stats);
        if received != last || in_flight > 0 {
            last = received;
            quiet_since = tokio::time::Instant::now();
        } else if quiet_since.elapsed() >= idle_for {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
