//! `courier --provider aws …` against real LocalStack (started by ./scripts/test.sh).
#![cfg(all(feature = "cli", feature = "aws"))]

use std::process::{Command, Output};

fn endpoint() -> String {
    std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            format!(
                "http://127.0.0.1:{}",
                std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".into())
            )
        })
}

fn courier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["--provider", "aws"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("courier runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn demo_provision_publish_receive_on_localstack() {
    let stdout = ok(&courier(&["demo"]));
    for expected in [
        "provisioned on aws",
        "authorised 29.00 EUR for order-1002 (attempt 2)",
        "summary (aws provider, from courier's metrics):",
        "orders/inventory     order-1004: permanent: unknown SKU GHOST-42 in order-1004",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let stdout = ok(&courier(&["--topology", "topology.yaml", "provision"]));
    assert!(
        stdout.contains("orders-inventory-dlq") && stdout.contains("unchanged"),
        "{stdout}"
    );

    let id = ok(&courier(&[
        "publish",
        "topic:orders",
        "--type",
        "OrderCreated",
        "--subject",
        "cli-1",
        "--data",
        r#"{"order_id":"cli-1"}"#,
    ]));
    assert!(!id.trim().is_empty());
    let lines = ok(&courier(&[
        "receive",
        "subscription:orders/shipping",
        "--wait",
        "5",
        "--json",
        "--max",
        "10",
    ]));
    let found = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line"))
        .any(|v| {
            v["subject"] == "cli-1" && v["type"] == "OrderCreated" && v["delivery_count"] == 1
        });
    assert!(found, "{lines}");

    // The same data reached orders/inventory; run the real inventory bootstrap on it. It is
    // not a valid OrderCreated, so the function dead-letters it with the reason.
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_courier")).with_file_name("inventory");
    assert!(
        bootstrap.is_file(),
        "{} is built with the workspace (cargo test --workspace)",
        bootstrap.display()
    );
    let out = ok(&courier(&[
        "lambda",
        "run",
        "--bin",
        bootstrap.to_str().unwrap(),
        "--source",
        "subscription:orders/inventory",
        "--idle-exit",
        "3",
    ]));
    assert!(
        out.contains("1 invocation(s), 1 record(s), 0 record(s) failed"),
        "{out}"
    );
    let dead = ok(&courier(&[
        "receive",
        "subscription:orders/inventory",
        "--dlq",
        "--json",
        "--wait",
        "2",
    ]));
    assert!(
        dead.contains("cli-1") && dead.contains("cannot decode message"),
        "{dead}"
    );
}
