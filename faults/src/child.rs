//! What the `fault-child` binary runs, in a process of its own so that a test can kill it
//! with SIGKILL or SIGTERM: a [`Worker`] whose handler records each event id in a
//! [`Ledger`] before returning `Ok`, or a publisher that records each id whose
//! `publish_batch` entry returned `Ok`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use courier_core::worker::{handler_fn, shutdown_signal, HandlerError, Worker, WorkerReport};
use courier_core::{Destination, Event, PublisherExt, Result, Source};

use crate::ledger::Ledger;
use crate::target::Target;

/// How a consumer child runs.
#[derive(Debug, Clone)]
pub struct Consume {
    /// The queue it reads.
    pub queue: String,
    /// Where it records `done <id>` (and `start <id>` with `record_starts`).
    pub ledger: PathBuf,
    /// How long each handler takes (a handler in flight is what a kill or a SIGTERM meets).
    pub handler_time: Duration,
    /// Record `start <id>` when a handler starts, too.
    pub record_starts: bool,
    /// Stop once nothing arrived for this long (else: run until SIGTERM or SIGKILL).
    pub until_idle: Option<Duration>,
}

/// Runs the consumer; returns the worker's report.
pub async fn consume(target: &Target, how: Consume) -> Result<WorkerReport> {
    let broker = target.connect().await?;
    let ledger = Arc::new(Ledger::open(&how.ledger).map_err(io_error)?);
    let (handler_time, record_starts) = (how.handler_time, how.record_starts);
    let worker = Worker::new(broker, Source::queue(&how.queue))
        .handle(
            crate::EVENT_TYPE,
            handler_fn(move |event: Event<serde_json::Value>, _ctx| {
                let ledger = ledger.clone();
                async move {
                    if record_starts {
                        record(&ledger, &format!("start {}", event.id))?;
                    }
                    tokio::time::sleep(handler_time).await;
                    // Recorded before Ok is returned: whatever the worker acks was handled.
                    record(&ledger, &format!("done {}", event.id))
                }
            }),
        )
        .concurrency(8)
        .batch_size(10)
        .poll_wait(Duration::from_secs(1))
        .max_attempts(1000)
        .shutdown_timeout(Duration::from_secs(20));
    match how.until_idle {
        Some(idle) => worker.run_until_idle(idle).await,
        None => worker.run(shutdown_signal()).await,
    }
}

fn record(ledger: &Ledger, line: &str) -> std::result::Result<(), HandlerError> {
    ledger
        .append([line])
        .map_err(|e| HandlerError::retry(format!("cannot record {line}: {e}")))
}

fn io_error(e: std::io::Error) -> courier_core::Error {
    courier_core::Error::Backend {
        message: "ledger".into(),
        source: Some(Box::new(e)),
    }
}

/// How a publisher child runs.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The queue it publishes to.
    pub queue: String,
    /// Where it records each id whose publish returned `Ok`.
    pub ledger: PathBuf,
    /// Ids are `{prefix}-{n}`.
    pub prefix: String,
    /// How many events.
    pub count: usize,
    /// Events per `publish_batch`.
    pub batch: usize,
}

/// Publishes `count` events in batches, recording each one that was sent; entries that
/// failed are tried again (a transient failure may hide a send: that duplicates, never
/// loses). Returns how many were recorded.
pub async fn publish(target: &Target, how: Publish) -> Result<usize> {
    let broker = target.connect().await?;
    let ledger = Ledger::open(&how.ledger).map_err(io_error)?;
    let destination = Destination::queue(&how.queue);
    let mut pending: Vec<String> = (0..how.count)
        .map(|n| format!("{}-{n}", how.prefix))
        .collect();
    pending.reverse();
    let mut recorded = 0;
    while !pending.is_empty() {
        let take = how.batch.min(pending.len());
        let ids: Vec<String> = pending
            .split_off(pending.len() - take)
            .into_iter()
            .rev()
            .collect();
        let events: Vec<Event<serde_json::Value>> = ids.iter().map(|id| crate::probe(id)).collect();
        let results = match broker.publish_events(&destination, &events).await {
            Ok(r) => r,
            Err(e) if e.is_transient() => {
                pending.extend(ids.into_iter().rev());
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut sent = Vec::new();
        for (id, result) in ids.into_iter().zip(results) {
            match result {
                Ok(_) => sent.push(id),
                Err(e) if e.is_transient() => pending.push(id),
                Err(e) => return Err(e),
            }
        }
        ledger
            .append(sent.iter().map(String::as_str))
            .map_err(io_error)?;
        recorded += sent.len();
    }
    Ok(recorded)
}
