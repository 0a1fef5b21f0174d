//! With the feature `otel`, a function exports its telemetry before answering each
//! invocation; a collector that accepts connections and never answers must cost the spans,
//! not the invocation: the answer still comes before `Lambda-Runtime-Deadline-Ms`
//! ("Using the Lambda runtime API for custom runtimes",
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>: past the deadline
//! Lambda times the invocation out and the whole batch comes back).
//!
//! One test: the Lambda and OTEL environment variables are the process's.

#[path = "../benches/support/runtime_api.rs"]
mod runtime_api;

use std::time::{Duration, Instant};

use courier_core::worker::{handler_fn, HandlerError, Router};
use courier_core::Event;
use runtime_api::Invocation;

#[tokio::test]
async fn a_collector_that_never_answers_does_not_make_the_function_miss_its_deadline() {
    // Accepts connections, reads nothing, answers nothing.
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_at = collector.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = collector.accept().await {
            open.push(socket);
        }
    });

    let deadline_in = Duration::from_secs(1);
    let body = std::fs::read(format!(
        "{}/tests/fixtures/sqs-direct.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (api, mut answers) = runtime_api::serve(vec![Invocation { body, deadline_in }])
        .await
        .expect("serve");
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders-inventory".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("COURIER_LAMBDA_DEAD_LETTERS", "none".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_at}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        // The exporter alone would wait this long for the collector.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()),
    ] {
        std::env::set_var(name, value);
    }
    let router = Router::new().handle(
        "OrderCreated",
        handler_fn(|_e: Event<serde_json::Value>, _ctx| async move { Ok::<(), HandlerError>(()) }),
    );
    let started = Instant::now();
    let function = courier_lambdas::run_sqs(router);
    let answered = async {
        tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the function answers at all")
            .expect("the API is up")
            .response();
        started.elapsed()
    };
    let took = tokio::select! {
        ended = function => panic!("the function ended: {ended:?}"),
        took = answered => took,
    };
    // `took` also counts the function's start (before the invocation is handed out and
    // its deadline starts): allow for that on a loaded machine. Without the bound the
    // answer waits for the exporter (5 s here).
    let allowance = Duration::from_secs(2);
    assert!(
        took < deadline_in + allowance,
        "answered {took:?} after starting, past the invocation's {deadline_in:?} deadline \
         (+ {allowance:?} for starting)"
    );
    held.abort();
}
