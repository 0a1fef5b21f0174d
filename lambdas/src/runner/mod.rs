//! The local event-source runner: what the SQS event source mapping does, for a real
//! `bootstrap` on this machine.
//!
//! It serves the Lambda Runtime API on loopback, starts the function binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing at it (so the real `lambda_runtime` loop runs), then
//! polls the source in batches like the event source mapping: each batch becomes one
//! invocation with records in the exact SQS event JSON shape; the records the function
//! does not list in `batchItemFailures` are deleted (acked); the failed ones are left in
//! flight, to come back after the visibility timeout and to the queue's redrive policy.
//! A function error, an invalid response or a timeout fails the whole batch.
//!
//! It works on any courier source, so the same function runs against LocalStack, Azure
//! Service Bus or the memory broker. Outside AWS, permanent failures are left to the
//! broker's own dead-lettering (`COURIER_LAMBDA_DEAD_LETTERS=none` is set for the function).

mod api;
mod event;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use courier_core::{Broker, Error, Result, Source};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use api::{Answer, Invocation, Observed};

/// What to run, and how to feed it.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The `bootstrap` binary.
    pub bin: PathBuf,
    /// Where its events come from.
    pub source: Source,
    /// Records per invocation (1 to 10, as the SQS event source mapping).
    pub batch_size: usize,
    /// Long-poll wait of one receive.
    pub poll_wait: Duration,
    /// Stop after this long without any message (`None`: run until shut down).
    pub idle_exit: Option<Duration>,
    /// Stop after this many invocations.
    pub max_invocations: Option<u64>,
    /// The function's timeout: a batch not answered by then fails whole.
    pub timeout: Duration,
    /// Extra environment for the function.
    pub env: Vec<(String, String)>,
}

impl RunnerConfig {
    /// Defaults: batches of 10, 1 s polls, 30 s timeout, run until shut down.
    pub fn new(bin: impl Into<PathBuf>, source: Source) -> Self {
        RunnerConfig {
            bin: bin.into(),
            source,
            batch_size: 10,
            poll_wait: Duration::from_secs(1),
            idle_exit: None,
            max_invocations: None,
            timeout: Duration::from_secs(30),
            env: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunnerReport {
    /// Invocations made.
    pub invocations: u64,
    /// Records handed over.
    pub records: u64,
    /// Records reported failed (left for redelivery).
    pub failed_records: u64,
    /// Invocations that failed whole (function error, invalid answer, timeout).
    pub failed_invocations: u64,
    /// From starting the binary to its first request for an event.
    pub cold_start: Option<Duration>,
    /// Time spent inside invocations.
    pub busy: Duration,
}

impl std::fmt::Display for RunnerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} invocation(s), {} record(s), {} record(s) failed, {} invocation(s) failed whole",
            self.invocations, self.records, self.failed_records, self.failed_invocations
        )?;
        if let Some(c) = self.cold_start {
            write!(f, ", cold start {:.1} ms", c.as_secs_f64() * 1000.0)?;
        }
        if self.invocations > 0 {
            write!(
                f,
                ", {:.1} ms per invocation",
                self.busy.as_secs_f64() * 1000.0 / self.invocations as f64
            )?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the function against `broker` until `shutdown`, the idle limit or the invocation
/// limit; the function binary is stopped on return.
pub async fn run(
    broker: Arc<dyn Broker>,
    config: RunnerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RunnerReport> {
    if !(1..=10).contains(&config.batch_size) {
        return Err(Error::invalid_input(format!(
            "batch size {} is outside 1..=10",
            config.batch_size
        )));
    }
    let name = config
        .bin
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("function")
        .to_owned();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let observed = Arc::new(Mutex::new(Observed::default()));
    let (tx, rx) = mpsc::channel::<Invocation>(1);
    let addr = api::serve(rx, observed.clone())
        .await
        .map_err(|e| Error::Backend {
            message: "cannot serve the Lambda Runtime API".into(),
            source: Some(Box::new(e)),
        })?;

    let mut command = Command::new(&config.bin);
    command
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "courier-runner")
        .env("AWS_REGION", &region)
        .kill_on_drop(true);
    if broker.name() != "aws" {
        command.env("COURIER_LAMBDA_DEAD_LETTERS", "none");
    }
    command.envs(config.env.iter().cloned());
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| Error::InvalidInput {
        message: format!(
            "cannot start the function binary '{}'",
            config.bin.display()
        ),
        source: Some(Box::new(e)),
    })?;
    let function_arn = format!("arn:aws:lambda:{region}:000000000000:function:{name}");

    let mut report = RunnerReport::default();
    let mut last_activity = Instant::now();
    tokio::pin!(shutdown);
    let outcome = loop {
        if config
            .max_invocations
            .is_some_and(|max| report.invocations >= max)
        {
            break Ok(());
        }
        if config
            .idle_exit
            .is_some_and(|idle| last_activity.elapsed() >= idle)
        {
            break Ok(());
        }
        let deliveries = tokio::select! {
            _ = &mut shutdown => break Ok(()),
            status = child.wait() => break Err(exited(&name, status, &observed)),
            r = broker.receive(&config.source, config.batch_size, config.poll_wait) => r?,
        };
        if deliveries.is_empty() {
            continue;
        }
        last_activity = Instant::now();
        let fifo = deliveries.iter().any(event::is_fifo);
        let queue_arn = format!(
            "arn:aws:sqs:{region}:000000000000:{}",
            event::queue_name(&config.source, fifo)?
        );
        let mut records = Vec::with_capacity(deliveries.len());
        for (i, d) in deliveries.iter().enumerate() {
            records.push(event::record(
                d,
                &format!("courier-runner-{}-{i}", report.invocations),
                &queue_arn,
                &region,
            )?);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "Records": records }))
            .expect("JSON values serialize");
        let (answer_tx, answer_rx) = oneshot::channel();
        let deadline = std::time::SystemTime::now() + config.timeout;
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            body,
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            function_arn: function_arn.clone(),
            answer: answer_tx,
        };
        let invoked = Instant::now();
        if tx.send(invocation).await.is_err() {
            break Err(Error::Backend {
                message: "the runtime API stopped".into(),
                source: None,
            });
        }
        let answer = tokio::select! {
            a = tokio::time::timeout(config.timeout, answer_rx) => a,
            status = child.wait() => break Err(exited(&name, status, &observed)),
        };
        report.invocations += 1;
        report.records += deliveries.len() as u64;
        report.busy += invoked.elapsed();
        let ids: Vec<String> = deliveries
            .iter()
            .map(|d| d.info().broker_message_id.clone())
            .collect();
        let failed = failed_ids(&name, answer, &ids);
        let whole_batch = failed.contains("");
        if whole_batch {
            report.failed_invocations += 1;
        }
        for d in deliveries {
            if whole_batch || failed.contains(&d.info().broker_message_id) {
                report.failed_records += 1;
                // Left in flight: back after the visibility timeout, then the redrive policy.
            } else if let Err(e) = d.ack().await {
                tracing::warn!(error = %courier_core::display_chain(&e.error), "could not delete a processed record; it will be redelivered");
            }
        }
        tracing::info!(function = %name, records = ids.len(), failed = failed.len(), elapsed = ?invoked.elapsed(), "invocation");
    };
    report.cold_start = lock(&observed)
        .first_poll
        .map(|t| t.duration_since(started));
    let _ = child.start_kill();
    let _ = child.wait().await;
    outcome.map(|()| report)
}

/// The message ids to leave for redelivery; `""` alone means the whole batch failed.
fn failed_ids(
    name: &str,
    answer: std::result::Result<
        std::result::Result<Answer, oneshot::error::RecvError>,
        tokio::time::error::Elapsed,
    >,
    ids: &[String],
) -> HashSet<String> {
    let all = || HashSet::from([String::new()]);
    match answer {
        Err(_) => {
            tracing::warn!(function = %name, "invocation timed out: the whole batch failed");
            all()
        }
        Ok(Err(_)) => all(),
        Ok(Ok(Answer::Error(body))) => {
            tracing::warn!(function = %name, error = %String::from_utf8_lossy(&body), "function error: the whole batch failed");
            all()
        }
        Ok(Ok(Answer::Response(body))) => {
            if body.is_empty() || body.as_ref() == b"null" {
                return HashSet::new();
            }
            match serde_json::from_slice::<SqsBatchResponse>(&body) {
                Ok(r)
                    if r.batch_item_failures
                        .iter()
                        .all(|f| ids.contains(&f.item_identifier)) =>
                {
                    r.batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect()
                }
                // As the event source mapping: an answer it cannot use fails the batch.
                _ => {
                    tracing::warn!(function = %name, answer = %String::from_utf8_lossy(&body), "invalid batch response: the whole batch failed");
                    all()
                }
            }
        }
    }
}

fn exited(
    name: &str,
    status: std::io::Result<std::process::ExitStatus>,
    observed: &Mutex<Observed>,
) -> Error {
    let init = lock(observed)
        .init_error
        .clone()
        .map(|e| format!(" (init error: {e})"))
        .unwrap_or_default();
    Error::Backend {
        message: format!(
            "the function '{name}' exited: {}{init}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string())
        ),
        source: None,
    }
}
