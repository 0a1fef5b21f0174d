//! The runner as Lambda's event source mapping and execution environment behave: the
//! function's timeout is enforced (the process is killed and replaced), a process that
//! dies is replaced, an init error stops the run with the function's own message, and
//! shutdown ends every wait. The bootstrap is a small Python program on the documented
//! Runtime API (`fixtures/fake_bootstrap.py`), on the memory broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_core::topology::{QueueSpec, Topology};
use courier_core::{Broker, Destination, Event, MemoryBroker, PublisherExt, Source};
use courier_lambda_runner::{run, RunnerConfig, RunnerReport};

const BOOTSTRAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fake_bootstrap.py"
);

/// A memory broker with `queue` (1 s visibility timeout) holding one event.
async fn broker_with_one_event(queue: &str) -> Arc<dyn Broker> {
    let mut q = QueueSpec::new(queue);
    q.visibility_timeout_secs = 1;
    let broker = MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    let e = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    );
    broker
        .publish_event(&Destination::queue(queue), &e)
        .await
        .unwrap();
    Arc::new(broker)
}

fn config(mode: &str, queue: &str) -> RunnerConfig {
    let starts = std::env::temp_dir().join(format!(
        "courier-runner-{}-{mode}-{queue}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&starts);
    let mut c = RunnerConfig::new(BOOTSTRAP, Source::queue(queue));
    c.timeout = Duration::from_secs(1);
    c.poll_wait = Duration::from_millis(200);
    c.idle_exit = Some(Duration::from_secs(10));
    c.env = vec![
        ("FAKE_MODE".into(), mode.into()),
        ("FAKE_STARTS".into(), starts.display().to_string()),
    ];
    c
}

async fn drained(broker: &Arc<dyn Broker>, queue: &str) -> bool {
    broker
        .receive(&Source::queue(queue), 10, Duration::from_millis(1500))
        .await
        .unwrap()
        .is_empty()
}

#[tokio::test]
async fn a_hung_function_is_killed_at_its_timeout_and_replaced() {
    let broker = broker_with_one_event("hang").await;
    let mut c = config("hang-first", "hang");
    c.max_invocations = Some(2);
    let report = run(broker.clone(), c, std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        (
            report.invocations,
            report.timeouts,
            report.restarts,
            report.failed_records
        ),
        (2, 1, 1, 1),
        "{report}"
    );
    assert!(
        drained(&broker, "hang").await,
        "the new process handled the redelivery"
    );
}

#[tokio::test]
async fn a_function_that_dies_mid_invocation_fails_the_batch_and_is_replaced() {
    let broker = broker_with_one_event("crash").await;
    let mut c = config("crash-first", "crash");
    c.max_invocations = Some(2);
    let report = run(broker.clone(), c, std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        (
            report.invocations,
            report.failed_invocations,
            report.restarts
        ),
        (2, 1, 1),
        "{report}"
    );
    assert!(drained(&broker, "crash").await);
}

#[tokio::test]
async fn an_init_error_stops_the_run_with_the_function_s_message() {
    let broker = broker_with_one_event("init").await;
    let e = run(broker, config("init-error", "init"), std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("exited") && e.contains("no database"), "{e}");
}

#[tokio::test]
async fn shutdown_ends_the_wait_for_a_hung_function_and_releases_its_batch() {
    let broker = broker_with_one_event("stop").await;
    let mut c = config("hang", "stop");
    c.timeout = Duration::from_secs(600);
    let started = Instant::now();
    let report: RunnerReport = run(
        broker.clone(),
        c,
        tokio::time::sleep(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly: {:?}",
        started.elapsed()
    );
    assert_eq!(report.timeouts, 0, "{report}");
    let back = broker
        .receive(&Source::queue("stop"), 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(
        back.len(),
        1,
        "released at once, not after the visibility timeout"
    );
}

#[test]
fn timeouts_lambda_would_refuse_are_refused_without_panicking() {
    for timeout in [
        Duration::from_secs(u64::MAX),
        Duration::from_secs(901),
        Duration::ZERO,
    ] {
        let mut c = RunnerConfig::new(BOOTSTRAP, Source::queue("q"));
        c.timeout = timeout;
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("outside 1 s..=900 s"), "{e}");
    }
    let mut c = RunnerConfig::new(BOOTSTRAP, Source::queue("q"));
    c.poll_wait = Duration::from_secs(u64::MAX);
    assert!(c.check().unwrap_err().to_string().contains("over 20 s"));
}
