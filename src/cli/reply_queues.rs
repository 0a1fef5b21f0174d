//! `courier reply-queues clean`: deletes the SQS reply queues that requesters left behind
//! (a process killed before it could delete its own), found by their name prefix and the
//! heartbeat tag a live requester keeps fresh (see `courier_aws::reply_queues`).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Subcommand;

use courier::Provider;

use super::Env;

#[derive(Debug, Subcommand)]
pub(crate) enum ReplyQueuesCommand {
    /// Delete reply queues whose requester has not been heard of for a while.
    Clean {
        /// Minutes without a heartbeat after which a reply queue counts as abandoned
        /// (live requesters beat every minute).
        #[arg(long, default_value_t = 10, value_name = "N")]
        idle_minutes: u64,
    },
}

pub(crate) async fn run(env: &Env, command: ReplyQueuesCommand) -> Result<()> {
    let ReplyQueuesCommand::Clean { idle_minutes } = command;
    let heartbeat_minutes = courier_aws::reply_queues::HEARTBEAT_EVERY.as_secs() / 60;
    if idle_minutes <= heartbeat_minutes {
        bail!("--idle-minutes must be more than {heartbeat_minutes}: live requesters refresh their heartbeat every {heartbeat_minutes} minute(s), and their queues would be deleted under them");
    }
    if env.config.provider != Provider::Aws {
        bail!(
            "reply queues are cleaned up on SQS (provider aws); provider '{}' needs no clean-up (memory: in process; Azure: AutoDeleteOnIdle)",
            env.config.provider
        );
    }
    let broker = courier_aws::AwsBroker::connect(&env.config.aws).await?;
    let sweep = broker
        .clean_reply_queues(Duration::from_secs(idle_minutes * 60))
        .await?;
    for url in &sweep.deleted {
        println!("deleted  {url}");
    }
    for url in &sweep.alive {
        println!("alive    {url}");
    }
    for url in &sweep.foreign {
        println!("skipped  {url} (not tagged as a courier reply queue)");
    }
    for (url, why) in &sweep.failed {
        println!("failed   {url}: {why}");
    }
    println!(
        "{} deleted, {} alive, {} not courier's, {} failed (idle: {idle_minutes} min)",
        sweep.deleted.len(),
        sweep.alive.len(),
        sweep.foreign.len(),
        sweep.failed.len()
    );
    if !sweep.failed.is_empty() {
        bail!("{} reply queue(s) could not be cleaned", sweep.failed.len());
    }
    Ok(())
}
