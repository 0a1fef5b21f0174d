//! What the fault suites share: the brokers they run on, fresh queues, child processes,
//! draining a queue.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use courier_core::conformance::unique;
use courier_core::topology::QueueSpec;
use courier_core::{Broker, Destination, Event, PublisherExt, Source, Topology};
use courier_faults::target::Target;
use tokio::process::{Child, Command};

/// How long a message stays hidden after a consumer took it (a killed consumer's
/// messages come back after this): the shortest lock Service Bus allows.
pub const VISIBILITY: Duration = Duration::from_secs(5);

/// The stand-in's operation timeout in the suite.
pub const STANDIN_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// LocalStack with timeouts short enough for a test: 3 s per attempt, 6 s per call.
pub fn localstack() -> Target {
    Target::localstack(Duration::from_secs(3), Duration::from_secs(6))
}

/// A stand-in for this test, and the target for it: 5 s per call beyond a receive's long
/// poll (`[azure] operation_timeout_secs`), short enough for a test, long enough for a
/// loaded 2-core machine.
pub async fn standin() -> (courier_azure_standin::StandIn, Target) {
    let standin = courier_azure_standin::StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the stand-in starts");
    let target = Target::standin(&standin, STANDIN_OPERATION_TIMEOUT);
    (standin, target)
}

/// A fresh queue on `broker` (visibility [`VISIBILITY`], so many deliveries that nothing
/// is dead-lettered by a test's kills).
pub async fn fresh_queue(broker: &dyn Broker, prefix: &str) -> String {
    let name = unique(prefix);
    let mut spec = QueueSpec::new(&name);
    spec.visibility_timeout_secs = VISIBILITY.as_secs() as u32;
    spec.max_receive_count = 1000;
    broker
        .provision(&Topology {
            queues: vec![spec],
            ..Topology::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cannot provision {name} on {}: {e}", broker.name()));
    name
}

/// Publishes probe events with these ids to `queue`, retrying transient failures;
/// panics on any other.
pub async fn publish_all(broker: &dyn Broker, queue: &str, ids: &[String]) {
    let destination = Destination::queue(queue);
    for chunk in ids.chunks(10) {
        let events: Vec<Event<serde_json::Value>> =
            chunk.iter().map(|id| courier_faults::probe(id)).collect();
        let mut pending: Vec<usize> = (0..events.len()).collect();
        for attempt in 0.. {
            assert!(attempt < 20, "publishing to {queue} keeps failing");
            let batch: Vec<_> = pending.iter().map(|&i| events[i].clone()).collect();
            let results = match broker.publish_events(&destination, &batch).await {
                Ok(r) => r,
                Err(e) if e.is_transient() => continue,
                Err(e) => panic!("publish to {queue}: {e}"),
            };
            let mut failed = Vec::new();
            for (i, r) in pending.iter().zip(results) {
                match r {
                    Ok(_) => {}
                    Err(e) if e.is_transient() => failed.push(*i),
                    Err(e) => panic!("publish to {queue}: {e}"),
                }
            }
            if failed.is_empty() {
                break;
            }
            pending = failed;
        }
    }
}

/// Receives and acks everything on `queue` until nothing more comes for longer than a
/// visibility timeout; returns how many times each event id was seen.
pub async fn drain(broker: &dyn Broker, queue: &str) -> HashMap<String, u32> {
    let source = Source::queue(queue);
    let mut seen = HashMap::new();
    let mut quiet_since = tokio::time::Instant::now();
    while quiet_since.elapsed() < VISIBILITY + Duration::from_secs(2) {
        let got = match broker.receive(&source, 10, Duration::from_secs(1)).await {
            Ok(got) => got,
            Err(e) if e.is_transient() => continue,
            Err(e) => panic!("drain {queue}: {e}"),
        };
        if !got.is_empty() {
            quiet_since = tokio::time::Instant::now();
        }
        for d in &got {
            let id = d
                .event_id()
                .unwrap_or_else(|| panic!("a message without an event id on {queue}"))
                .into_owned();
            *seen.entry(id).or_insert(0) += 1;
        }
        for acked in futures_util::future::join_all(got.into_iter().map(|d| d.ack())).await {
            acked.expect("ack while draining");
        }
    }
    seen
}

/// A fresh path for a ledger.
pub fn ledger_path(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(unique(&format!("courier-faults-{prefix}")))
}

/// Starts `fault-child` with `args`, on `target`.
pub fn spawn_child(target: &Target, args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fault-child"))
        .args(args)
        .envs(target.env())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start fault-child")
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let pid = child.id().expect("the child is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Waits for `child` to end (at most `within`), and returns what it printed; panics if it
/// failed.
pub async fn finished(child: Child, within: Duration) -> String {
    let out = tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the child did not end within {within:?}"))
        .expect("wait for the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child failed ({}): {stdout}",
        out.status
    );
    stdout
}

/// A broker on `target`.
pub async fn connect(target: &Target) -> Arc<dyn Broker> {
    target
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {target:?}: {e}"))
}
