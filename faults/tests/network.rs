//! Network faults: courier talks to LocalStack / the stand-in through a fault-injecting
//! TCP proxy ([`FaultProxy`]) that resets connections, stalls them half-open, adds
//! latency and refuses connections for a while (a broker outage), on a random schedule,
//! while a publisher and a `Worker` run through it. Then: no call took longer than its
//! timeout allows, the worker is still running (it backed off and resumed), and every
//! event whose publish returned `Ok` was handled.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, PublisherExt, Source};
use courier_faults::figures::{report, thousands};
use courier_faults::proxy::FaultProxy;
use courier_faults::target::Target;
use courier_faults::timed::Timed;
use parking_lot::Mutex;

const EVENTS: usize = 2000;
/// How long the schedule of faults plays.
const FAULTS_FOR: Duration = Duration::from_secs(40);

/// Publishes `EVENTS` probes through `broker` at a steady pace, retrying what fails;
/// returns the ids whose publish returned `Ok`, and how many attempts failed.
async fn publish_through(broker: Arc<dyn Broker>, queue: String) -> (Vec<String>, u32) {
    let destination = Destination::queue(&queue);
    let (mut sent, mut failures) = (Vec::new(), 0);
    let pace = FAULTS_FOR / (EVENTS as u32 / 10);
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(10) {
        let mut pending: Vec<String> = chunk.iter().map(|n| format!("n-{n}")).collect();
        while !pending.is_empty() {
            let events: Vec<Event<serde_json::Value>> =
                pending.iter().map(|id| courier_faults::probe(id)).collect();
            match broker.publish_events(&destination, &events).await {
                Ok(results) => {
                    let mut again = Vec::new();
                    for (id, r) in pending.drain(..).zip(results) {
                        match r {
                            Ok(_) => sent.push(id),
                            Err(e) if e.is_transient() => {
                                failures += 1;
                                again.push(id);
                            }
                            Err(e) => panic!("publish {id}: {e}"),
                        }
                    }
                    pending = again;
                }
                Err(e) if e.is_transient() => failures += 1,
                Err(e) => panic!("publish: {e}"),
            }
            if !pending.is_empty() {
                // What a careful publisher does: back off before trying again.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(pace).await;
    }
    (sent, failures)
}

async fn worker_through_faults(target: Target, longest_allowed: Duration) {
    let started = Instant::now();
    let seed = fastrand::u64(..);
    let direct = common::connect(&target).await;
    let queue = common::fresh_queue(&*direct, "network").await;
    let proxy = FaultProxy::start(target.endpoint()).await;
    let timed = Timed::new(common::connect(&target.through(&proxy.url())).await);
    let times = timed.times();
    let faulty: Arc<dyn Broker> = Arc::new(timed);

    let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = handled.clone();
    let worker = Worker::new(faulty.clone(), Source::queue(&queue))
        .handle(
            courier_faults::EVENT_TYPE,
            handler_fn(move |event: Event<serde_json::Value>, _ctx| {
                let seen = seen.clone();
                async move {
                    *seen.lock().entry(event.id).or_insert(0) += 1;
                    Ok::<(), HandlerError>(())
                }
            }),
        )
        .concurrency(8)
        .batch_size(10)
        .poll_wait(Duration::from_secs(1))
        .max_attempts(1000);
    let stats = worker.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let publishing = tokio::spawn(publish_through(faulty.clone(), queue.clone()));
    proxy.run_schedule(FAULTS_FOR, seed).await;
    let (published, publish_failures) = publishing.await.expect("the publisher");
    // Faults are over: everything published is handled within a few visibility timeouts.
    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let missing: Vec<String> = {
            let handled = handled.lock();
            published
                .iter()
                .filter(|id| !handled.contains_key(*id))
                .cloned()
                .collect()
        };
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        assert!(
            !running.is_finished(),
            "the worker stopped under faults: {:?}",
            running.await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop.send(());
    let worker_report = running
        .await
        .expect("the worker task")
        .expect("the worker survived the faults");
    let left = common::drain(&*direct, &queue).await;
    let counters = proxy.counters();
    let handled_total: u32 = handled.lock().values().sum();
    let figures = format!(
        "{} events, {} connections, {} outages, {} injected resets, {} stalls, {} delayed chunks: {} lost, {} duplicates, {} failed publish attempts, {} failed receives, longest call {:.1} s of {} calls, {} s (seed {seed})",
        thousands(published.len() as u64),
        thousands(counters.connections.load(Ordering::Relaxed)),
        counters.outages.load(Ordering::Relaxed),
        thousands(counters.resets.load(Ordering::Relaxed)),
        counters.stalls.load(Ordering::Relaxed),
        thousands(counters.delayed.load(Ordering::Relaxed)),
        missing.len(),
        u64::from(handled_total).saturating_sub((published.len() - missing.len()) as u64),
        thousands(u64::from(publish_failures)),
        worker_report.receive_errors,
        times.longest().as_secs_f64(),
        thousands(times.calls()),
        started.elapsed().as_secs(),
    );
    report(&format!("network faults ({})", target.name()), &figures);
    assert!(
        missing.is_empty(),
        "lost {:?}…: {figures}",
        &missing[..missing.len().min(10)]
    );
    assert!(
        left.is_empty(),
        "left on the queue, unsettled: {left:?}: {figures}"
    );
    assert!(
        counters.outages.load(Ordering::Relaxed) > 0
            && counters.resets.load(Ordering::Relaxed) > 0
            && counters.stalls.load(Ordering::Relaxed) > 0,
        "every kind of fault was injected: {figures}"
    );
    assert!(
        stats.snapshot().receive_errors > 0,
        "the faults reached the worker: {figures}"
    );
    assert!(
        times.longest() <= longest_allowed,
        "a call took {:?}, more than its timeouts allow ({longest_allowed:?}): {figures}",
        times.longest()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_worker_survives_resets_stalls_latency_and_outages() {
    // 6 s per call (3 s per attempt); a settlement through the ack batcher may wait for
    // one call in flight before its own.
    worker_through_faults(common::localstack(), Duration::from_secs(13)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standin_worker_survives_resets_stalls_latency_and_outages() {
    let (_standin, target) = common::standin().await;
    // A receive: its long poll (1 s) plus the operation timeout (5 s), the whole receive
    // included; any other call: the operation timeout. 1 s more for a loaded machine.
    worker_through_faults(
        target,
        Duration::from_secs(1) + common::STANDIN_OPERATION_TIMEOUT + Duration::from_secs(1),
    )
    .await;
}
