#![cfg(feature = "cli")]
//! The `courier` binary: the demo, and bad input refused with one clear line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn courier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("COURIER_PROVIDER", "memory")
        .output()
        .expect("courier runs")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("courier-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Fails with exactly one line on stderr containing `expected`.
fn refused(args: &[&str], expected: &str) {
    let out = courier(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} should fail; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got: {stderr}");
    assert!(
        lines[0].contains(expected),
        "{args:?}: expected {expected:?} in {:?}",
        lines[0]
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

/// Refused by the argument parser: clap's whole message (what is wrong, usage, tips),
/// never cut to its first line.
fn refused_by_clap(args: &[&str], expected: &[&str]) {
    let out = courier(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{args:?}: expected {e:?} in:\n{stderr}");
    }
    assert!(stderr.contains("--help"), "points to --help: {stderr}");
}

#[test]
fn demo_runs_on_the_memory_default_and_shows_dead_letters() {
    let out = courier(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "published OrderCreated order-1001",
        "[inventory]    reserved 2 x MUG-RED for order-1001",
        "gateway timeout for order-1002 (attempt 1)",
        "summary (memory provider, from courier's metrics):",
        "orders/inventory     order-1004: permanent: unknown SKU GHOST-42 in order-1004",
        "orders/payment",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn publish_and_receive_work_within_one_process_lifetime() {
    let out = courier(&[
        "publish",
        "topic:orders",
        "--type",
        "OrderCreated",
        "--data",
        r#"{"order_id":"o-1"}"#,
        "--attr",
        "region=eu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout);
    assert_eq!(id.trim().len(), 36, "prints the event id: {id}");
    let out = courier(&[
        "receive",
        "subscription:orders/inventory",
        "--wait",
        "0",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_is_one_clear_line() {
    let bad_topology = scratch(
        "bad-topology.yaml",
        "topics: [{name: orders}]\nsubscriptions: [{topic: order, name: inv}]\n",
    );
    let bad_config = scratch("bad.toml", "provider = \"gcp\"\n");
    let bad_json = scratch("bad.json", "{nope");
    let t = bad_topology.to_str().unwrap();
    let c = bad_config.to_str().unwrap();
    let j = bad_json.to_str().unwrap();
    refused_by_clap(
        &["publish", "orders", "--type", "T", "--data", "{}"],
        &["destination 'orders' is not 'topic:NAME' or 'queue:NAME'"],
    );
    refused(
        &["publish", "topic:orders", "--type", "T", "--data", "{bad"],
        "event data from --data is not valid JSON",
    );
    refused(
        &["publish", "topic:orders", "--type", "T", "--file", j],
        "is not valid JSON",
    );
    refused(
        &[
            "publish",
            "topic:orders",
            "--type",
            "T",
            "--file",
            "/nonexistent/data.json",
        ],
        "cannot read --file '/nonexistent/data.json'",
    );
    refused_by_clap(
        &[
            "publish",
            "topic:orders",
            "--type",
            "T",
            "--data",
            "{}",
            "--attr",
            "novalue",
        ],
        &["'novalue' is not KEY=VALUE", "--attr <KEY=VALUE>"],
    );
    refused(
        &["publish", "topic:nope", "--type", "T", "--data", "{}"],
        "not found: topic 'nope'",
    );
    refused_by_clap(
        &["receive", "subscription:orders"],
        &["source 'subscription:orders' is not"],
    );
    refused_by_clap(
        &["receive", "queue:q", "--wait", "18446744073709551615"],
        &["--wait", "is not in 0..=86400"],
    );
    refused(
        &["receive", "queue:orders-inventory", "--wait", "0"],
        "queue:orders-inventory is the queue behind subscription:orders/inventory",
    );
    refused(
        &["receive", "queue:nope", "--wait", "0"],
        "not found: queue 'nope'",
    );
    refused(
        &["--topology", "/nonexistent/topology.yaml", "provision"],
        "cannot read topology file '/nonexistent/topology.yaml'",
    );
    refused(
        &["--topology", t, "provision"],
        "subscriptions[0] (order/inv): unknown topic 'order'",
    );
    refused(&["--config", c, "demo"], "unknown variant `gcp`");
    refused(
        &["--config", "/nonexistent/courier.toml", "demo"],
        "cannot read config file '/nonexistent/courier.toml'",
    );
    refused(
        &["--provider", "gcp", "demo"],
        "provider 'gcp' is not one of memory, aws, azure",
    );
    refused(
        &["--provider", "azure", "demo"],
        "provider 'azure' needs a connection string",
    );
    refused_by_clap(&["frobnicate"], &["unrecognized subcommand 'frobnicate'"]);
    refused_by_clap(
        &["publish", "topic:orders"],
        &[
            "the following required arguments were not provided",
            "--type <TYPE>",
        ],
    );
    refused_by_clap(
        &["receive", "queue:q", "--max-messages", "3"],
        &["unexpected argument '--max-messages'", "similar", "--max"],
    );
}

#[test]
fn provision_prints_what_it_created() {
    let out = courier(&["--topology", "topology.yaml", "provision"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("topic")
            && stdout.contains("orders/inventory")
            && stdout.contains("created"),
        "{stdout}"
    );
}

#[test]
fn a_misspelled_variable_is_refused_not_run_on_memory() {
    let out = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["demo"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("COURIER_PROVIDER")
        .env("COURIER_PROVDER", "aws")
        .output()
        .expect("courier runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown environment variable COURIER_PROVDER")
            && stderr.contains("COURIER_PROVIDER"),
        "{stderr}"
    );
}

#[test]
fn dead_letter_commands_answer_and_purge_needs_yes() {
    refused(
        &["dlq", "purge", "subscription:orders/inventory"],
        "add --yes to confirm",
    );
    let out = courier(&["dlq", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("subscription:orders/inventory") && stdout.contains("messages"),
        "{stdout}"
    );
    let out = courier(&["stats"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("in flight"),
        "{stdout}"
    );
    let out = courier(&["dlq", "peek", "subscription:orders/inventory"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("0 message(s) in subscription:orders/inventory (dead-letter queue)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn lambda_run_refuses_a_timeout_lambda_would_not_accept_without_panicking() {
    let bin = scratch("bootstrap", "#!/bin/sh\nexit 1\n");
    let bin = bin.to_str().unwrap();
    for timeout in ["18446744073709551615", "901", "0"] {
        refused(
            &[
                "lambda",
                "run",
                "--bin",
                bin,
                "--source",
                "queue:q",
                "--timeout",
                timeout,
            ],
            "is outside 1 s..=900 s (Lambda's range)",
        );
    }
}
