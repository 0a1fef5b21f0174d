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
    source: String,
    /// Most messages to receive.
    #[arg(long, default_value_t = 10)]
    max: usize,
    /// Seconds to wait for the first message.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
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

fn to_json(d: &Delivery) -> serde_json::Value {
    let m = d.message();
    let id = m.attributes.get(attr::ID).or(m.message_id.as_ref());
    json!({
        "id": id,
        "type": d.event_type(),
        "source": m.attributes.get(attr::SOURCE),
        "subject": m.attributes.get(attr::SUBJECT),
        "attributes": m.attributes,
        "content_type": m.content_type,
        "body": String::from_utf8_lossy(&m.body),
        "delivery_count": d.delivery_count(),
        "broker_message_id": d.info().broker_message_id,
        "dead_letter_reason": m.attributes.get(attr::DEAD_LETTER_REASON),
    })
}

fn to_line(d: &Delivery) -> String {
    let m = d.message();
    let id = m
        .attributes
        .get(attr::ID)
        .or(m.message_id.as_ref())
        .map_or("-", String::as_str);
    let mut line = format!(
        "{} type={} count={} body={}",
        id,
        d.event_type().as_deref().unwrap_or("-"),
        d.delivery_count(),
        String::from_utf8_lossy(&m.body)
    );
    if let Some(reason) = m.attributes.get(attr::DEAD_LETTER_REASON) {
        line.push_str(&format!(" dead_letter_reason={reason:?}"));
    }
    line
}

pub(crate) async fn run(env: &Env, args: ReceiveArgs) -> Result<()> {
    let mut source: Source = args.source.parse()?;
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
