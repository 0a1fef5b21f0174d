//! Crash: consumers and publishers killed with SIGKILL at random moments, on real
//! LocalStack and on the Service Bus stand-in.
//!
//! - A consumer (`fault-child consume`: a `Worker` whose handler appends the event id to
//!   an fsynced ledger before returning `Ok`) is killed while it consumes a few thousand
//!   events, and started again until the queue drains: every published id is handled at
//!   least once, the queue ends empty, duplicates are counted.
//! - A publisher (`fault-child publish`: `publish_batch`, recording each entry that
//!   returned `Ok`) is killed mid-stream, over and over: every recorded id is on the queue.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use courier_faults::figures::{report, thousands};
use courier_faults::ledger::Ledger;
use courier_faults::target::Target;

/// Events a consumer run handles.
const EVENTS: usize = 3000;
/// Kills at most (bounds the time on a slow machine).
const MAX_KILLS: u32 = 12;

async fn consumer_killed_at_random(target: Target) {
    let started = Instant::now();
    let broker = common::connect(&target).await;
    let queue = common::fresh_queue(&*broker, "crash-consumer").await;
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("c-{n}")).collect();
    common::publish_all(&*broker, &queue, &ids).await;
    let ledger = common::ledger_path("consumer");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "consume".to_owned(),
            queue.clone(),
            ledger.display().to_string(),
            "2".to_owned(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let handled = || -> HashSet<String> {
        Ledger::read(&ledger)
            .expect("read the ledger")
            .into_iter()
            .filter_map(|l| l.strip_prefix("done ").map(str::to_owned))
            .collect()
    };
    let mut kills = 0;
    while kills < MAX_KILLS && handled().len() < EVENTS {
        let mut child = common::spawn_child(&target, &args(&[]));
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("the consumer ended by itself: {status}");
        }
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reap");
        kills += 1;
    }
    // The last one runs until the queue is quiet for longer than a visibility timeout:
    // what the killed ones held comes back and is handled.
    let last = common::spawn_child(&target, &args(&["--until-idle", "8"]));
    let said = common::finished(last, Duration::from_secs(240)).await;
    let counts = Ledger::counts(&ledger).expect("ledger");
    let handled_lines: u32 = counts.values().sum();
    let lost: Vec<&String> = ids
        .iter()
        .filter(|id| !counts.contains_key(&format!("done {id}")))
        .collect();
    let left = common::drain(&*broker, &queue).await;
    let figures = format!(
        "{} events, {kills} kills: {} lost, {} duplicates, {} left on the queue ({} s)",
        thousands(EVENTS as u64),
        lost.len(),
        u64::from(handled_lines) - (EVENTS - lost.len()) as u64,
        left.len(),
        started.elapsed().as_secs()
    );
    report(
        &format!("crash, consumer SIGKILLed ({})", target.name()),
        &figures,
    );
    assert!(kills > 0, "no kill happened: {figures}");
    assert!(
        lost.is_empty(),
        "lost {:?}…: {figures}\n{said}",
        &lost[..lost.len().min(10)]
    );
    assert!(left.is_empty(), "handled but never acked: {figures}");
    let _ = std::fs::remove_file(&ledger);
}

/// Publisher runs before the last one (each publishes `PER_RUN` events unless killed
/// first, at a random moment).
const PUBLISHER_RUNS: u32 = 10;
const PER_RUN: usize = 300;

async fn publisher_killed_at_random(target: Target) {
    let started = Instant::now();
    let broker = common::connect(&target).await;
    let queue = common::fresh_queue(&*broker, "crash-publisher").await;
    let ledger = common::ledger_path("publisher");
    let args = |run: u32| {
        vec![
            "publish".to_owned(),
            queue.clone(),
            ledger.display().to_string(),
            format!("p{run}"),
            PER_RUN.to_string(),
            "10".to_owned(),
        ]
    };
    let (mut kills, mut completed) = (0, 0);
    let mut run = 0;
    // One run to its end first: how long a run takes here (the stand-in is much faster
    // than LocalStack, and both move with the machine's load) places the kills inside
    // the runs that follow, at 5-60% of that.
    let calibration = Instant::now();
    common::finished(
        common::spawn_child(&target, &args(run)),
        Duration::from_secs(120),
    )
    .await;
    run += 1;
    completed += 1;
    let run_takes = (calibration.elapsed().as_millis() as u64).max(20);
    while kills + completed < PUBLISHER_RUNS {
        let mut child = common::spawn_child(&target, &args(run));
        run += 1;
        let kill_at = fastrand::u64(run_takes / 20..=run_takes * 6 / 10);
        tokio::time::sleep(Duration::from_millis(kill_at)).await;
        match child.try_wait().expect("poll the child") {
            Some(status) => {
                assert!(status.success(), "the publisher failed: {status}");
                completed += 1;
            }
            None => {
                child.start_kill().expect("SIGKILL");
                child.wait().await.expect("reap");
                kills += 1;
            }
        }
    }
    let last = common::spawn_child(&target, &args(run));
    common::finished(last, Duration::from_secs(120)).await;
    let recorded = Ledger::counts(&ledger).expect("ledger");
    let on_queue = common::drain(&*broker, &queue).await;
    let missing: Vec<&String> = recorded
        .keys()
        .filter(|id| !on_queue.contains_key(*id))
        .collect();
    let unrecorded = on_queue
        .keys()
        .filter(|id| !recorded.contains_key(*id))
        .count();
    let figures = format!(
        "{} publishes returned Ok, {kills} kills ({completed} runs ended by themselves): {} missing from the queue, {} sent but not recorded before the kill, {} s",
        thousands(recorded.len() as u64),
        missing.len(),
        unrecorded,
        started.elapsed().as_secs()
    );
    report(
        &format!("crash, publisher SIGKILLed ({})", target.name()),
        &figures,
    );
    assert!(
        recorded.len() >= PER_RUN,
        "the last run alone records {PER_RUN}: {figures}"
    );
    assert!(
        missing.is_empty(),
        "lost {:?}…: {figures}",
        &missing[..missing.len().min(10)]
    );
    assert!(kills > 0, "no publisher was killed: {figures}");
    let _ = std::fs::remove_file(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_consumer_killed_at_random_loses_nothing() {
    consumer_killed_at_random(common::localstack()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_publisher_killed_at_random_loses_nothing() {
    publisher_killed_at_random(common::localstack()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standin_consumer_killed_at_random_loses_nothing() {
    let (_standin, target) = common::standin().await;
    consumer_killed_at_random(target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standin_publisher_killed_at_random_loses_nothing() {
    let (_standin, target) = common::standin().await;
    publisher_killed_at_random(target).await;
}
