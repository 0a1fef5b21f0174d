//! courier-lambda-runner: what the SQS event source mapping does, for a real `bootstrap`
//! on this machine (LocalStack cannot run functions without Docker).
//!
//! It serves the Lambda Runtime API on loopback, starts the function binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing at it (so the function's real runtime loop runs),
//! then polls the source in batches like the event source mapping: each batch becomes one
//! invocation with records in the exact SQS event JSON shape; the records the function
//! does not list in `batchItemFailures` are deleted (acked); the failed ones are left in
//! flight, to come back after the visibility timeout and to the queue's redrive policy.
//! A function error, an invalid response, a timeout or a crash fails the whole batch.
//!
//! As Lambda does, the function's timeout is enforced: a process that has not answered by
//! then is killed and a new one started for the next batch; a process that dies is
//! started again (a function that dies before asking for its first event stops the
//! runner, with the error it reported to `/runtime/init/error`). Every wait — for
//! messages, for the function's answer — gives way to shutdown (ctrl-c) and to the
//! process's death.
//!
//! It works on any courier source, so the same function runs against LocalStack, Azure
//! Service Bus or the memory broker. Outside AWS, permanent failures are left to the
//! broker's own dead-lettering (`COURIER_LAMBDA_DEAD_LETTERS=none` is set for the function).
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod api;
mod batch;
mod event;
mod function;
mod report;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use courier_core::{Broker, Error, Result, Source};
use tokio::time::Instant;

use batch::{Batch, BatchEnd};
use function::{FunctionProcess, Launch};
pub use report::RunnerReport;

/// Lambda's longest function timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// SQS's longest long poll.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(20);
/// Restarts in a row without one answered invocation before the runner gives up.
const MAX_RESTARTS_WITHOUT_ANSWER: u32 = 3;

/// What to run, and how to feed it.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The `bootstrap` binary.
    pub bin: PathBuf,
    /// Where its events come from.
    pub source: Source,
    /// Records per invocation (1 to 10, as the SQS event source mapping).
    pub batch_size: usize,
    /// Long-poll wait of one receive (at most 20 s, as SQS).
    pub poll_wait: Duration,
    /// Stop after this long without any message (`None`: run until shut down).
    pub idle_exit: Option<Duration>,
    /// Stop after this many invocations.
    pub max_invocations: Option<u64>,
    /// The function's timeout (1 s to 15 min, as Lambda): a batch not answered by then
    /// fails whole, and the process is replaced.
    pub timeout: Duration,
    /// Memory size reported to the function (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub memory_mb: u32,
    /// Extra environment for the function.
    pub env: Vec<(String, String)>,
}

impl RunnerConfig {
    /// Defaults: batches of 10, 1 s polls, 30 s timeout, 128 MB, run until shut down.
    pub fn new(bin: impl Into<PathBuf>, source: Source) -> Self {
        RunnerConfig {
            bin: bin.into(),
            source,
            batch_size: 10,
            poll_wait: Duration::from_secs(1),
            idle_exit: None,
            max_invocations: None,
            timeout: Duration::from_secs(30),
            memory_mb: 128,
            env: Vec::new(),
        }
    }

    /// Refuses values Lambda and SQS would refuse, naming them.
    pub fn check(&self) -> Result<()> {
        if !(1..=10).contains(&self.batch_size) {
            return Err(Error::invalid_input(format!(
                "batch size {} is outside 1..=10 (the SQS event source mapping's range)",
                self.batch_size
            )));
        }
        if self.timeout < Duration::from_secs(1) || self.timeout > MAX_TIMEOUT {
            return Err(Error::invalid_input(format!(
                "timeout {:?} is outside 1 s..=900 s (Lambda's range)",
                self.timeout
            )));
        }
        if self.poll_wait > MAX_POLL_WAIT {
            return Err(Error::invalid_input(format!(
                "poll wait {:?} is over 20 s (SQS's longest long poll)",
                self.poll_wait
            )));
        }
        function::check_bin(&self.bin)
    }

    fn launch(&self, broker: &dyn Broker) -> Launch {
        let name = self
            .bin
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("function")
            .to_owned();
        let mut env = Vec::new();
        if broker.name() != "aws" {
            env.push(("COURIER_LAMBDA_DEAD_LETTERS".to_owned(), "none".to_owned()));
        }
        env.extend(self.env.iter().cloned());
        Launch {
            bin: self.bin.clone(),
            name,
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            memory_mb: self.memory_mb,
            env,
        }
    }
}

/// Runs the function against `broker` until `shutdown`, the idle limit or the invocation
/// limit; the function's process is stopped on return.
pub async fn run(
    broker: Arc<dyn Broker>,
    config: RunnerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RunnerReport> {
    config.check()?;
    let launch = config.launch(broker.as_ref());
    let mut runner = Runner {
        broker,
        config,
        launch,
        report: RunnerReport::default(),
        restarts_in_a_row: 0,
    };
    let mut function = FunctionProcess::start(&runner.launch).await?;
    tokio::pin!(shutdown);
    let outcome = runner.serve(&mut function, &mut shutdown).await;
    runner.report.cold_start = function
        .observed
        .lock()
        .first_poll
        .map(|t| t.duration_since(function.started))
        .or(runner.report.cold_start);
    function.kill().await;
    outcome.map(|()| runner.report)
}

struct Runner {
    broker: Arc<dyn Broker>,
    config: RunnerConfig,
    launch: Launch,
    report: RunnerReport,
    restarts_in_a_row: u32,
}

impl Runner {
    /// Polls and invokes until a limit or shutdown; replaces the process when needed.
    async fn serve(
        &mut self,
        function: &mut FunctionProcess,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<()> {
        let mut last_activity = Instant::now();
        loop {
            if self.limits_reached(last_activity) {
                return Ok(());
            }
            let received = tokio::select! {
                () = &mut *shutdown => return Ok(()),
                status = function.exited() => {
                    self.replace(function, Some(status)).await?;
                    continue;
                }
                r = self.broker.receive(&self.config.source, self.config.batch_size, self.config.poll_wait) => r?,
            };
            if received.is_empty() {
                continue;
            }
            last_activity = Instant::now();
            let batch = Batch::new(
                received,
                &self.config,
                &self.launch,
                self.report.invocations,
            )?;
            let end = batch
                .invoke(function, self.config.timeout, &mut *shutdown)
                .await;
            let answered = matches!(end, BatchEnd::Answered(_));
            let settled = batch.settle(end, &self.launch.name, &mut self.report).await;
            match settled {
                batch::Settled::Done => {}
                batch::Settled::Shutdown => return Ok(()),
                batch::Settled::TimedOut => self.replace(function, None).await?,
                batch::Settled::Exited(status) => self.replace(function, Some(status)).await?,
            }
            if answered {
                self.restarts_in_a_row = 0;
            }
        }
    }

    fn limits_reached(&self, last_activity: Instant) -> bool {
        self.config
            .max_invocations
            .is_some_and(|max| self.report.invocations >= max)
            || self
                .config
                .idle_exit
                .is_some_and(|idle| last_activity.elapsed() >= idle)
    }

    /// Replaces a process that exited (`Some(status)`) or hung (`None`, it is killed).
    async fn replace(
        &mut self,
        function: &mut FunctionProcess,
        exit: Option<std::io::Result<std::process::ExitStatus>>,
    ) -> Result<()> {
        if let Some(status) = exit {
            if !function.initialised() || self.restarts_in_a_row >= MAX_RESTARTS_WITHOUT_ANSWER {
                return Err(function.exit_error(&self.launch.name, status));
            }
            tracing::warn!(function = %self.launch.name, error = %function.exit_error(&self.launch.name, status), "the function died: starting a new process");
        } else {
            tracing::warn!(function = %self.launch.name, timeout = ?self.config.timeout, "the function timed out: killing it and starting a new process");
        }
        if self.report.cold_start.is_none() {
            self.report.cold_start = function
                .observed
                .lock()
                .first_poll
                .map(|t| t.duration_since(function.started));
        }
        let fresh = FunctionProcess::start(&self.launch).await?;
        std::mem::replace(function, fresh).kill().await;
        self.report.restarts += 1;
        self.restarts_in_a_row += 1;
        Ok(())
    }
}
