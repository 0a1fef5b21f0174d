//! Shutdown: a consumer (`fault-child consume`, handlers that take 300 ms and record
//! `start <id>` and `done <id>` in an fsynced ledger, `done` before returning `Ok`) gets
//! SIGTERM under load, several times, on real LocalStack and on the stand-in. Each time:
//! it exits cleanly, every handler that started finished, everything handled was acked,
//! and nothing was acked that was not handled (whatever is not in the ledger is still on
//! the queue).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use courier_faults::figures::{report, thousands};
use courier_faults::ledger::Ledger;
use courier_faults::target::Target;

const EVENTS: usize = 600;
const ROUNDS: usize = 3;

fn lines_with(ledger: &[String], prefix: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for l in ledger {
        if let Some(id) = l.strip_prefix(prefix) {
            *out.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

async fn sigterm_under_load(target: Target) {
    let started = Instant::now();
    let broker = common::connect(&target).await;
    let queue = common::fresh_queue(&*broker, "shutdown").await;
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("s-{n}")).collect();
    common::publish_all(&*broker, &queue, &ids).await;
    let ledger = common::ledger_path("shutdown");
    let args = vec![
        "consume".to_owned(),
        queue.clone(),
        ledger.display().to_string(),
        "300".to_owned(),
        "--starts".to_owned(),
    ];
    let mut in_flight_at_term = Vec::new();
    let mut acked_by_reports = 0u64;
    for _ in 0..ROUNDS {
        let before = Ledger::read(&ledger).expect("ledger");
        let child = common::spawn_child(&target, &args);
        // Under load: handlers are running.
        let wait_until = Instant::now() + Duration::from_secs(30);
        loop {
            let now = Ledger::read(&ledger).expect("ledger");
            if lines_with(&now, "done ").values().sum::<u32>()
                >= lines_with(&before, "done ").values().sum::<u32>() + 16
            {
                break;
            }
            assert!(Instant::now() < wait_until, "the consumer handles nothing");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..300))).await;
        let at_term = Ledger::read(&ledger).expect("ledger");
        let (starts, dones) = (
            lines_with(&at_term, "start "),
            lines_with(&at_term, "done "),
        );
        in_flight_at_term.push(
            starts
                .iter()
                .filter(|(id, n)| dones.get(*id) != Some(n))
                .count(),
        );
        common::terminate(&child);
        let said = common::finished(child, Duration::from_secs(40)).await;
        let report_line = said
            .lines()
            .find(|l| l.starts_with("REPORT "))
            .unwrap_or_else(|| panic!("no report: {said}"));
        let field = |name: &str| -> u64 {
            report_line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {report_line}"))
        };
        assert_eq!(field("in_flight"), 0, "{report_line}");
        assert_eq!(field("settle_failures"), 0, "{report_line}");
        acked_by_reports += field("acked");
        // Every handler that started, finished.
        let after = Ledger::read(&ledger).expect("ledger");
        assert_eq!(
            lines_with(&after, "start "),
            lines_with(&after, "done "),
            "a handler was cut short by SIGTERM"
        );
    }
    let handled = lines_with(&Ledger::read(&ledger).expect("ledger"), "done ");
    let left = common::drain(&*broker, &queue).await;
    let left_ids: HashSet<&String> = left.keys().collect();
    // Acked but never handled: not in the ledger and gone from the queue.
    let acked_unhandled: Vec<&String> = ids
        .iter()
        .filter(|id| !handled.contains_key(*id) && !left_ids.contains(id))
        .collect();
    // Handled but not settled: still on the queue.
    let unsettled: Vec<&String> = handled.keys().filter(|id| left_ids.contains(id)).collect();
    let handled_total: u32 = handled.values().sum();
    let figures = format!(
        "{} events, {ROUNDS} SIGTERMs with {:?} handlers in flight: {} handled, {} acked by the workers, {} acked without being handled, {} handled but unsettled, {} s",
        thousands(EVENTS as u64),
        in_flight_at_term,
        handled_total,
        acked_by_reports,
        acked_unhandled.len(),
        unsettled.len(),
        started.elapsed().as_secs()
    );
    report(
        &format!("shutdown, SIGTERM under load ({})", target.name()),
        &figures,
    );
    assert!(acked_unhandled.is_empty(), "{acked_unhandled:?}: {figures}");
    assert!(unsettled.is_empty(), "{unsettled:?}: {figures}");
    assert_eq!(u64::from(handled_total), acked_by_reports, "{figures}");
    assert!(
        in_flight_at_term.iter().any(|n| *n > 0),
        "no SIGTERM met a handler in flight: {figures}"
    );
    let _ = std::fs::remove_file(&ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_sigterm_finishes_and_settles_in_flight_handlers() {
    sigterm_under_load(common::localstack()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standin_sigterm_finishes_and_settles_in_flight_handlers() {
    let (_standin, target) = common::standin().await;
    sigterm_under_load(target).await;
}
