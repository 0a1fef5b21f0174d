//! `courier receive`.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use courier::event::attr;
use courier::{Delivery, Source};

use super::Env;

#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    /// Where from: queue:NAME or subscription:TOPIC/NAME.
    source: Source,
    /// Most messages to receive.
    #[arg(long, default_value_t = 10)]
    max: usize,
    /// Seconds to wait for the first message (at most a day).
    #[arg(long, default_value_t = 5, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    wait: u64,
    /// Do not acknowledge: the messages reappear after their visibility timeout (this
    /// still counts as a delivery towards dead-lettering).
    #[arg(long)]
    no_ack: bool,
    /// Read the source's dead-letter queue.
    #[arg(long)]
    dlq: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// The event id (what `courier publish` printed), else the message id, else the broker's.
fn id_of(d: &Delivery) -> String {
    d.event_id()
        .map(|id| id.into_owned())
        .or_else(|| d.message().message_id.clone())
        .unwrap_or_else(|| d.info().broker_message_id.clone())
}

fn to_json(d: &Delivery) -> serde_json::Value {
    let m = d.message();
    let id = id_of(d);
    json!({
        "id": id,
        "type": d.event_type(),
        "source": m.attributes.get(attr::SOURCE),
        "subject": m.attributes.get(attr::SUBJECT),
        "attributes": m.attributes,
        "content_type": m.content_type,
        "reply_to": m.reply_to,
        "correlation_id": m.correlation_id,
        "body": d.body_text(),
        "delivery_count": d.delivery_count(),
        "broker_message_id": d.info().broker_message_id,
        "dead_letter_reason": d.dead_letter_reason(),
    })
}

fn to_line(d: &Delivery) -> String {
    let id = id_of(d);
    let mut line = format!(
        "{} type={} count={} body={}",
        id,
        d.event_type().as_deref().unwrap_or("-"),
        d.delivery_count(),
        d.body_text()
    );
    if let Some(reason) = d.dead_letter_reason() {
        line.push_str(&format!(" dead_letter_reason={reason:?}"));
    }
    line
}

pub(crate) async fn run(env: &Env, args: ReceiveArgs) -> Result<()> {
    env.refuse_backing_queue(&args.source)?;
    let mut source = args.source.clone();
    if args.dlq {
        source = source.dead_letter();
    }
    env.prepare_memory().await?;
    let deliveries = env
        .broker
        .receive(&source, args.max.max(1), Duration::from_secs(args.wait))
        .await?;
    if deliveries.is_empty() && !args.json {
        eprintln!("no messages on {source} within {}s", args.wait);
        env.note_memory();
    }
    for d in deliveries {
        if args.json {
            println!("{}", to_json(&d));
        } else {
            println!("{}", to_line(&d));
        }
        if !args.no_ack {
            d.ack().await?;
        }
    }
    Ok(())
}
