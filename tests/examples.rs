//! The examples are built by `cargo test`; this runs the newcomer's one (publisher, typed
//! worker, dead-letter reader) on the in-memory default and, unchanged, on real LocalStack
//! (started by ./scripts/test.sh), configured only through the environment.
#![cfg(all(feature = "cli", feature = "aws"))]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `target/<profile>/examples/NAME`, beside this test's own binary in `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds the examples first",
        path.display()
    );
    path
}

fn run(name: &str, env: &[(&str, String)]) -> Output {
    let mut command = Command::new(example(name));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env_remove("COURIER_PROVIDER");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the example runs")
}

fn expect_first_hour(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "notified: o-1 ships with DHL",
        "acked 1",
        "dead-lettered 1",
        r#"dead-lettered: {"order_id":"o-2","carrier":""} because permanent: no carrier"#,
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn the_first_hour_example_runs_on_memory() {
    expect_first_hour(&run("first_hour", &[]));
}

#[test]
fn the_same_example_runs_on_localstack_by_configuration_only() {
    let url = std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("LocalStack's URL in COURIER_TEST_LOCALSTACK_URL (./scripts/test.sh starts it)");
    expect_first_hour(&run(
        "first_hour",
        &[
            ("COURIER_PROVIDER", "aws".into()),
            ("AWS_ENDPOINT_URL", url),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ],
    ));
}

#[test]
fn the_dead_letter_reader_shows_reasons() {
    let out = run("dead_letters", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 message(s) in subscription:orders/inventory (dead-letter queue)")
            && stdout.contains(r#"reason="demo: not JSON""#),
        "{stdout}"
    );
}

fn expect_request_reply(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "2 x MUG-RED reserved: true",
        "9 x MUG-RED reserved: false",
        "closed desk: timed out: reply to ReserveStock sent to queue:closed-desk after 1s",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn the_request_reply_example_runs_on_memory() {
    expect_request_reply(&run("request_reply", &[]));
}

#[test]
fn the_request_reply_example_runs_on_localstack_by_configuration_only() {
    let url = std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("LocalStack's URL in COURIER_TEST_LOCALSTACK_URL (./scripts/test.sh starts it)");
    expect_request_reply(&run(
        "request_reply",
        &[
            ("COURIER_PROVIDER", "aws".into()),
            ("AWS_ENDPOINT_URL", url),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ],
    ));
}
