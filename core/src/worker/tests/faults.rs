//! Worker behaviour that must hold under hostile conditions (issue: nothing lost under
//! faults): FIFO order, dead-letter queues, receive errors, settings.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::*;
use crate::topology::{QueueSpec, Topology};
use crate::{
    Consumer, Delivery, Destination, Event, MemoryBroker, Message, ProvisionReport, Publisher,
    PublisherExt,
};

async fn fifo_queue() -> (MemoryBroker, Arc<dyn Broker>) {
    let mut q = QueueSpec::new("orders");
    q.fifo = true;
    q.visibility_timeout_secs = 30;
    let b = MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    (b.clone(), Arc::new(b))
}

fn fifo_event(group: &str, n: u32) -> Message {
    Event::new("/t", "T", json!({"n": n}))
        .to_message()
        .unwrap()
        .with_group_id(group)
}

/// Records handler starts and ends, in order.
#[derive(Default)]
struct Trace(Mutex<Vec<String>>);

impl Trace {
    fn push(&self, s: String) {
        self.0.lock().push(s);
    }
    fn take(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_fifo_group_is_handled_one_message_after_another_in_order() {
    let (b, broker) = fifo_queue().await;
    for n in 1..=3 {
        b.publish(&Destination::queue("orders"), fifo_event("g", n))
            .await
            .unwrap();
    }
    let trace = Arc::new(Trace::default());
    let t = trace.clone();
    let w = Worker::new(broker, Source::queue("orders"))
        .concurrency(16)
        .poll_wait(Duration::from_millis(100))
        .handle(
            "T",
            handler_fn(move |e: Event<Value>, _ctx| {
                let t = t.clone();
                async move {
                    let n = e.data["n"].as_u64().unwrap_or_default();
                    t.push(format!("start {n}"));
                    // The first message is the slowest: spawned concurrently, the
                    // others would finish first.
                    tokio::time::sleep(Duration::from_millis(300 / n)).await;
                    t.push(format!("end {n}"));
                    Ok(())
                }
            }),
        );
    let stats = w.stats();
    let done = async move {
        while stats.snapshot().acked < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    w.run(done).await.unwrap();
    assert_eq!(
        trace.take(),
        ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_fifo_message_blocks_the_rest_of_its_group() {
    let (b, broker) = fifo_queue().await;
    for n in 1..=3 {
        b.publish(&Destination::queue("orders"), fifo_event("g", n))
            .await
            .unwrap();
    }
    b.publish(&Destination::queue("orders"), fifo_event("other", 9))
        .await
        .unwrap();
    let trace = Arc::new(Trace::default());
    let t = trace.clone();
    let w = Worker::new(broker, Source::queue("orders"))
        .poll_wait(Duration::from_millis(100))
        .backoff(Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(2),
            jitter: false,
        })
        .handle(
            "T",
            handler_fn(move |e: Event<Value>, ctx: Context| {
                let t = t.clone();
                async move {
                    let n = e.data["n"].as_u64().unwrap_or_default();
                    if n == 1 && ctx.delivery_count() == 1 {
                        t.push("retry 1".into());
                        return Err(HandlerError::retry("not yet"));
                    }
                    t.push(format!("done {n}"));
                    Ok(())
                }
            }),
        );
    let stats = w.stats();
    let done = async move {
        while stats.snapshot().acked < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    w.run(done).await.unwrap();
    let order: Vec<String> = trace.take().into_iter().filter(|s| s != "done 9").collect();
    assert_eq!(
        order,
        ["retry 1", "done 1", "done 2", "done 3"],
        "2 and 3 wait for 1"
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_failing_on_a_dead_letter_queue_is_left_there_not_spun() {
    let mut q = QueueSpec::new("work");
    q.visibility_timeout_secs = 5;
    let b = MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    let e = Event::new("/t", "T", json!(1));
    b.publish_event(&Destination::queue("work"), &e)
        .await
        .unwrap();
    let d = b
        .receive(&Source::queue("work"), 1, Duration::ZERO)
        .await
        .unwrap()
        .pop()
        .unwrap();
    d.dead_letter("poison").await.unwrap();

    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let w = Worker::new(Arc::new(b.clone()), Source::queue("work").dead_letter())
        .poll_wait(Duration::from_millis(100))
        .handle(
            "T",
            handler_fn(move |_e: Event<Value>, _ctx| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Err(HandlerError::permanent("still poison"))
                }
            }),
        );
    let report = w
        .run(tokio::time::sleep(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "handled once, not every lock expiry"
    );
    assert_eq!(report.parked, 1, "{report}");
    assert_eq!(
        b.count(&Source::queue("work").dead_letter()).unwrap(),
        1,
        "left in the dead-letter queue for inspection"
    );
}

/// A broker whose receives fail with a chosen error a number of times first.
struct Flaky {
    inner: MemoryBroker,
    failures: Mutex<Vec<Error>>,
}

#[async_trait]
impl Publisher for Flaky {
    async fn publish(&self, d: &Destination, m: Message) -> Result<String> {
        self.inner.publish(d, m).await
    }
}

#[async_trait]
impl Consumer for Flaky {
    async fn receive(&self, s: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        if let Some(e) = self.failures.lock().pop() {
            return Err(e);
        }
        self.inner.receive(s, max, wait).await
    }
}

#[async_trait]
impl Broker for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn provision(&self, t: &Topology) -> Result<ProvisionReport> {
        self.inner.provision(t).await
    }
}

async fn flaky(failures: Vec<Error>) -> (MemoryBroker, Arc<dyn Broker>) {
    let inner = MemoryBroker::with_topology(&Topology {
        queues: vec![QueueSpec::new("work")],
        ..Topology::default()
    })
    .await
    .unwrap();
    let flaky = Flaky {
        inner: inner.clone(),
        failures: Mutex::new(failures),
    };
    (inner, Arc::new(flaky))
}

#[tokio::test(start_paused = true)]
async fn receive_errors_that_may_pass_back_off_and_the_worker_goes_on() {
    let (b, broker) = flaky(vec![
        Error::decode("a body that is not UTF-8"),
        Error::transient("KMS.ThrottlingException"),
        Error::backend("HTTP 500"),
        Error::invalid_input("something odd"),
    ])
    .await;
    b.publish_event(
        &Destination::queue("work"),
        &Event::new("/t", "T", json!(1)),
    )
    .await
    .unwrap();
    let w = Worker::new(broker, Source::queue("work"))
        .poll_wait(Duration::from_millis(100))
        .handle("T", handler_fn(|_e: Event<Value>, _c| async { Ok(()) }));
    let stats = w.stats();
    let done = async move {
        while stats.snapshot().acked < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let report = tokio::time::timeout(Duration::from_secs(600), w.run(done))
        .await
        .expect("finished")
        .expect("the worker survived");
    assert_eq!((report.receive_errors, report.acked), (4, 1), "{report}");
}

#[tokio::test(start_paused = true)]
async fn only_errors_that_make_receiving_pointless_stop_the_worker() {
    for fatal in [
        Error::not_found("queue 'work'"),
        Error::Unauthorized {
            message: "SignatureDoesNotMatch".into(),
            source: None,
        },
    ] {
        let text = fatal.to_string();
        let (_b, broker) = flaky(vec![fatal]).await;
        let err = Worker::new(broker, Source::queue("work"))
            .handle("T", handler_fn(|_e: Event<Value>, _c| async { Ok(()) }))
            .run(std::future::pending())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), text);
    }
}

#[tokio::test]
async fn settings_that_would_process_nothing_or_panic_are_refused() {
    let (_b, broker) = flaky(vec![]).await;
    for (w, expected) in [
        (
            Worker::new(broker.clone(), Source::queue("work")).concurrency(0),
            "concurrency 0",
        ),
        (
            Worker::new(broker.clone(), Source::queue("work")).concurrency(usize::MAX),
            "is not between 1 and 100000",
        ),
        (
            Worker::new(broker.clone(), Source::queue("work")).batch_size(0),
            "batch_size is 0",
        ),
        (
            Worker::new(broker.clone(), Source::queue("work")).pollers(0),
            "pollers 0",
        ),
    ] {
        let err = w
            .handle("T", handler_fn(|_e: Event<Value>, _c| async { Ok(()) }))
            .run(std::future::pending())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { .. }) && err.to_string().contains(expected),
            "{err}"
        );
    }
}
