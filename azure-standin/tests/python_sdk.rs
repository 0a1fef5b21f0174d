//! Microsoft's own Service Bus SDK for Python (`azure-servicebus`, pinned in
//! `tests/sdk/requirements.txt`) manages entities on the stand-in: `tests/sdk/test_admin.py`
//! creates, gets, updates, lists and deletes queues, topics, subscriptions and rules with
//! `ServiceBusAdministrationClient`, and every answer must deserialize into its models.
//!
//! The interpreter is `COURIER_TEST_SDK_PYTHON`, else `.tools/venv/bin/python` at the
//! workspace root (what `scripts/test.sh` installs). Without it the test fails: it never
//! passes by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use courier_azure_standin::StandIn;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("COURIER_TEST_SDK_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python")
}

#[tokio::test(flavor = "multi_thread")]
async fn microsofts_python_sdk_manages_entities_on_the_stand_in() {
    let python = python();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    let probe = Command::new(&python)
        .args(["-c", "import azure.servicebus.management"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import azure-servicebus: run ./scripts/test.sh, or `{0} -m pip install -r {}` (or set COURIER_TEST_SDK_PYTHON): {probe:?}",
        python.display(),
        dir.join("requirements.txt").display()
    );
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the stand-in starts");
    let connection_string = standin.connection_string().expose().to_owned();
    let endpoint = standin.endpoint();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(dir.join("test_admin.py"))
            .env("COURIER_SB_CONNECTION_STRING", connection_string)
            .env("COURIER_SB_ENDPOINT", endpoint)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The figures, for the report.
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "azure-servicebus against the stand-in failed:\n{stderr}\n{stdout}"
    );
    assert!(stdout.contains("SDK operations checked"), "{stdout}");
}
