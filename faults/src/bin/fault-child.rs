//! The child process of the fault suite (`faults/tests`): a consumer or a publisher that a
//! test kills with SIGKILL or SIGTERM. The broker comes from the environment
//! ([`Target::from_env`]).
//!
//! ```text
//! fault-child consume QUEUE LEDGER HANDLER_MS [--starts] [--until-idle SECS]
//! fault-child publish QUEUE LEDGER PREFIX COUNT BATCH
//! ```
//! It prints `REPORT …` (the worker's report) or `PUBLISHED n` when it ends by itself or
//! on SIGTERM.

use std::time::Duration;

use courier_faults::child::{self, Consume, Publish};
use courier_faults::target::Target;

fn usage() -> ! {
    eprintln!("usage: fault-child consume QUEUE LEDGER HANDLER_MS [--starts] [--until-idle SECS] | publish QUEUE LEDGER PREFIX COUNT BATCH");
    std::process::exit(2)
}

fn number(text: &str) -> u64 {
    text.parse().unwrap_or_else(|_| usage())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = Target::from_env().unwrap_or_else(|e| {
        eprintln!("fault-child: {e}");
        std::process::exit(2)
    });
    let outcome = match args.first().map(String::as_str) {
        Some("consume") if args.len() >= 4 => {
            let until_idle = args
                .iter()
                .position(|a| a == "--until-idle")
                .map(|i| Duration::from_secs(number(args.get(i + 1).unwrap_or_else(|| usage()))));
            let how = Consume {
                queue: args[1].clone(),
                ledger: args[2].clone().into(),
                handler_time: Duration::from_millis(number(&args[3])),
                record_starts: args.iter().any(|a| a == "--starts"),
                until_idle,
            };
            child::consume(&target, how).await.map(|r| {
                println!(
                    "REPORT received={} acked={} retried={} dead_lettered={} settle_failures={} receive_errors={} in_flight={}",
                    r.received, r.acked, r.retried, r.dead_lettered, r.settle_failures, r.receive_errors, r.in_flight
                )
            })
        }
        Some("publish") if args.len() == 6 => {
            let how = Publish {
                queue: args[1].clone(),
                ledger: args[2].clone().into(),
                prefix: args[3].clone(),
                count: number(&args[4]) as usize,
                batch: number(&args[5]) as usize,
            };
            child::publish(&target, how)
                .await
                .map(|n| println!("PUBLISHED {n}"))
        }
        _ => usage(),
    };
    if let Err(e) = outcome {
        eprintln!("fault-child: {}", courier_core::display_chain(&e));
        std::process::exit(1);
    }
}
