//! `courier publish`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use courier::{Destination, Event};

use super::Env;

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// Where to: topic:NAME or queue:NAME.
    destination: Destination,
    /// Event type, e.g. OrderCreated.
    #[arg(long = "type", value_name = "TYPE")]
    ty: String,
    /// Event source.
    #[arg(long, default_value = "/courier/cli")]
    source: String,
    /// Event subject.
    #[arg(long)]
    subject: Option<String>,
    /// User attribute, repeatable.
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attribute)]
    attrs: Vec<(String, String)>,
    /// Ordering group (FIFO destinations).
    #[arg(long)]
    group: Option<String>,
    /// Deduplication id (FIFO destinations; default: the event id).
    #[arg(long)]
    dedup: Option<String>,
    /// Deliver after this many seconds.
    #[arg(long, value_name = "SECS")]
    delay: Option<u64>,
    /// Event data as JSON (else --file, else JSON piped on stdin).
    #[arg(long, conflicts_with = "file")]
    data: Option<String>,
    /// Read the event data (JSON) from a file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// `KEY=VALUE`, with a non-empty key.
fn parse_attribute(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{pair}' is not KEY=VALUE")),
    }
}

fn data(args: &PublishArgs) -> Result<serde_json::Value> {
    let (text, origin) = match (&args.data, &args.file) {
        (Some(d), _) => (d.clone(), "--data".to_owned()),
        (None, Some(f)) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read --file '{}'", f.display()))?,
            format!("'{}'", f.display()),
        ),
        (None, None) => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("no event data: pass --data JSON, --file FILE, or pipe JSON on stdin");
            }
            let mut text = String::new();
            stdin
                .lock()
                .read_to_string(&mut text)
                .context("cannot read event data from stdin")?;
            if text.trim().is_empty() {
                bail!("no event data: stdin was empty (pass --data JSON or --file FILE)");
            }
            (text, "stdin".to_owned())
        }
    };
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("event data from {origin} is not valid JSON: {e}"))
}

pub(crate) async fn run(env: &Env, args: PublishArgs) -> Result<()> {
    env.refuse_backing_queue(&args.destination)?;
    let mut event = Event::new(&args.source, &args.ty, data(&args)?);
    if let Some(s) = &args.subject {
        event = event.with_subject(s);
    }
    for (k, v) in &args.attrs {
        event = event.with_attribute(k, v);
    }
    let mut message = event.to_message()?;
    message.group_id = args.group.clone();
    message.dedup_id = args.dedup.clone();
    message.delay = args.delay.map(Duration::from_secs);
    env.prepare_memory().await?;
    env.broker.publish(&args.destination, message).await?;
    // The event id: what `courier receive` shows and consumers deduplicate on.
    println!("{}", event.id);
    env.note_memory();
    Ok(())
}
