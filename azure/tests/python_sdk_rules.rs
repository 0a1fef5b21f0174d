//! Microsoft's Python SDK (`azure-servicebus`, pinned in
//! `azure-standin/tests/sdk/requirements.txt`) reads the rules courier provisions as
//! documented in the README: on every subscription one SQL rule, `courier-filter`, the
//! redrive address first, then the filter ("Subscription Rule SQL Filter Syntax").
//! Against the stand-in, or a real namespace with `COURIER_TEST_AZURE_CONNECTION_STRING`.
//!
//! The interpreter is `COURIER_TEST_SDK_PYTHON`, else `.tools/venv/bin/python` at the
//! workspace root (what `scripts/test.sh` installs); without it the test fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use courier_core::topology::{SubscriptionSpec, TopicSpec, Topology};
use support::backend;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("COURIER_TEST_SDK_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python")
}

#[tokio::test(flavor = "multi_thread")]
async fn microsofts_sdk_reads_the_rules_courier_provisions() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test.sh (or set COURIER_TEST_SDK_PYTHON)",
        python.display()
    );
    let b = backend().await;
    let topic = courier_core::conformance::unique("sdkrules");
    let mut inventory = SubscriptionSpec::new(&topic, "Inventory");
    inventory.filter = Some(
        serde_json::from_value(
            serde_json::json!({"type": ["OrderCreated"], "amount": [{"numeric": [">=", 100]}]}),
        )
        .unwrap(),
    );
    b.provisioned(Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![inventory, SubscriptionSpec::new(&topic, "audit")],
        ..Topology::default()
    })
    .await;
    // The text as the README documents it, written out rather than computed.
    let expected = serde_json::json!({
        format!("{topic}/Inventory"):
            "courier_to = 'inventory' OR (courier_to IS NULL AND ((courier_num_amount >= 100)) AND (ce_type = 'OrderCreated'))",
        format!("{topic}/audit"): "courier_to = 'audit' OR courier_to IS NULL",
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../azure-standin/tests/sdk");
    let mut command = Command::new(&python);
    command
        .arg(dir.join("check_rules.py"))
        .env("COURIER_SB_CONNECTION_STRING", b.connection_string())
        .env("COURIER_SB_EXPECTED_RULES", expected.to_string());
    if let Some(endpoint) = &b.endpoint {
        command.env("COURIER_SB_ENDPOINT", endpoint);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("python runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("problems: 0"),
        "azure-servicebus read other rules:\n{stderr}\n{stdout}"
    );
}
