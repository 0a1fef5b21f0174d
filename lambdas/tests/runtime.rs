//! `run_sqs` on `lambda_runtime`, against a Lambda Runtime API on loopback that follows
//! "Using the Lambda runtime API for custom runtimes"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): an error while
//! initialising is posted to `/runtime/init/error` (`Runtime.InitError`) and the process
//! ends; an SQS event is answered on `/response` with the partial batch response of
//! "Handling errors for an SQS event source in Lambda"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>); an
//! event that is not an SQS event is failed on `/error`; and the answer comes before
//! `Lambda-Runtime-Deadline-Ms` with the unfinished records listed.
//!
//! One test: the Lambda environment variables are the process's.

#[path = "../benches/support/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use courier_core::worker::{handler_fn, HandlerError, Router};
use courier_core::Event;
use runtime_api::{Answer, Invocation};
use serde::Deserialize;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Deserialize)]
struct Order {
    order_id: String,
}

/// `o-2` asks to be retried, `o-3` fails for good (no dead-letter queue here: listed),
/// `o-slow` never finishes.
fn router() -> Router {
    Router::new().handle(
        "OrderCreated",
        handler_fn(|e: Event<Order>, _ctx| async move {
            match e.data.order_id.as_str() {
                "o-2" => Err(HandlerError::retry("gateway timeout")),
                "o-3" => Err(HandlerError::permanent("out of stock")),
                "o-slow" => std::future::pending().await,
                _ => Ok(()),
            }
        }),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).expect("fixture")
}

fn lambda_environment(api: std::net::SocketAddr) {
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders-inventory".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("COURIER_LAMBDA_DEAD_LETTERS", "none".to_owned()),
    ] {
        std::env::set_var(name, value);
    }
}

async fn next_answer(answers: &mut UnboundedReceiver<Answer>) -> Answer {
    tokio::time::timeout(Duration::from_secs(30), answers.recv())
        .await
        .expect("the function answers")
        .expect("the API is up")
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn a_function_on_lambda_runtime_speaks_the_runtime_api() {
    // Lambda always sets the function's version: without it the function cannot start,
    // and says so on /init/error instead of panicking inside the runtime client.
    let (api, mut answers) = runtime_api::serve(Vec::new()).await.expect("serve");
    lambda_environment(api);
    std::env::remove_var("AWS_LAMBDA_FUNCTION_VERSION");
    let e = courier_lambdas::run_sqs(router()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("AWS_LAMBDA_FUNCTION_VERSION is not set"),
        "{e}"
    );
    match next_answer(&mut answers).await {
        Answer::InitError { body } => {
            let report = json(&body);
            assert_eq!(report["errorType"], "Runtime.InitError", "{report}");
            let message = report["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("AWS_LAMBDA_FUNCTION_VERSION"), "{report}");
        }
        other => panic!("expected an init error, got {other:?}"),
    }

    let slow = String::from_utf8(fixture("sqs-direct.json"))
        .expect("UTF-8")
        .replacen("o-1", "o-slow", 1)
        .replace("e-1", "e-slow");
    let events = vec![
        Invocation {
            body: fixture("sqs-direct.json"),
            deadline_in: Duration::from_secs(60),
        },
        Invocation {
            body: fixture("sns.json"),
            deadline_in: Duration::from_secs(60),
        },
        Invocation {
            body: slow.into_bytes(),
            deadline_in: Duration::from_secs(2),
        },
    ];
    let (api, mut answers) = runtime_api::serve(events).await.expect("serve");
    lambda_environment(api);
    // The function runs beside the checks (its future is not `Send`: as in a bootstrap's
    // `main`, it is not spawned).
    let function = courier_lambdas::run_sqs(router());
    let checks = async {
        let (_, body) = next_answer(&mut answers).await.response();
        assert_eq!(
            json(&body),
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
                {"itemIdentifier": "db37cc61-1bb4-4b77-b4e1-4d4d0a0d7b4c"}
            ]}),
            "o-2 retried, o-3 permanent without a dead-letter queue: both listed"
        );

        match next_answer(&mut answers).await {
            Answer::Error { body } => {
                let report = json(&body);
                assert_eq!(report["errorType"], "Runtime.InvalidEvent", "{report}");
                let message = report["errorMessage"].as_str().unwrap_or_default();
                assert!(
                    message.contains("the event is not an SQS event"),
                    "{report}"
                );
            }
            other => panic!("an SNS event given to an SQS function must fail, got {other:?}"),
        }

        // o-slow never finishes: the function answers before the deadline instead of being
        // timed out (which would bring the whole batch back), with o-slow listed.
        let (_, body) = next_answer(&mut answers).await.response();
        assert_eq!(
            json(&body),
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"},
                {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
                {"itemIdentifier": "db37cc61-1bb4-4b77-b4e1-4d4d0a0d7b4c"}
            ]}),
            "answered at the deadline: o-slow unfinished, o-2 and o-3 failed"
        );
    };
    tokio::select! {
        ended = function => panic!("the function ended: {ended:?}"),
        () = checks => {}
    }
}
