//! `courier --provider azure …` against the Service Bus REST stand-in, started with
//! `courier azure-standin` as a user would.
#![cfg(feature = "azure-standin")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

struct StandIn(Child);

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the stand-in on a free port; returns it with its endpoint and connection string.
fn standin() -> (StandIn, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["azure-standin", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("courier azure-standin starts");
    let stdout = child.stdout.take().unwrap();
    let (mut endpoint, mut conn) = (String::new(), String::new());
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(e) = line.strip_prefix("export COURIER_AZURE_ENDPOINT=") {
            endpoint = e.to_owned();
        }
        if let Some(c) = line.strip_prefix("export COURIER_AZURE_CONNECTION_STRING=") {
            conn = c.trim_matches('\'').to_owned();
            break;
        }
    }
    assert!(
        !endpoint.is_empty() && !conn.is_empty(),
        "the stand-in printed its settings"
    );
    (StandIn(child), endpoint, conn)
}

fn courier(endpoint: &str, conn: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["--provider", "azure"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("COURIER_AZURE_ENDPOINT", endpoint)
        .env("COURIER_AZURE_CONNECTION_STRING", conn)
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
fn demo_provision_publish_receive_on_the_stand_in() {
    let (_standin, endpoint, conn) = standin();
    let stdout = ok(&courier(&endpoint, &conn, &["demo", "--keep-dead-letters"]));
    for expected in [
        "provisioned on azure",
        "summary (azure provider, from courier's metrics):",
        "authorised 29.00 EUR for order-1002",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Service Bus REST cannot dead-letter on request: the worker releases permanent
    // failures and MaxDeliveryCount moves them; their reason is then Service Bus's.
    assert!(
        stdout.contains("orders/inventory     order-1004"),
        "the poison order reached the dead-letter queue:\n{stdout}"
    );

    let out = ok(&courier(
        &endpoint,
        &conn,
        &["--topology", "topology.yaml", "provision"],
    ));
    assert!(
        out.contains("orders/subscriptions/inventory") && out.contains("unchanged"),
        "{out}"
    );
    ok(&courier(
        &endpoint,
        &conn,
        &[
            "publish",
            "topic:orders",
            "--type",
            "OrderCreated",
            "--subject",
            "az-1",
            "--data",
            r#"{"order_id":"az-1"}"#,
        ],
    ));
    let lines = ok(&courier(
        &endpoint,
        &conn,
        &[
            "receive",
            "subscription:orders/payment",
            "--json",
            "--wait",
            "3",
        ],
    ));
    assert!(lines.contains("\"subject\":\"az-1\""), "{lines}");
    // Inventory's dead letters (the poison order and the malformed event) go back to
    // inventory alone: Service Bus sends them through the topic, addressed to inventory,
    // whose rule alone admits them.
    let moved = ok(&courier(
        &endpoint,
        &conn,
        &["dlq", "redrive", "subscription:orders/inventory"],
    ));
    assert!(
        moved.contains("moved 2 message(s)") && moved.contains("0 failed"),
        "{moved}"
    );
    let back = ok(&courier(
        &endpoint,
        &conn,
        &[
            "receive",
            "subscription:orders/inventory",
            "--json",
            "--wait",
            "3",
        ],
    ));
    assert!(back.contains("order-1004"), "{back}");
    for other in ["payment", "shipping", "notification"] {
        let seen = ok(&courier(
            &endpoint,
            &conn,
            &[
                "receive",
                &format!("subscription:orders/{other}"),
                "--json",
                "--wait",
                "1",
            ],
        ));
        assert!(
            !seen.contains("order-1004"),
            "{other} saw the redrive: {seen}"
        );
    }
    let wrong = conn.replace("SharedAccessKey=", "SharedAccessKey=AAAA");
    let out = courier(&endpoint, &wrong, &["receive", "queue:nope", "--wait", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("unauthorized"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&wrong[wrong.find("SharedAccessKey=").unwrap() + 16..]),
        "the key is not shown: {stderr}"
    );
}
