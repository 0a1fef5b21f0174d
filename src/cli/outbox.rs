//! `courier outbox migrate|relay` and `courier demo --outbox`: the transactional outbox on
//! PostgreSQL (`COURIER_POSTGRES_URL` or `[postgres] url`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use courier::postgres::{Database, Relay, RelayConfig};
use courier::Topology;

use super::Env;

/// `courier outbox …`
#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// Create or upgrade courier's tables (schema `courier`) in the PostgreSQL database.
    Migrate,
    /// Publish the outbox's committed messages through the configured provider (until
    /// ctrl-c / SIGTERM; several relays may run at once).
    Relay(RelayArgs),
}

/// `courier outbox relay` options.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// Most messages per batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Seconds between polls when no NOTIFY arrives.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    poll_interval: f64,
    /// Poll only (for a pooler in transaction mode, where LISTEN does not work).
    #[arg(long)]
    no_listen: bool,
    /// Hours to keep sent messages before deleting them.
    #[arg(long, default_value_t = 168, value_name = "HOURS")]
    retention_hours: u64,
    /// Exit once nothing is pending.
    #[arg(long)]
    until_empty: bool,
}

/// The configured database, or an error that says how to configure one.
pub(crate) fn database(env: &Env) -> Result<Database> {
    let url = env.config.postgres.url.as_ref().context(
        "no PostgreSQL database: set COURIER_POSTGRES_URL or [postgres] url in courier.toml",
    )?;
    Ok(Database::from_secret(url)?)
}

pub(crate) async fn run(env: &Env, command: OutboxCommand) -> Result<()> {
    let db = database(env)?;
    match command {
        OutboxCommand::Migrate => {
            let applied = courier::postgres::migrate(&db).await?;
            if applied.is_empty() {
                println!("{db}: courier schema up to date");
            }
            for version in applied {
                let m = courier::postgres::MIGRATIONS
                    .iter()
                    .find(|m| m.version == version)
                    .map_or("", |m| m.name);
                println!("{db}: applied migration {version} ({m})");
            }
            Ok(())
        }
        OutboxCommand::Relay(args) => relay(env, db, args).await,
    }
}

async fn relay(env: &Env, db: Database, args: RelayArgs) -> Result<()> {
    if !(args.poll_interval.is_finite() && args.poll_interval > 0.0) {
        anyhow::bail!("--poll-interval must be a positive number of seconds");
    }
    // Rows the relay publishes are marked sent: into a broker that dies with this process
    // they would be gone for good.
    if env.config.provider == courier::Provider::Memory {
        anyhow::bail!(
            "the relay publishes to the configured broker and marks the rows sent; provider 'memory' \
             lives only in this process, so the outbox would be emptied into nothing: use --provider aws or azure"
        );
    }
    let config = RelayConfig {
        batch_size: args.batch_size.max(1),
        poll_interval: Duration::from_secs_f64(args.poll_interval),
        listen: !args.no_listen,
        retention: Duration::from_secs(args.retention_hours.saturating_mul(3600)),
        ..RelayConfig::default()
    };
    let relay = Relay::new(db.clone(), env.broker.clone()).config(config);
    eprintln!("relaying the outbox of {db} to {}", env.broker.name());
    let shutdown = courier::worker::shutdown_signal();
    let report = if args.until_empty {
        relay.drain(shutdown).await?
    } else {
        relay.run(shutdown).await?
    };
    println!("{report}");
    Ok(())
}

/// `courier demo --outbox`.
pub(crate) async fn demo(
    env: &Env,
    topology: &Topology,
    keep_dead_letters: bool,
    providers: &courier::otlp::Providers,
) -> Result<()> {
    let db = database(env)?;
    let log: super::demo::shop::Log = Arc::new(|line| println!("{line}"));
    let options = super::demo::DemoOptions {
        keep_dead_letters,
        telemetry: env.telemetry.clone(),
        ..super::demo::DemoOptions::default()
    };
    let outcome = super::demo::outbox::run(env.broker.clone(), topology, db, &options, log).await?;
    println!(
        "relay: {}; {} pending in the outbox",
        outcome.relay, outcome.pending
    );
    println!(
        "orders of this run: demo_orders.run_id = '{}'",
        outcome.run_id
    );
    super::print_outcomes(env, providers, &outcome.services, keep_dead_letters).await?;
    if outcome.pending > 0 {
        anyhow::bail!("{} outbox message(s) still pending", outcome.pending);
    }
    Ok(())
}
