//! `courier lambda run`: a real `bootstrap` fed from any source, like the SQS event source mapping.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use courier::worker::shutdown_signal;
use courier_lambda_runner::{self as runner, RunnerConfig};

use super::Env;
use courier::otlp::Providers;

#[derive(Debug, Subcommand)]
pub(crate) enum LambdaCommand {
    /// Serve the Lambda Runtime API to a bootstrap binary and feed it from a source.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The function's bootstrap binary.
    #[arg(long = "bin", value_name = "BOOTSTRAP")]
    bin: PathBuf,
    /// Where its events come from: queue:NAME or subscription:TOPIC/NAME.
    #[arg(long)]
    source: String,
    /// Records per invocation (1 to 10).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Long-poll wait of each receive, in seconds.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    wait: u64,
    /// Exit after this many seconds without messages (default: run until ctrl-c).
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<u64>,
    /// Exit after this many invocations.
    #[arg(long, value_name = "N")]
    max_invocations: Option<u64>,
    /// The function's timeout in seconds (1 to 900, as Lambda): an unanswered batch fails
    /// whole and the function's process is replaced.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
}

pub(crate) async fn run(env: &Env, cmd: LambdaCommand, providers: &Providers) -> Result<()> {
    let LambdaCommand::Run(args) = cmd;
    if !args.bin.is_file() {
        anyhow::bail!("--bin '{}' is not a file (build the functions with scripts/package-lambdas.sh or cargo build -p courier-shop)", args.bin.display());
    }
    let mut config = RunnerConfig::new(&args.bin, args.source.parse()?);
    config.batch_size = args.batch_size;
    config.poll_wait = Duration::from_secs(args.wait);
    config.idle_exit = args.idle_exit.map(Duration::from_secs);
    config.max_invocations = args.max_invocations;
    config.timeout = Duration::from_secs(args.timeout);
    config.check()?;
    env.prepare_memory().await?;
    let source = config.source.clone();
    let report = runner::run(env.broker.clone(), config, shutdown_signal()).await?;
    println!("{}: {report}", args.bin.display());
    // The same run as courier's metrics saw it: what was received and deleted.
    if let Some(summary) = providers.summary().await? {
        let entity = match source.entity() {
            courier::Entity::Queue(name) => name.clone(),
            courier::Entity::Subscription { topic, name } => format!("{topic}/{name}"),
        };
        let seen = summary.get(&entity).cloned().unwrap_or_default();
        println!(
            "{source} (from courier's metrics): received {}, deleted {}, failed operations {}",
            seen.consumed,
            seen.settled("ack"),
            seen.failed_operations
        );
    }
    Ok(())
}
