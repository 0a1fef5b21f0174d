//! One process of the function: its `bootstrap` started with the Lambda environment and
//! its own Runtime API, stopped (killed) when it hangs, as Lambda resets an execution
//! environment after a timeout.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;

use courier_core::{Error, Result};
use parking_lot::Mutex;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::{Invocation, Observed, RuntimeApiServer};

/// The environment every process of the function gets.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) bin: std::path::PathBuf,
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) memory_mb: u32,
    pub(crate) env: Vec<(String, String)>,
}

/// A running process of the function.
pub(crate) struct FunctionProcess {
    child: Child,
    pub(crate) invocations: mpsc::Sender<Invocation>,
    pub(crate) observed: Arc<Mutex<Observed>>,
    pub(crate) started: Instant,
    _api: RuntimeApiServer,
}

impl FunctionProcess {
    /// Serves a fresh Runtime API and starts the bootstrap against it.
    pub(crate) async fn start(launch: &Launch) -> Result<Self> {
        let observed = Arc::new(Mutex::new(Observed::default()));
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let api = RuntimeApiServer::start(rx, observed.clone())
            .await
            .map_err(|e| Error::Backend {
                message: "cannot serve the Lambda Runtime API".into(),
                source: Some(Box::new(e)),
            })?;
        let child = command(launch, &api.addr.to_string())
            .spawn()
            .map_err(|e| Error::InvalidInput {
                message: format!(
                    "cannot start the function binary '{}'",
                    launch.bin.display()
                ),
                source: Some(Box::new(e)),
            })?;
        Ok(FunctionProcess {
            child,
            invocations: tx,
            observed,
            started: Instant::now(),
            _api: api,
        })
    }

    /// Resolves when the process exits.
    pub(crate) async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Whether it has asked for an event (it got through its initialisation).
    pub(crate) fn initialised(&self) -> bool {
        self.observed.lock().first_poll.is_some()
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    pub(crate) async fn kill(mut self) {
        if let Err(e) = self.child.kill().await {
            tracing::warn!(error = %e, "could not kill the function process");
        }
    }

    /// The error for a process that exited with `status`, with its init error if any.
    pub(crate) fn exit_error(&self, name: &str, status: std::io::Result<ExitStatus>) -> Error {
        let init = self
            .observed
            .lock()
            .init_error
            .clone()
            .map(|e| format!(" (init error: {e})"))
            .unwrap_or_default();
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        Error::Backend {
            message: format!("the function '{name}' exited: {status}{init}"),
            source: None,
        }
    }
}

fn command(launch: &Launch, api: &str) -> Command {
    let mut command = Command::new(&launch.bin);
    command
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &launch.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            launch.memory_mb.to_string(),
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", launch.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "courier-runner")
        .env("AWS_REGION", &launch.region)
        .envs(launch.env.iter().cloned())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Whether `bin` can be started at all (exists and is a file), named in the error.
pub(crate) fn check_bin(bin: &Path) -> Result<()> {
    if bin.is_file() {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "the function binary '{}' is not a file",
            bin.display()
        )))
    }
}
