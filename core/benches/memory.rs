//! In-memory broker throughput and worker dispatch overhead, beside `tokio::sync::mpsc`
//! as the reference ceiling, in one run. `cargo bench -p courier-core --bench memory`
//! (`-- N` sets the message count, default 100000; `-- N NAME` runs only the variants
//! whose name contains NAME, e.g. `worker`, for a profiler).
//!
//! Each variant runs in interleaved rounds and reports its median, so that the noise of
//! a shared machine hits all variants alike; compare the ratios, not the absolute rates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{
    Broker, Consumer, Destination, Event, MemoryBroker, Message, Publisher, PublisherExt, Source,
};

const ROUNDS: usize = 5;

fn payload() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"order_id": "order-1001", "sku": "MUG-RED", "quantity": 2, "total_cents": 2500}))
        .expect("json")
}

async fn queue_broker() -> MemoryBroker {
    let mut q = QueueSpec::new("bench");
    q.max_receive_count = 1000;
    MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .expect("provision")
}

/// The ceiling: the same bodies through a tokio channel, producer and consumer concurrent.
async fn mpsc(n: usize) -> Duration {
    let body = payload();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(1024);
    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for _ in 0..n {
            tx.send(Message::new(body.clone())).await.expect("send");
        }
    });
    let mut got = 0;
    while got < n {
        let mut batch = Vec::with_capacity(10);
        if rx.recv_many(&mut batch, 10).await == 0 {
            break;
        }
        got += batch.len();
    }
    producer.await.expect("producer");
    assert_eq!(got, n);
    start.elapsed()
}

/// Publish, receive in batches of 10 and ack every message, producer and consumer concurrent.
async fn broker_round_trip(n: usize) -> Duration {
    let broker = queue_broker().await;
    let body = payload();
    let start = Instant::now();
    let publisher = broker.clone();
    let producer = tokio::spawn(async move {
        for _ in 0..n {
            publisher
                .publish(&Destination::queue("bench"), Message::new(body.clone()))
                .await
                .expect("publish");
        }
    });
    let src = Source::queue("bench");
    let mut got = 0;
    while got < n {
        for d in broker
            .receive(&src, 10, Duration::from_secs(5))
            .await
            .expect("receive")
        {
            d.ack().await.expect("ack");
            got += 1;
        }
    }
    producer.await.expect("producer");
    start.elapsed()
}

async fn published_events(n: usize) -> MemoryBroker {
    let broker = queue_broker().await;
    let events: Vec<Event<serde_json::Value>> = (0..n)
        .map(|_| {
            Event::new(
                "/bench",
                "OrderCreated",
                serde_json::from_slice(&payload()).expect("json"),
            )
        })
        .collect();
    for chunk in events.chunks(1000) {
        broker
            .publish_events(&Destination::queue("bench"), chunk)
            .await
            .expect("publish");
    }
    broker
}

/// Hand-written consume loop: receive, decode, call, ack; the worker's baseline.
async fn hand_loop(n: usize) -> Duration {
    let broker = published_events(n).await;
    let handled = AtomicU64::new(0);
    let src = Source::queue("bench");
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        for d in broker
            .receive(&src, 10, Duration::from_secs(5))
            .await
            .expect("receive")
        {
            let e: Event<serde_json::Value> = d.event().expect("decode");
            std::hint::black_box(&e);
            handled.fetch_add(1, Ordering::Relaxed);
            d.ack().await.expect("ack");
            got += 1;
        }
    }
    start.elapsed()
}

/// The same work through the worker runtime (routing, spans, lock timers, stats).
async fn worker(n: usize) -> Duration {
    let broker = published_events(n).await;
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let w = Worker::new(Arc::new(broker) as Arc<dyn Broker>, Source::queue("bench"))
        .concurrency(32)
        .handle(
            "OrderCreated",
            handler_fn(move |e: Event<serde_json::Value>, _ctx| {
                let h = h.clone();
                async move {
                    std::hint::black_box(&e);
                    h.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), HandlerError>(())
                }
            }),
        );
    let stats = w.stats();
    let start = Instant::now();
    let target = n as u64;
    let report = w
        .run(async move {
            while stats.snapshot().acked < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("worker");
    assert_eq!(report.acked, target);
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let only = args
        .iter()
        .find(|a| a.parse::<usize>().is_err() && !a.starts_with('-'))
        .cloned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let names = [
        "tokio mpsc (ceiling)",
        "memory broker publish+receive+ack",
        "hand loop receive+decode+ack",
        "worker receive+decode+dispatch+ack",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let run = |i: usize| only.as_ref().is_none_or(|o| names[i].contains(o.as_str()));
    let rounds = if only.is_some() { 1 } else { ROUNDS };
    rt.block_on(async {
        for _ in 0..rounds {
            if run(0) {
                times[0].push(mpsc(n).await);
            }
            if run(1) {
                times[1].push(broker_round_trip(n).await);
            }
            if run(2) {
                times[2].push(hand_loop(n).await);
            }
            if run(3) {
                times[3].push(worker(n).await);
            }
        }
    });
    if only.is_some() {
        for (name, t) in names.iter().zip(&times) {
            if !t.is_empty() {
                let d = median(t.clone());
                println!("{name}: {:.0} msgs/s", n as f64 / d.as_secs_f64());
            }
        }
        return;
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    println!("{n} messages, median of {ROUNDS} interleaved rounds, 2 runtime threads");
    println!("{:<40} {:>12} {:>10}", "variant", "msgs/s", "ratio");
    for (i, name) in names.iter().enumerate() {
        let base = if i <= 1 { medians[0] } else { medians[2] };
        let ratio = base.as_secs_f64() / medians[i].as_secs_f64();
        let of = if i <= 1 { "of mpsc" } else { "of hand loop" };
        println!("{name:<40} {:>12.0} {ratio:>6.3} {of}", rate(medians[i]));
    }
}
