//! Command-line arguments and the commands they run.

mod demo;
mod dlq;
#[cfg(feature = "aws")]
mod lambda;
#[cfg(feature = "postgres")]
mod outbox;
mod publish;
mod receive;
#[cfg(feature = "aws")]
mod reply_queues;
mod request;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use courier::otlp::{Options, Providers};
use courier::telemetry::{Instrumented, Telemetry};
use courier::{Broker, Config, Provider, Topology};
use demo::DemoOptions;

/// courier: integration events over cloud-managed queues (memory, AWS SQS/SNS, Azure Service Bus).
#[derive(Debug, Parser)]
#[command(name = "courier", version, about)]
pub(crate) struct Cli {
    /// Config file (default: ./courier.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Topology file (default: the config's `topology`, else ./topology.yaml).
    #[arg(long, global = true, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// Provider: memory, aws or azure (overrides config and COURIER_PROVIDER).
    #[arg(long, global = true, value_name = "NAME")]
    provider: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The default log filter: the demo's expected failures are shown in its own output.
    pub(crate) fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Demo { .. } => "error",
            _ => "warn",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the e-commerce fan-out end to end on the configured provider.
    Demo {
        /// Leave dead-lettered messages in their queues instead of removing them.
        #[arg(long)]
        keep_dead_letters: bool,
        /// Write the orders to PostgreSQL and publish through the transactional outbox
        /// (needs COURIER_POSTGRES_URL; feature `postgres`).
        #[arg(long)]
        outbox: bool,
    },
    /// Create what the topology names (idempotent).
    Provision,
    /// Publish one event; prints the message id.
    Publish(publish::PublishArgs),
    /// Receive messages and print them.
    Receive(receive::ReceiveArgs),
    /// Send a request and print its reply (request-response over queues).
    Request(request::RequestArgs),
    /// Dead-letter queues: list, peek, redrive, purge.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Depth of every queue and subscription and of its dead-letter queue.
    Stats(stats::StatsArgs),
    /// SQS reply queues of requesters: clean up those left behind (feature `aws`).
    #[cfg(feature = "aws")]
    #[command(subcommand)]
    ReplyQueues(reply_queues::ReplyQueuesCommand),
    /// Serve the Service Bus REST stand-in (a local test double, not Azure).
    #[cfg(feature = "azure-standin")]
    AzureStandin {
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:9354")]
        listen: std::net::SocketAddr,
    },
    /// The transactional outbox on PostgreSQL (feature `postgres`).
    #[cfg(feature = "postgres")]
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Run Lambda functions locally (feature `aws`).
    #[cfg(feature = "aws")]
    #[command(subcommand)]
    Lambda(lambda::LambdaCommand),
}

/// The resolved config, topology and broker a command works with.
pub(crate) struct Env {
    pub(crate) config: Config,
    /// The broker, instrumented when telemetry is on.
    pub(crate) broker: Arc<dyn Broker>,
    /// What workers record through, when the environment asked for telemetry.
    pub(crate) telemetry: Option<Telemetry>,
}

impl Env {
    async fn new(cli: &Cli, telemetry: Option<&Telemetry>) -> Result<Self> {
        let mut config = Config::load(cli.config.as_deref())?;
        if let Some(p) = &cli.provider {
            config.provider = p.parse()?;
        }
        if let Some(t) = &cli.topology {
            config.topology = Some(t.clone());
        }
        let mut broker = courier::connect(&config).await?;
        if let Some(t) = telemetry {
            broker = Arc::new(Instrumented::new(broker, t.clone()));
        }
        Ok(Env {
            config,
            broker,
            telemetry: telemetry.cloned(),
        })
    }

    /// The topology file: --topology, the config's, or ./topology.yaml.
    fn topology(&self) -> Result<Option<Topology>> {
        let path = match &self.config.topology {
            Some(p) => p.clone(),
            None if Path::new("topology.yaml").exists() => PathBuf::from("topology.yaml"),
            None => return Ok(None),
        };
        Ok(Some(Topology::from_file(&path)?))
    }

    pub(crate) fn require_topology(&self) -> Result<Topology> {
        self.topology()?.context(
            "no topology: pass --topology FILE, set `topology` in courier.toml or COURIER_TOPOLOGY, or add ./topology.yaml",
        )
    }

    /// Refuses `queue:T-S` when the topology has no such queue but a subscription `T/S`:
    /// that is the SQS queue behind the subscription, an implementation detail (reading
    /// it bypasses nothing, but on another provider it does not exist).
    pub(crate) fn refuse_backing_queue(&self, target: &impl std::fmt::Display) -> Result<()> {
        let text = target.to_string();
        let Some(name) = text.strip_prefix("queue:") else {
            return Ok(());
        };
        let Ok(Some(topology)) = self.topology() else {
            return Ok(());
        };
        if topology.queues.iter().any(|q| q.name == name) {
            return Ok(());
        }
        if let Some(s) = topology
            .subscriptions
            .iter()
            .find(|s| format!("{}-{}", s.topic, s.name) == name)
        {
            anyhow::bail!(
                "queue:{name} is the queue behind subscription:{}/{} on AWS; name the subscription instead",
                s.topic,
                s.name
            );
        }
        Ok(())
    }

    /// The memory broker starts empty in every process: give it the topology first.
    pub(crate) async fn prepare_memory(&self) -> Result<()> {
        if self.config.provider == Provider::Memory {
            if let Some(t) = self.topology()? {
                self.broker.provision(&t).await?;
            }
        }
        Ok(())
    }

    /// Says, after a command succeeded, that memory state died with this process.
    pub(crate) fn note_memory(&self) {
        if self.config.provider == Provider::Memory {
            eprintln!("note: provider 'memory' keeps messages in this process only; use --provider aws or azure to share them");
        }
    }
}

pub(crate) async fn run(cli: Cli) -> Result<()> {
    #[cfg(feature = "azure-standin")]
    if let Command::AzureStandin { listen } = cli.command {
        return azure_standin(listen).await;
    }
    // Exported over OTLP when the standard OTEL_* variables say so; the demo and the
    // Lambda runner also summarise from the same metrics.
    let summary = matches!(cli.command, Command::Demo { .. }) || is_lambda(&cli.command);
    let providers = Providers::from_env(Options { summary })?;
    let env = Env::new(&cli, providers.telemetry()).await?;
    let result = run_command(cli.command, &env, &providers).await;
    if let Err(e) = providers.shutdown().await {
        tracing::warn!(error = %courier::display_chain(&e), "telemetry not exported");
    }
    result
}

#[cfg(feature = "aws")]
fn is_lambda(command: &Command) -> bool {
    matches!(command, Command::Lambda(_))
}

#[cfg(not(feature = "aws"))]
fn is_lambda(_command: &Command) -> bool {
    false
}

async fn run_command(command: Command, env: &Env, providers: &Providers) -> Result<()> {
    match command {
        Command::Demo {
            keep_dead_letters,
            outbox,
        } => {
            // The demo needs nothing: without a topology it uses the example.
            let topology = env.topology()?.unwrap_or_else(Topology::example);
            if outbox {
                #[cfg(feature = "postgres")]
                return outbox::demo(env, &topology, keep_dead_letters, providers).await;
                #[cfg(not(feature = "postgres"))]
                anyhow::bail!("--outbox needs courier built with the `postgres` feature");
            }
            run_demo(env, &topology, keep_dead_letters, providers).await
        }
        Command::Provision => {
            let topology = env.require_topology()?;
            let report = env.broker.provision(&topology).await?;
            print!("{report}");
            let differs = report.count(&courier::ProvisionAction::Differs(String::new()));
            if differs > 0 {
                anyhow::bail!("{differs} existing entit(y/ies) differ from the topology and were left as they are (see above)");
            }
            Ok(())
        }
        Command::Publish(args) => publish::run(env, args).await,
        Command::Receive(args) => receive::run(env, args).await,
        Command::Request(args) => request::run(env, args).await,
        Command::Dlq(command) => dlq::run(env, command).await,
        Command::Stats(args) => stats::run(env, args).await,
        #[cfg(feature = "aws")]
        Command::ReplyQueues(cmd) => reply_queues::run(env, cmd).await,
        #[cfg(feature = "postgres")]
        Command::Outbox(cmd) => outbox::run(env, cmd).await,
        #[cfg(feature = "aws")]
        Command::Lambda(cmd) => lambda::run(env, cmd, providers).await,
        #[cfg(feature = "azure-standin")]
        Command::AzureStandin { .. } => unreachable!("handled before connecting"),
    }
}

async fn run_demo(
    env: &Env,
    topology: &Topology,
    keep_dead_letters: bool,
    providers: &Providers,
) -> Result<()> {
    let log: demo::shop::Log = Arc::new(|line| println!("{line}"));
    let options = DemoOptions {
        keep_dead_letters,
        telemetry: env.telemetry.clone(),
        ..DemoOptions::default()
    };
    let outcomes = demo::run(env.broker.clone(), topology, &options, log).await?;
    print_outcomes(env, providers, &outcomes, keep_dead_letters).await
}

/// The demo's summary (from courier's metrics where they were recorded) and dead letters.
pub(crate) async fn print_outcomes(
    env: &Env,
    providers: &Providers,
    outcomes: &[demo::ServiceOutcome],
    keep_dead_letters: bool,
) -> Result<()> {
    println!();
    let from_metrics = providers.summary().await?.unwrap_or_default();
    println!(
        "summary ({} provider, from courier's metrics):",
        env.broker.name()
    );
    for o in outcomes {
        match from_metrics.get(&format!("{}/{}", demo::TOPIC, o.service)) {
            Some(s) => println!("  {:<13} {s}", o.service),
            None => println!("  {:<13} {} (worker counters)", o.service, o.report),
        }
    }
    println!();
    println!("dead-letter queues:");
    for o in outcomes {
        if o.dead_letters.is_empty() {
            println!("  {TOPIC}/{:<13} (empty)", o.service, TOPIC = demo::TOPIC);
        }
        for (id, reason) in &o.dead_letters {
            println!("  {}/{:<13} {id}: {reason}", demo::TOPIC, o.service);
        }
    }
    if !keep_dead_letters {
        println!("(dead letters were read and removed; pass --keep-dead-letters to leave them)");
    }
    Ok(())
}

#[cfg(feature = "azure-standin")]
async fn azure_standin(listen: std::net::SocketAddr) -> Result<()> {
    let standin = courier_azure_standin::StandIn::start(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    // The stand-in's own random key: printing it is the point (like an emulator's).
    println!(
        "Service Bus REST stand-in (a local test double, not Azure) listening on {}",
        standin.endpoint()
    );
    println!("export COURIER_PROVIDER=azure");
    println!("export COURIER_AZURE_ENDPOINT={}", standin.endpoint());
    println!(
        "export COURIER_AZURE_CONNECTION_STRING='{}'",
        standin.connection_string().expose()
    );
    tokio::select! {
        _ = standin.wait() => Ok(()),
        _ = courier::worker::shutdown_signal() => Ok(()),
    }
}
