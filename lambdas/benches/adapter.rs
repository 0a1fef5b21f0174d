//! Adapter overhead per record, beside AWS Lambda Powertools' `BatchProcessor` (Python)
//! on the same 10,000-record SQS event, plus bootstrap cold start under the runner.
//!
//! Both sides start from the event's bytes and end with the response's bytes: parse,
//! dispatch to a no-op handler that decodes the body, answer. `scripts/bench-lambdas.sh`
//! installs Powertools (`POWERTOOLS_PYTHON`, default `.tools/venv/bin/python`) and builds
//! the `inventory` bootstrap (`COURIER_BENCH_BOOTSTRAP`) for the cold start.
//!
//! The adapter is measured twice: called directly, and as a function runs it
//! (`courier_lambdas::run_sqs` on `lambda_runtime`, against a Runtime API on loopback:
//! the event's HTTP transfer, the runtime's reading of it and the answer's POST included).
//! `COURIER_BENCH_ROUNDS` overrides the number of rounds (1 under callgrind).
//!
//! Times are CPU time of the process (Python's `time.process_time()` on its side): this
//! machine is shared, and wall time counts the time other processes had the cores.

mod support;

use support::runtime_api::cpu_time;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, HandlerError, MemoryIdempotencyStore, Router};
use courier_core::{Broker, Destination, Event, MemoryBroker, PublisherExt, Source};
use courier_lambda_runner::{self as runner, RunnerConfig};
use courier_lambdas::event::SqsEvent;
use courier_lambdas::sqs::SqsAdapter;

const RECORDS: usize = 10_000;
const ROUNDS: usize = 7;

fn rounds() -> usize {
    std::env::var("COURIER_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(ROUNDS)
}

fn event_json() -> String {
    let records: Vec<serde_json::Value> = (0..RECORDS)
        .map(|i| {
            let e = Event::new("/shop/checkout", "OrderCreated", serde_json::json!({"order_id": format!("order-{i}"), "total_cents": 1250}));
            let wire = courier_aws::wire::encode(&e.to_message().expect("encode"), true).expect("wire");
            let attrs: serde_json::Map<String, serde_json::Value> = wire
                .attributes
                .iter()
                .map(|a| (a.name.clone(), serde_json::json!({"stringValue": a.value, "stringListValues": [], "binaryListValues": [], "dataType": a.data_type})))
                .collect();
            serde_json::json!({
                "messageId": format!("{:08x}-0000-4000-8000-{:012x}", i, i),
                "receiptHandle": format!("AQEB{i:040}"),
                "body": wire.body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764151200000", "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764151200010"},
                "messageAttributes": attrs,
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders-inventory",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn courier_round(raw: &[u8], adapter: &SqsAdapter) -> Duration {
    let start = cpu_time();
    let event: SqsEvent<'_> = serde_json::from_slice(raw).expect("event");
    let response = adapter.handle(&event).await;
    let out = serde_json::to_vec(&response).expect("response");
    assert_eq!(out, br#"{"batchItemFailures":[]}"#);
    cpu_time() - start
}

async fn courier_rounds(raw: &[u8], adapter: &SqsAdapter) -> Duration {
    let mut times = Vec::new();
    for _ in 0..rounds() {
        times.push(courier_round(raw, adapter).await);
    }
    median(times)
}

fn powertools(path: &PathBuf) -> Option<Duration> {
    let python = std::env::var("POWERTOOLS_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/python").to_owned()
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/powertools_batch.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(path)
        .arg(rounds().to_string())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<f64>()
            .ok()
            .map(Duration::from_secs_f64),
        Ok(o) => {
            eprintln!(
                "powertools run failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!(
                "cannot run {python}: {e} (set POWERTOOLS_PYTHON or run scripts/bench-lambdas.sh)"
            );
            None
        }
    }
}

/// `run_sqs` on `lambda_runtime`, as in a function (event ids remembered, dead letters
/// off), over `rounds()` fresh events served by a Runtime API on loopback.
async fn through_runtime(router: Router) -> Duration {
    let events = (0..rounds())
        .map(|_| support::runtime_api::Invocation {
            body: event_json().into_bytes(),
            deadline_in: Duration::from_secs(900),
        })
        .collect();
    let (addr, mut answers) = support::runtime_api::serve(events).await.expect("serve");
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".to_owned()),
        ("COURIER_LAMBDA_DEAD_LETTERS", "none".to_owned()),
    ] {
        std::env::set_var(name, value);
    }
    // Not spawned: like a bootstrap's `main`, the function's future is not `Send`.
    let function = courier_lambdas::run_sqs(router);
    let timed = async {
        let mut times = Vec::new();
        for _ in 0..rounds() {
            let (took, body) = answers
                .recv()
                .await
                .expect("the function answers")
                .response();
            assert_eq!(&body[..], br#"{"batchItemFailures":[]}"#);
            times.push(took);
        }
        median(times)
    };
    tokio::select! {
        ended = function => panic!("the function ended: {ended:?}"),
        took = timed => took,
    }
}

async fn cold_start(bootstrap: &str) -> Duration {
    let mut q = QueueSpec::new("cold");
    q.visibility_timeout_secs = 30;
    let mut starts = Vec::new();
    for _ in 0..5 {
        let broker = MemoryBroker::with_topology(&Topology {
            queues: vec![q.clone()],
            ..Topology::default()
        })
        .await
        .expect("memory");
        let e = Event::new(
            "/shop",
            "OrderCreated",
            serde_json::json!({"order_id": "o-1", "customer_email": "a@example.com", "shipping_city": "Lisbon", "items": [{"sku": "MUG-RED", "quantity": 1, "unit_price_cents": 1250}], "total_cents": 1250}),
        );
        broker
            .publish_event(&Destination::queue("cold"), &e)
            .await
            .expect("publish");
        let mut config = RunnerConfig::new(bootstrap, Source::queue("cold"));
        config.max_invocations = Some(1);
        config.env = vec![("RUST_LOG".into(), "warn".into())];
        let report = runner::run(
            Arc::new(broker) as Arc<dyn Broker>,
            config,
            std::future::pending(),
        )
        .await
        .expect("runner");
        assert_eq!(report.failed_records, 0, "{report}");
        starts.push(report.cold_start.expect("the bootstrap polled"));
    }
    median(starts)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let raw = event_json();
    let path = std::env::temp_dir().join(format!("courier-sqs-event-{}.json", std::process::id()));
    std::fs::write(&path, &raw).expect("write event");
    let router = Router::new().handle(
        "OrderCreated",
        handler_fn(|e: Event<serde_json::Value>, _ctx| async move {
            std::hint::black_box(e);
            Ok::<(), HandlerError>(())
        }),
    );
    let plain = SqsAdapter::new(router.clone());
    let raw = raw.into_bytes();
    if std::env::var("COURIER_BENCH_ONLY").as_deref() == Ok("adapter") {
        // For callgrind: the adapter alone, `rounds()` times (counts of 2 rounds less
        // those of 1 give one round). The event is kept for the same run of
        // powertools_batch.py.
        let rust = rt.block_on(courier_rounds(&raw, &plain));
        let per = rust.as_secs_f64() * 1e6 / RECORDS as f64;
        println!(
            "courier SqsAdapter (Rust) {per:.2} µs/record; event kept at {}",
            path.display()
        );
        return;
    }
    let parse = median(
        (0..rounds())
            .map(|_| {
                let start = cpu_time();
                let event: SqsEvent<'_> = serde_json::from_slice(&raw).expect("event");
                std::hint::black_box(event);
                cpu_time() - start
            })
            .collect(),
    );
    let rust = rt.block_on(courier_rounds(&raw, &plain));
    // As `run_sqs` sets it up in a function: event ids remembered per execution
    // environment; a fresh store per round, so that every event is new as in a stream.
    let with_idempotency = rt.block_on(async {
        let mut times = Vec::new();
        for _ in 0..rounds() {
            let fresh = SqsAdapter::new(router.clone())
                .idempotency(Arc::new(MemoryIdempotencyStore::default()));
            times.push(courier_round(&raw, &fresh).await);
        }
        median(times)
    });
    let runtime = rt.block_on(through_runtime(router.clone()));
    let python = powertools(&path);
    let _ = std::fs::remove_file(&path);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / RECORDS as f64;
    println!("{RECORDS}-record SQS event, no-op handler, median of {} rounds (bytes in: parse, dispatch, response bytes out)", rounds());
    println!("courier SqsAdapter (Rust)                      {:>8.2} µs/record (of which parsing the event JSON {:.2})", per(rust), per(parse));
    println!(
        "courier SqsAdapter + idempotency (as run_sqs)  {:>8.2} µs/record",
        per(with_idempotency)
    );
    println!(
        "courier run_sqs on lambda_runtime (Runtime API on loopback) {:>8.2} µs/record",
        per(runtime)
    );
    match python {
        Some(p) => {
            println!(
                "Powertools BatchProcessor (Python)             {:>8.2} µs/record",
                per(p)
            );
            println!(
                "ratio: courier takes {:.3}x the time of Powertools ({:.1}x faster; {:.1}x with idempotency; {:.1}x through lambda_runtime)",
                rust.as_secs_f64() / p.as_secs_f64(),
                p.as_secs_f64() / rust.as_secs_f64(),
                p.as_secs_f64() / with_idempotency.as_secs_f64(),
                p.as_secs_f64() / runtime.as_secs_f64()
            );
        }
        None => println!("Powertools BatchProcessor (Python)    not measured (see above)"),
    }
    match std::env::var("COURIER_BENCH_BOOTSTRAP") {
        Ok(bootstrap) => {
            let cold = rt.block_on(cold_start(&bootstrap));
            println!(
                "bootstrap cold start to first invocation request under the runner: {:.1} ms (median of 5)",
                cold.as_secs_f64() * 1000.0
            );
        }
        Err(_) => println!("cold start not measured: set COURIER_BENCH_BOOTSTRAP to a bootstrap (scripts/bench-lambdas.sh does)"),
    }
}
