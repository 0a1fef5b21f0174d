//! Several workers in one process, with one shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use super::{until_idle, Worker, WorkerReport};
use crate::error::{Error, Result};
use crate::message::Source;

/// Runs several [`Worker`]s side by side with one shutdown, like MassTransit's hosted
/// consumers: the inventory, payment and shipping services of one process start together
/// and stop together. If one worker fails for good (its source does not exist, the
/// credentials are refused), the others are stopped and the error names that source.
///
/// ```
/// use courier_core::prelude::*;
/// use courier_core::worker::Host;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let broker: std::sync::Arc<dyn Broker> = std::sync::Arc::new(MemoryBroker::with_topology(&Topology::example()).await?);
/// let ok = || handler_fn(|_e: Event<serde_json::Value>, _ctx| async { Ok(()) });
/// let reports = Host::new()
///     .worker(Worker::new(broker.clone(), Source::subscription("orders", "inventory")).handle("OrderCreated", ok()))
///     .worker(Worker::new(broker.clone(), Source::subscription("orders", "payment")).handle("OrderCreated", ok()))
///     .run_until_idle(std::time::Duration::from_millis(200))
///     .await?;
/// assert_eq!(reports.len(), 2);
/// # Ok::<(), courier_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct Host {
    workers: Vec<Worker>,
}

impl Host {
    /// A host with no workers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a worker.
    pub fn worker(mut self, worker: Worker) -> Self {
        self.workers.push(worker);
        self
    }

    /// Runs every worker until `shutdown` resolves, then stops them all (each finishes
    /// and settles its in-flight handlers); returns each worker's source and report.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<Vec<(Source, WorkerReport)>> {
        if self.workers.is_empty() {
            return Err(Error::invalid_input("the host has no workers"));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        for (index, worker) in self.workers.into_iter().enumerate() {
            let source = worker.source().clone();
            let mut stop = stop_rx.clone();
            running.spawn(async move {
                let result = worker
                    .run(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                (index, source, result)
            });
        }
        tokio::pin!(shutdown);
        let mut reports = Vec::new();
        let mut failure = None;
        loop {
            tokio::select! {
                _ = &mut shutdown, if !*stop_tx.borrow() => {
                    let _ = stop_tx.send(true);
                }
                joined = running.join_next() => {
                    let Some(joined) = joined else { break };
                    let (index, source, result) = joined.map_err(|e| Error::Backend {
                        message: "a hosted worker panicked".into(),
                        source: Some(Box::new(e)),
                    })?;
                    match result {
                        Ok(report) => reports.push((index, source, report)),
                        Err(e) => {
                            // One worker stopped for good: stop the others too.
                            tracing::error!(%source, error = %crate::error::display_chain(&e), "a hosted worker stopped; stopping the others");
                            let _ = stop_tx.send(true);
                            failure.get_or_insert(e);
                        }
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        reports.sort_by_key(|(index, _, _)| *index);
        Ok(reports.into_iter().map(|(_, s, r)| (s, r)).collect())
    }

    /// Runs every worker until none has received anything for `idle_for` and none has a
    /// handler running.
    pub async fn run_until_idle(self, idle_for: Duration) -> Result<Vec<(Source, WorkerReport)>> {
        let stats = self.workers.iter().map(Worker::stats).collect();
        self.run(until_idle(stats, idle_for)).await
    }
}
