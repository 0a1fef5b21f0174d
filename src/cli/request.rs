//! `courier request`: send a command and print its reply.

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use courier::request::Requester;
use courier::{Destination, Event};

use super::Env;

#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// Where the responder listens: queue:NAME (or topic:NAME).
    destination: Destination,
    /// Event type of the request, e.g. ReserveStock.
    #[arg(long = "type", value_name = "TYPE")]
    ty: String,
    /// Request data as JSON.
    #[arg(long, default_value = "{}")]
    data: String,
    /// Event source.
    #[arg(long, default_value = "/courier/cli")]
    source: String,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

pub(crate) async fn run(env: &Env, args: RequestArgs) -> Result<()> {
    env.refuse_backing_queue(&args.destination)?;
    let data: serde_json::Value = serde_json::from_str(&args.data)
        .map_err(|e| anyhow::anyhow!("--data is not valid JSON: {e}"))?;
    env.prepare_memory().await?;
    let requester = Requester::new(env.broker.clone());
    let request = Event::new(&args.source, &args.ty, data);
    let reply = requester
        .request::<_, serde_json::Value>(
            &args.destination,
            &request,
            Duration::from_secs(args.timeout),
        )
        .await;
    requester.shutdown().await?;
    let reply = reply?;
    println!(
        "{}",
        serde_json::json!({"id": reply.id, "type": reply.ty, "source": reply.source, "data": reply.data})
    );
    Ok(())
}
