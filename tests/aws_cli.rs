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

/// Prints a command line and its output, as the README's "Operating" section shows them.
fn session(step: &str, args: &[&str]) -> String {
    let out = ok(&courier(args));
    println!("$ courier {}  # {step}\n{out}", args.join(" "));
    out
}

/// An operator's session: a consumer dead-letters an order, the operator lists the
/// dead-letter queues, peeks at the reason, fixes the cause, redrives, and checks the
/// depths: the message is back on its subscription only. (Run with --nocapture to see
/// the session; the README's "Operating" section is one such run.)
#[test]
fn operator_session_dead_letter_peek_redrive_stats() {
    let topic = format!("ops-{:08x}", fastrand::u32(..));
    let topology = std::env::temp_dir().join(format!("{topic}.yaml"));
    std::fs::write(
        &topology,
        format!(
            "topics: [{{name: {topic}}}]\nsubscriptions:\n  - {{topic: {topic}, name: inventory, max_receive_count: 5}}\n  - {{topic: {topic}, name: shipping}}\n"
        ),
    )
    .unwrap();
    let t = topology.to_str().unwrap();
    let (inventory, shipping) = (
        format!("subscription:{topic}/inventory"),
        format!("subscription:{topic}/shipping"),
    );
    ok(&courier(&["--topology", t, "provision"]));
    let order = r#"{"order_id":"order-2001","customer_email":"ana@example.com","shipping_city":"Porto","items":[{"sku":"MUG-GREEN","quantity":2,"unit_price_cents":1200}],"total_cents":2400}"#;
    let id = session(
        "an order for a product the inventory does not know yet",
        &[
            "publish",
            &format!("topic:{topic}"),
            "--type",
            "OrderCreated",
            "--data",
            order,
        ],
    );
    let id = id.trim();

    // The real inventory function (its Lambda bootstrap) dead-letters it: unknown SKU.
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_courier")).with_file_name("inventory");
    assert!(
        bootstrap.is_file(),
        "{} is built with the workspace",
        bootstrap.display()
    );
    let ran = session(
        "the inventory function handles it",
        &[
            "lambda",
            "run",
            "--bin",
            bootstrap.to_str().unwrap(),
            "--source",
            &inventory,
            "--idle-exit",
            "3",
        ],
    );
    assert!(ran.contains("1 record(s)"), "{ran}");

    let list = session("what is stuck?", &["--topology", t, "dlq", "list"]);
    let line_of = |text: &str, source: &str| {
        text.lines()
            .find(|l| l.starts_with(source))
            .unwrap_or_else(|| panic!("no line for {source} in:\n{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(line_of(&list, &inventory)[1], "1", "{list}");
    assert_eq!(line_of(&list, &shipping)[1], "0", "{list}");

    let peeked = session("why?", &["dlq", "peek", &inventory]);
    assert!(
        peeked.contains(id) && peeked.contains("unknown SKU MUG-GREEN in order-2001"),
        "{peeked}"
    );
    let again = session(
        "peeking leaves it there",
        &["dlq", "peek", &inventory, "--json"],
    );
    let again: serde_json::Value = serde_json::from_str(again.lines().next().unwrap()).unwrap();
    assert_eq!(again["event_id"], id);
    assert_eq!(again["event_type"], "OrderCreated");

    // The fix (MUG-GREEN added to the catalogue) is deployed; the order goes back.
    let refused = courier(&["dlq", "purge", &inventory]);
    assert!(!refused.status.success(), "purge needs --yes");
    let moved = session("put it back", &["dlq", "redrive", &inventory]);
    assert!(
        moved.contains("moved 1 message(s) back to") && moved.contains("StartMessageMoveTask"),
        "{moved}"
    );

    let stats = session("is anything falling behind?", &["--topology", t, "stats"]);
    let (inv, ship) = (line_of(&stats, &inventory), line_of(&stats, &shipping));
    assert_eq!(
        (inv[1].as_str(), inv[4].as_str()),
        ("1", "0"),
        "back on inventory, dead-letter queue empty:\n{stats}"
    );
    assert_eq!(
        ship[1], "1",
        "shipping still has its own copy only, not a second one:\n{stats}"
    );

    let back = session(
        "the inventory's next delivery",
        &["receive", &inventory, "--json", "--wait", "5"],
    );
    let back: serde_json::Value = serde_json::from_str(back.lines().next().unwrap()).unwrap();
    assert_eq!(back["id"], id, "same event id");
    // AWS gives a moved message a new message id and a fresh receive count ("All
    // redriven messages are considered new messages", Learn how to configure a
    // dead-letter queue redrive in Amazon SQS); LocalStack 4.14 keeps both, so the count
    // is not checked here.
    assert_eq!(back["dead_letter_reason"], serde_json::Value::Null);
    let body: serde_json::Value = serde_json::from_str(back["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::from_str::<serde_json::Value>(order).unwrap(),
        "data unchanged"
    );
    let _ = std::fs::remove_file(&topology);
}

/// `courier reply-queues clean` keeps reply queues whose requester is alive, and refuses
/// an idle time that live requesters' heartbeats would not outrun.
#[test]
fn reply_queues_clean_keeps_live_ones_and_refuses_short_idle_times() {
    let refused = courier(&["reply-queues", "clean", "--idle-minutes", "1"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("--idle-minutes must be more than 1"), "{why}");

    // A requester waiting for a reply nobody sends: its reply queue is alive.
    let desk = format!("desk-{:08x}", fastrand::u32(..));
    let topology = std::env::temp_dir().join(format!("{desk}.yaml"));
    std::fs::write(&topology, format!("queues: [{{name: {desk}}}]\n")).unwrap();
    ok(&courier(&[
        "--topology",
        topology.to_str().unwrap(),
        "provision",
    ]));
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args([
            "--provider",
            "aws",
            "request",
            &format!("queue:{desk}"),
            "--type",
            "Ask",
            "--timeout",
            "60",
        ])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let request = loop {
        let got = ok(&courier(&[
            "receive",
            &format!("queue:{desk}"),
            "--json",
            "--wait",
            "5",
            "--no-ack",
        ]));
        if let Some(line) = got.lines().next() {
            break serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    };
    let reply_to = request["reply_to"].as_str().map(str::to_owned);
    let swept = ok(&courier(&["reply-queues", "clean", "--idle-minutes", "10"]));
    waiting.kill().unwrap(); // SIGKILL: its queue is left behind, for a later clean-up
    let _ = waiting.wait();
    let _ = std::fs::remove_file(&topology);
    let reply_to =
        reply_to.unwrap_or_else(|| panic!("the request names its reply queue: {request}"));
    assert!(swept.contains(&format!("alive    {reply_to}")), "{swept}");
    assert!(!swept.contains(&format!("deleted  {reply_to}")), "{swept}");
}
