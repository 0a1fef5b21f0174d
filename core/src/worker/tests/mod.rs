//! Worker behaviour on the memory broker, under tokio's paused clock.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::event::attr;
use crate::topology::{QueueSpec, Topology};
use crate::{ConsumerExt, Destination, Event, MemoryBroker, Message, Publisher, PublisherExt};

async fn setup(visibility: u32) -> (MemoryBroker, Arc<dyn Broker>) {
    let mut q = QueueSpec::new("work");
    q.visibility_timeout_secs = visibility;
    q.max_receive_count = 10;
    let b = MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    (b.clone(), Arc::new(b))
}

fn src() -> Source {
    Source::queue("work")
}

async fn publish(b: &MemoryBroker, ty: &str, data: Value) -> Event<Value> {
    let e = Event::new("/test", ty, data);
    b.publish_event(&Destination::queue("work"), &e)
        .await
        .unwrap();
    e
}

fn quick(w: Worker) -> Worker {
    w.backoff(Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
        jitter: false,
    })
    .poll_wait(Duration::from_millis(200))
}

/// Runs the worker until `n` deliveries finished, then shuts it down.
async fn run_until(w: Worker, n: u64) -> WorkerReport {
    let stats = w.stats();
    let done = async move {
        while stats.snapshot().finished() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(600), w.run(done))
        .await
        .expect("worker finished")
        .unwrap()
}

async fn dead_reason(b: &MemoryBroker) -> String {
    let d = b
        .receive_one(&src().dead_letter(), Duration::ZERO)
        .await
        .unwrap()
        .expect("a dead letter");
    d.message().attributes[attr::DEAD_LETTER_REASON].clone()
}

#[tokio::test(start_paused = true)]
async fn routes_by_type_and_acks() {
    let (b, broker) = setup(30).await;
    let seen = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        publish(&b, "OrderCreated", json!({"n": i})).await;
    }
    let s = seen.clone();
    let w = quick(Worker::new(broker, src())).handle(
        "OrderCreated",
        handler_fn(move |_e: Event<Value>, ctx: Context| {
            let s = s.clone();
            async move {
                assert_eq!(ctx.delivery_count(), 1);
                s.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }),
    );
    let report = run_until(w, 3).await;
    assert_eq!((report.received, report.acked), (3, 3), "{report}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(b.count(&src()).unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn retry_then_success_with_backoff() {
    let (b, broker) = setup(30).await;
    publish(&b, "T", json!(1)).await;
    let w = quick(Worker::new(broker, src())).handle(
        "T",
        handler_fn(|_e: Event<Value>, ctx: Context| async move {
            if ctx.delivery_count() == 1 {
                Err(HandlerError::retry("gateway timeout"))
            } else {
                Ok(())
            }
        }),
    );
    let report = run_until(w, 1).await;
    assert_eq!(
        (report.retried, report.acked, report.dead_lettered),
        (1, 1, 0),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_and_exhausted_retries_are_dead_lettered_with_reason() {
    let (b, broker) = setup(30).await;
    publish(&b, "Bad", json!(1)).await;
    let w = quick(Worker::new(broker.clone(), src())).handle(
        "Bad",
        handler_fn(|_e: Event<Value>, _c| async {
            Err(HandlerError::permanent("quantity must be positive"))
        }),
    );
    assert_eq!(run_until(w, 1).await.dead_lettered, 1);
    assert_eq!(
        dead_reason(&b).await,
        "permanent: quantity must be positive"
    );

    publish(&b, "Flaky", json!(1)).await;
    let w = quick(Worker::new(broker, src())).max_attempts(3).handle(
        "Flaky",
        handler_fn(|_e: Event<Value>, _c| async { Err(HandlerError::retry("still down")) }),
    );
    let report = run_until(w, 1).await;
    assert_eq!((report.retried, report.dead_lettered), (2, 1), "{report}");
    assert_eq!(
        dead_reason(&b).await,
        "gave up after 3 attempts: still down"
    );
}

#[tokio::test(start_paused = true)]
async fn undecodable_unrouted_and_foreign_messages_are_dead_lettered() {
    let (b, broker) = setup(30).await;
    let mut m = Event::new("/t", "Order", json!({})).to_message().unwrap();
    m.body = b"{not json".to_vec();
    b.publish(&Destination::queue("work"), m).await.unwrap();
    #[derive(serde::Deserialize)]
    struct Order {
        _id: u32,
    }
    let w = quick(Worker::new(broker.clone(), src()))
        .handle("Order", handler_fn(|_e: Event<Order>, _c| async { Ok(()) }));
    run_until(w, 1).await;
    let reason = dead_reason(&b).await;
    assert!(
        reason.starts_with("permanent: cannot decode message: data of event type 'Order'"),
        "{reason}"
    );

    publish(&b, "Unknown", json!(1)).await;
    b.publish(&Destination::queue("work"), Message::new("plain"))
        .await
        .unwrap();
    let w = quick(Worker::new(broker.clone(), src()))
        .handle("Order", handler_fn(|_e: Event<Value>, _c| async { Ok(()) }));
    run_until(w, 2).await;
    let mut reasons = vec![dead_reason(&b).await, dead_reason(&b).await];
    reasons.sort();
    assert_eq!(reasons[0], "no handler for event type 'Unknown'");
    assert!(reasons[1].contains("not a CloudEvent"), "{reasons:?}");

    publish(&b, "Unknown", json!(1)).await;
    let w = quick(Worker::new(broker, src())).unrouted(Unrouted::Ack);
    assert_eq!(run_until(w, 1).await.acked, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_only_its_delivery() {
    let (b, broker) = setup(30).await;
    publish(&b, "T", json!("boom")).await;
    publish(&b, "T", json!("fine")).await;
    let w = quick(Worker::new(broker, src())).handle(
        "T",
        handler_fn(|e: Event<Value>, ctx: Context| async move {
            if e.data == "boom" && ctx.delivery_count() == 1 {
                panic!("handler bug");
            }
            Ok(())
        }),
    );
    let report = run_until(w, 2).await;
    assert_eq!((report.acked, report.retried), (2, 1), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_long_handler_keeps_its_lock() {
    let (b, broker) = setup(2).await;
    publish(&b, "Slow", json!(1)).await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let w = quick(Worker::new(broker, src())).handle(
        "Slow",
        handler_fn(move |_e: Event<Value>, _ctx| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok(())
            }
        }),
    );
    let report = run_until(w, 1).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "not redelivered while its handler ran 10x the visibility timeout"
    );
    assert_eq!(
        (report.received, report.acked, report.settle_failures),
        (1, 1, 0),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn idempotency_skips_a_redelivered_event() {
    let (b, broker) = setup(30).await;
    let e = publish(&b, "T", json!(1)).await;
    b.publish_event(&Destination::queue("work"), &e)
        .await
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let w = quick(Worker::new(broker, src()))
        .concurrency(1)
        .idempotency(Arc::new(MemoryIdempotencyStore::default()))
        .handle(
            "T",
            handler_fn(move |_e: Event<Value>, _ctx| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }),
        );
    let report = run_until(w, 2).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!((report.acked, report.duplicates), (1, 1), "{report}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_in_flight_work_and_bounds_concurrency() {
    let (b, broker) = setup(30).await;
    for i in 0..6 {
        publish(&b, "T", json!(i)).await;
    }
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, p) = (running.clone(), peak.clone());
    let w = quick(Worker::new(broker, src())).concurrency(2).handle(
        "T",
        handler_fn(move |_e: Event<Value>, _ctx| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        }),
    );
    // Shut down while the first two handlers are mid-way.
    let report = w
        .run(tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "at most `concurrency` at once"
    );
    assert_eq!(
        (report.received, report.acked),
        (2, 2),
        "in-flight work finished: {report}"
    );
    assert_eq!(b.count(&src()).unwrap(), 4, "the rest stays queued");
}

#[tokio::test(start_paused = true)]
async fn misconfiguration_is_an_error() {
    let (_b, broker) = setup(30).await;
    let err = Worker::new(broker.clone(), src())
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no handlers"), "{err}");
    let err = Worker::new(broker, Source::queue("nope"))
        .handle("T", handler_fn(|_e: Event<Value>, _c| async { Ok(()) }))
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

mod faults;
