//! `courier outbox …` and `courier demo --outbox` against a real PostgreSQL
//! (`COURIER_TEST_POSTGRES_URL`) and, for the relay, real LocalStack; both started by
//! ./scripts/test.sh. Without them these tests fail, never skip.
#![cfg(all(feature = "postgres", feature = "aws"))]

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use courier::aws::AwsBroker;
use courier::config::AwsConfig;
use courier::postgres::tokio_postgres::NoTls;
use courier::postgres::{Database, Outbox};
use courier::{Broker, Consumer, Destination, Message, Source, Topology};

/// A fresh database on the test server; returns its URL.
async fn database() -> String {
    let admin = std::env::var("COURIER_TEST_POSTGRES_URL")
        .expect("COURIER_TEST_POSTGRES_URL is not set: run ./scripts/test.sh");
    let (client, connection) = courier::postgres::tokio_postgres::connect(&admin, NoTls)
        .await
        .expect("the test PostgreSQL server answers");
    tokio::spawn(connection);
    let name = format!("courier_cli_{:x}", fastrand::u64(..));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    // The test server's URL is postgres://user@host:port/db (scripts/postgres.sh).
    let base = admin.rsplit_once('/').expect("a URL with a database").0;
    format!("{base}/{name}")
}

fn localstack() -> String {
    std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("COURIER_TEST_LOCALSTACK_URL is not set: run ./scripts/test.sh")
}

fn courier(url: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_courier"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env_remove("COURIER_POSTGRES_URL");
    if let Some(url) = url {
        c.env("COURIER_POSTGRES_URL", url);
    }
    c
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn migrate_applies_once_and_a_missing_url_is_one_clear_line() {
    let url = database().await;
    let first = ok(&courier(Some(&url))
        .args(["outbox", "migrate"])
        .output()
        .unwrap());
    assert!(first.contains("applied migration 1 (outbox)"), "{first}");
    assert!(first.contains("applied migration 2 (inbox)"), "{first}");
    let again = ok(&courier(Some(&url))
        .args(["outbox", "migrate"])
        .output()
        .unwrap());
    assert!(again.contains("courier schema up to date"), "{again}");

    let out = courier(None).args(["outbox", "relay"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set COURIER_POSTGRES_URL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let secret = url
        .replace("postgres@", "postgres:hunter2@")
        .replace(":5", ":1");
    let out = courier(Some(&secret))
        .args(["outbox", "migrate"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn demo_outbox_publishes_committed_orders_only() {
    let url = database().await;
    let stdout = ok(&courier(Some(&url))
        .args(["demo", "--outbox"])
        .output()
        .unwrap());
    for expected in [
        "order-1006: the card was declined after the insert; transaction rolled back",
        "relay: 6 published",
        "0 pending in the outbox",
        "orders/inventory     order-1004: permanent: unknown SKU GHOST-42 in order-1004",
        "authorised 29.00 EUR for order-1002 (attempt 2)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("reserved 1 x MUG-RED for order-1006"),
        "{stdout}"
    );
}

/// The real `courier outbox relay` on LocalStack, SIGKILLed at random and restarted until
/// it drains: every committed message reaches the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_cli_relay_loses_nothing_on_localstack() {
    const MESSAGES: usize = 600;
    let url = database().await;
    let db = Database::from_url(&url).unwrap();
    courier::postgres::migrate(&db).await.unwrap();
    let queue = format!("outbox-cli-{:x}", fastrand::u32(..));
    let topology = Topology::from_yaml(&format!("queues:\n  - name: {queue}\n"), "t.yaml").unwrap();
    let broker = AwsBroker::connect(&AwsConfig {
        region: Some("us-east-1".into()),
        endpoint_url: Some(localstack()),
        ..AwsConfig::default()
    })
    .await
    .unwrap();
    broker.provision(&topology).await.unwrap();
    let mut client = db.connect().await.unwrap();
    let tx = client.transaction().await.unwrap();
    for i in 0..MESSAGES {
        Outbox::enqueue_message(
            &tx,
            &Destination::queue(&queue),
            &Message::new(format!("m{i}")),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let mut kills = 0;
    for round in 0.. {
        assert!(round < 200, "the relay did not drain the outbox");
        let mut relay = courier(Some(&url))
            .env("AWS_ENDPOINT_URL", localstack())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .args([
                "--provider",
                "aws",
                "outbox",
                "relay",
                "--until-empty",
                "--batch-size",
                "20",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..400))).await;
        if let Some(status) = relay.try_wait().unwrap() {
            assert!(status.success(), "the relay failed: {status}");
            break;
        }
        relay.kill().unwrap(); // SIGKILL
        relay.wait().unwrap();
        kills += 1;
    }
    let mut seen: HashMap<String, u32> = HashMap::new();
    let source = Source::queue(&queue);
    loop {
        let batch = broker
            .receive(&source, 10, Duration::from_secs(1))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            *seen
                .entry(d.message().body_str().unwrap().to_owned())
                .or_default() += 1;
            d.ack().await.unwrap();
        }
    }
    let missing: Vec<usize> = (0..MESSAGES)
        .filter(|i| !seen.contains_key(&format!("m{i}")))
        .collect();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!("CLI relay on LocalStack: {MESSAGES} messages, {kills} SIGKILLs, {} missing, {duplicates} duplicates", missing.len());
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(
        kills > 0,
        "never killed: the relay finished before the first kill"
    );
    assert!(
        duplicates <= kills * 20,
        "{duplicates} duplicates for {kills} kills"
    );
}

#[tokio::test]
async fn the_relay_refuses_the_in_memory_provider_and_leaves_the_rows_pending() {
    let url = database().await;
    ok(&courier(Some(&url))
        .args(["outbox", "migrate"])
        .output()
        .unwrap());
    let db = Database::from_url(&url).unwrap();
    let mut client = db.connect().await.unwrap();
    let tx = client.transaction().await.unwrap();
    Outbox::enqueue_message(&tx, &Destination::queue("audit"), &Message::new("{}"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let out = courier(Some(&url))
        .args(["--provider", "memory", "outbox", "relay", "--until-empty"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("provider 'memory'"),
        "{err}"
    );
    let pending: i64 = client
        .query_one(
            "SELECT count(*) FROM courier.outbox WHERE sent_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 1, "nothing was marked sent");
}

/// `target/<profile>/examples/NAME`, beside this test's own binary in `deps/`.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

#[tokio::test]
async fn the_outbox_example_publishes_only_what_was_committed() {
    let url = database().await;
    let out = Command::new(example("outbox"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("COURIER_PROVIDER")
        .env("COURIER_POSTGRES_URL", &url)
        .output()
        .expect("the example runs (cargo test builds it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("relay: "), "{stdout}");
    let published: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("published: "))
        .collect();
    assert_eq!(published.len(), 1, "only the committed order: {stdout}");
    assert!(published[0].ends_with("-1"), "{stdout}");
    let out = Command::new(example("outbox"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("COURIER_PROVIDER")
        .env_remove("COURIER_POSTGRES_URL")
        .output()
        .expect("the example runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("COURIER_POSTGRES_URL"),
        "a missing URL is named: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
