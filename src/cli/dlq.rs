//! `courier dlq list|peek|redrive|purge`: what is stuck in the dead-letter queues and why,
//! putting it back once fixed, clearing it.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use courier::{DeadLetter, Depth, RedriveOptions, Source};

use super::Env;

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// Every dead-letter queue of the topology with its depth and oldest message.
    List,
    /// Show dead letters with their reasons, leaving them in place.
    Peek {
        /// The queue or subscription whose dead-letter queue to read (queue:NAME or subscription:TOPIC/NAME).
        source: Source,
        /// Most messages to show.
        #[arg(long, default_value_t = 10)]
        max: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Move dead letters back to the queue or subscription they came from.
    Redrive(RedriveArgs),
    /// Delete every message of a dead-letter queue.
    Purge {
        /// The queue or subscription whose dead-letter queue to empty.
        source: Source,
        /// Really delete them (required: there is no undo).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RedriveArgs {
    /// The queue or subscription whose dead letters go back to it.
    source: Source,
    /// Move at most this many.
    #[arg(long)]
    max: Option<usize>,
    /// Move only events of this type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Count what would move; move nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run(env: &Env, command: DlqCommand) -> Result<()> {
    env.prepare_memory().await?;
    match command {
        DlqCommand::List => list(env).await,
        DlqCommand::Peek { source, max, json } => peek(env, &source, max, json).await,
        DlqCommand::Redrive(args) => redrive(env, args).await,
        DlqCommand::Purge { source, yes } => {
            if !yes {
                bail!(
                    "purging {} deletes its messages for good: add --yes to confirm",
                    source.dead_letter()
                );
            }
            let purged = env.broker.purge_dead_letters(&source).await?;
            println!("purged {purged} message(s) from {}", source.dead_letter());
            Ok(())
        }
    }
}

/// The queues and subscriptions of the topology, as sources.
pub(crate) fn sources(env: &Env) -> Result<Vec<Source>> {
    let topology = env.require_topology()?;
    let queues = topology.queues.iter().map(|q| Source::queue(&q.name));
    let subscriptions = topology
        .subscriptions
        .iter()
        .map(|s| Source::subscription(&s.topic, &s.name));
    Ok(queues.chain(subscriptions).collect())
}

/// `3` or `~3` (approximate) or `?` (unknown).
pub(crate) fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), |n| n.to_string())
}

fn age(since: Option<SystemTime>) -> String {
    match since.and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(d) if d >= Duration::from_secs(3600) => format!("{:.1} h", d.as_secs_f64() / 3600.0),
        Some(d) if d >= Duration::from_secs(60) => format!("{:.1} min", d.as_secs_f64() / 60.0),
        Some(d) => format!("{} s", d.as_secs()),
        None => "-".to_owned(),
    }
}

/// The oldest message's time: the backend's figure, else the oldest of a peeked sample.
async fn oldest(env: &Env, source: &Source, depth: &Depth) -> Option<SystemTime> {
    if depth.oldest.is_some() || depth.total() == 0 {
        return depth.oldest;
    }
    let sample = env.broker.peek_dead_letters(source, 10).await.ok()?;
    sample
        .iter()
        .filter_map(|d| d.dead_lettered_at.or(d.enqueued_at))
        .min()
}

async fn list(env: &Env) -> Result<()> {
    println!(
        "{:<48} {:>8} {:>12}",
        "dead-letter queue of", "messages", "oldest"
    );
    for source in sources(env)? {
        let depth = env.broker.depth(&source.dead_letter()).await?;
        let oldest = oldest(env, &source, &depth).await;
        println!(
            "{:<48} {:>8} {:>12}",
            source.to_string(),
            count(depth.held()),
            age(oldest)
        );
    }
    env.note_memory();
    Ok(())
}

fn line(d: &DeadLetter) -> String {
    format!(
        "{} type={} deliveries={} dead-lettered={} reason={:?} body={}",
        d.event_id.as_deref().unwrap_or(&d.broker_message_id),
        d.event_type.as_deref().unwrap_or("-"),
        d.delivery_count,
        age(d.dead_lettered_at.or(d.enqueued_at)),
        d.reason.as_deref().unwrap_or("(none recorded)"),
        String::from_utf8_lossy(&d.message.body),
    )
}

fn to_json(d: &DeadLetter) -> serde_json::Value {
    let time =
        |t: Option<SystemTime>| t.map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    json!({
        "event_id": d.event_id,
        "event_type": d.event_type,
        "broker_message_id": d.broker_message_id,
        "delivery_count": d.delivery_count,
        "reason": d.reason,
        "dead_lettered_at": time(d.dead_lettered_at),
        "enqueued_at": time(d.enqueued_at),
        "attributes": d.message.attributes,
        "body": String::from_utf8_lossy(&d.message.body),
    })
}

async fn peek(env: &Env, source: &Source, max: usize, as_json: bool) -> Result<()> {
    let dead = env.broker.peek_dead_letters(source, max).await?;
    if !as_json {
        println!("{} message(s) in {}", dead.len(), source.dead_letter());
    }
    for d in &dead {
        if as_json {
            println!("{}", to_json(d));
        } else {
            println!("{}", line(d));
        }
    }
    env.note_memory();
    Ok(())
}

async fn redrive(env: &Env, args: RedriveArgs) -> Result<()> {
    let options = RedriveOptions {
        max: args.max,
        event_type: args.event_type,
        dry_run: args.dry_run,
    };
    let report = env
        .broker
        .redrive_dead_letters(&args.source, &options)
        .await?;
    let verb = if args.dry_run { "would move" } else { "moved" };
    println!(
        "{verb} {} message(s) back to {} ({}); {} left (not matching); {} failed",
        report.moved,
        args.source,
        report.method,
        report.skipped,
        report.failed.len()
    );
    for (id, why) in &report.failed {
        println!("  failed {id}: {why}");
    }
    if !report.failed.is_empty() {
        bail!(
            "{} message(s) could not be moved (see above)",
            report.failed.len()
        );
    }
    Ok(())
}
