//! `courier stats [--watch SECS]`: one line per queue or subscription and its dead-letter
//! queue: is anything falling behind?

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::dlq::{count, sources};
use super::Env;

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Print again every SECS seconds until interrupted.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    watch: Option<u64>,
}

pub(crate) async fn run(env: &Env, args: StatsArgs) -> Result<()> {
    env.prepare_memory().await?;
    let sources = sources(env)?;
    loop {
        println!(
            "{:<40} {:>9} {:>9} {:>9} {:>9}",
            "source", "visible", "in flight", "delayed", "dead"
        );
        let mut unsplit = false;
        for source in &sources {
            let depth = env.broker.depth(source).await?;
            unsplit |= depth.visible.is_none() && depth.active.is_some();
            let dead = env.broker.depth(&source.dead_letter()).await?;
            println!(
                "{:<40} {:>9} {:>9} {:>9} {:>9}",
                source.to_string(),
                visible(&depth),
                count(depth.in_flight),
                count(depth.delayed),
                count(dead.held())
            );
        }
        if unsplit {
            println!("* ready and in flight together: the backend does not count them apart");
        }
        let Some(every) = args.watch else {
            env.note_memory();
            return Ok(());
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(every)) => println!(),
            _ = courier::worker::shutdown_signal() => return Ok(()),
        }
    }
}

/// Ready messages; where the backend counts ready and in-flight messages only as one sum
/// (Service Bus), that sum, marked `*`.
fn visible(depth: &courier::Depth) -> String {
    match (depth.visible, depth.active) {
        (Some(v), _) => v.to_string(),
        (None, Some(a)) => format!("{a}*"),
        (None, None) => "-".to_owned(),
    }
}
