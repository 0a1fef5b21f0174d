//! The outbox and its relay against a real PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{enqueue, quick, Recorder, TestDb};
use courier_core::worker::Backoff;
use courier_core::{
    ConsumerExt, Destination, Error, Event, MemoryBroker, Message, Source, Topology,
};
use courier_postgres::{Outbox, Relay, RelayConfig};

async fn count(t: &TestDb, condition: &str) -> i64 {
    t.client()
        .await
        .query_one(
            &format!("SELECT count(*) FROM courier.outbox WHERE {condition}"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn committed_events_are_published_whole_and_rolled_back_ones_never() {
    let t = TestDb::migrated().await;
    let topology = Topology::from_yaml(
        "queues:\n  - name: outbox-orders\n  - name: outbox-raw\n    fifo: true\n",
        "t.yaml",
    )
    .unwrap();
    let broker = Arc::new(MemoryBroker::with_topology(&topology).await.unwrap());
    let queue = Destination::queue("outbox-orders");
    let mut client = t.client().await;

    let committed = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    )
    .with_subject("o-1");
    let tx = client.transaction().await.unwrap();
    tx.execute("CREATE TABLE orders (id text PRIMARY KEY)", &[])
        .await
        .unwrap();
    tx.execute("INSERT INTO orders VALUES ('o-1')", &[])
        .await
        .unwrap();
    Outbox::enqueue(&tx, &queue, &committed).await.unwrap();
    tx.commit().await.unwrap();

    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO orders VALUES ('o-2')", &[])
        .await
        .unwrap();
    let rolled_back = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-2"}),
    );
    Outbox::enqueue(&tx, &queue, &rolled_back).await.unwrap();
    tx.rollback().await.unwrap();

    let raw = Message::new(vec![0u8, 159, 146, 150])
        .with_content_type("application/octet-stream")
        .with_attribute("region", "eu")
        .with_message_id("raw-1")
        .with_correlation_id("corr-1")
        .with_group_id("customer-7")
        .with_dedup_id("dedup-1")
        .with_reply_to("queue:replies")
        .with_time_to_live(Duration::from_secs(60));
    let fifo = Destination::queue("outbox-raw");
    let tx = client.transaction().await.unwrap();
    Outbox::enqueue_message(&tx, &fifo, &raw).await.unwrap();
    tx.commit().await.unwrap();

    let relay = Relay::new(t.db.clone(), broker.clone()).config(quick());
    let report = relay.drain(std::future::pending()).await.unwrap();
    assert_eq!(report.published, 2, "{report}");

    let source = Source::queue("outbox-orders");
    let first = broker
        .receive_one(&source, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let received: Event<serde_json::Value> = first.event().unwrap();
    assert_eq!(received.id, committed.id);
    assert_eq!(received.subject.as_deref(), Some("o-1"));
    assert_eq!(received.data, committed.data);
    let second = broker
        .receive_one(&Source::queue("outbox-raw"), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let m = second.message();
    assert_eq!(
        (
            &m.body,
            &m.content_type,
            &m.attributes,
            &m.message_id,
            &m.correlation_id
        ),
        (
            &raw.body,
            &raw.content_type,
            &raw.attributes,
            &raw.message_id,
            &raw.correlation_id
        )
    );
    assert_eq!(
        (&m.group_id, &m.dedup_id, &m.reply_to),
        (&raw.group_id, &raw.dedup_id, &raw.reply_to)
    );
    assert!(
        broker
            .receive_one(&source, Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "nothing for the rolled-back order"
    );
    assert_eq!(count(&t, "sent_at IS NOT NULL").await, 2);
    assert_eq!(
        count(&t, "true").await,
        2,
        "the rolled-back row never existed"
    );
    t.drop().await;
}

#[tokio::test]
async fn rows_of_one_key_are_published_in_order_across_failures() {
    let t = TestDb::migrated().await;
    let d = Destination::topic("orders");
    // Interleave three keys and unordered rows, each key's rows numbered in order.
    for i in 0..6 {
        for key in ["a", "b", "c"] {
            enqueue(&t, &d, Some(key), &[format!("{key}{i}")]).await;
        }
        enqueue(&t, &d, None, &[format!("n{i}")]).await;
    }
    // a1 and b3 fail twice (transiently), n2 once.
    let publisher = Arc::new(Recorder::failing(|m, offered| {
        let body = String::from_utf8_lossy(&m.body).into_owned();
        let limit = match body.as_str() {
            "a1" | "b3" => 2,
            "n2" => 1,
            _ => 0,
        };
        (offered < limit).then(|| Error::transient(format!("{body} refused")))
    }));
    let config = RelayConfig {
        batch_size: 7,
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    let report = relay.drain(std::future::pending()).await.unwrap();
    assert_eq!(report.published, 24, "{report}");
    assert_eq!(report.retried, 5, "{report}");
    let bodies = publisher.bodies();
    assert_eq!(bodies.len(), 24, "each row once: {bodies:?}");
    for key in ["a", "b", "c", "n"] {
        let of_key: Vec<&String> = bodies.iter().filter(|b| b.starts_with(key)).collect();
        let expected: Vec<String> = (0..6).map(|i| format!("{key}{i}")).collect();
        if key == "n" {
            let mut sorted = of_key.clone();
            sorted.sort();
            assert_eq!(sorted, expected.iter().collect::<Vec<_>>());
        } else {
            assert_eq!(
                of_key,
                expected.iter().collect::<Vec<_>>(),
                "key {key} in order"
            );
        }
    }
    t.drop().await;
}

#[tokio::test]
async fn several_relays_publish_every_row_once() {
    let t = TestDb::migrated().await;
    let d = Destination::queue("q");
    let bodies: Vec<String> = (0..400).map(|i| format!("m{i:03}")).collect();
    enqueue(&t, &d, None, &bodies).await;
    let mut recorder = Recorder::new();
    recorder.delay = Duration::from_millis(5); // batches overlap in time
    let publisher = Arc::new(recorder);
    let config = RelayConfig {
        batch_size: 10,
        ..quick()
    };
    let relays: Vec<Relay> = (0..3)
        .map(|_| Relay::new(t.db.clone(), publisher.clone()).config(config.clone()))
        .collect();
    let reports =
        futures_util::future::join_all(relays.iter().map(|r| r.drain(std::future::pending())))
            .await;
    let per_relay: Vec<u64> = reports
        .iter()
        .map(|r| r.as_ref().unwrap().published)
        .collect();
    assert_eq!(per_relay.iter().sum::<u64>(), 400, "{per_relay:?}");
    assert!(
        per_relay.iter().filter(|n| **n > 0).count() >= 2,
        "they shared the work: {per_relay:?}"
    );
    let mut published = publisher.bodies();
    published.sort();
    assert_eq!(published, bodies, "every row exactly once");
    t.drop().await;
}

#[tokio::test]
async fn a_notification_wakes_an_idle_relay() {
    let t = TestDb::migrated().await;
    let publisher = Arc::new(Recorder::new());
    let config = RelayConfig {
        poll_interval: Duration::from_secs(3600),
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    let stats = relay.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running =
        tokio::spawn(async move { relay.run(async { stopped.await.unwrap_or(()) }).await });
    // Let it connect, find nothing and go to sleep for its hour.
    tokio::time::sleep(Duration::from_millis(500)).await;
    enqueue(&t, &Destination::topic("orders"), None, &["woken".into()]).await;
    // Without the notification nothing would happen for an hour.
    tokio::time::timeout(Duration::from_secs(20), async {
        while stats.snapshot().published == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the NOTIFY woke the relay");
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.published, 1);
    assert_eq!(publisher.bodies(), ["woken"]);
    t.drop().await;
}

#[tokio::test]
async fn without_listen_the_relay_polls_and_survives_a_lost_connection() {
    let t = TestDb::migrated().await;
    let publisher = Arc::new(Recorder::new());
    let config = RelayConfig {
        listen: false,
        poll_interval: Duration::from_millis(100),
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    let stats = relay.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running =
        tokio::spawn(async move { relay.run(async { stopped.await.unwrap_or(()) }).await });
    let d = Destination::topic("orders");
    enqueue(&t, &d, None, &["first".into()]).await;
    let wait_for = |n: u64| {
        let stats = stats.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(20), async {
                while stats.snapshot().published < n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
        }
    };
    wait_for(1).await.expect("polled");
    // Cut the relay's connection from the server side.
    let killed: i64 = t
        .client()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1);
    enqueue(&t, &d, None, &["second".into()]).await;
    wait_for(2).await.expect("reconnected and published");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(publisher.bodies(), ["first", "second"]);
    t.drop().await;
}

#[tokio::test]
async fn permanent_failures_are_given_up_and_kept_and_sent_rows_cleaned() {
    let t = TestDb::migrated().await;
    let d = Destination::topic("orders");
    enqueue(
        &t,
        &d,
        Some("k"),
        &["k0".into(), "poison".into(), "k2".into()],
    )
    .await;
    let publisher = Arc::new(Recorder::failing(|m, _| {
        (m.body == b"poison").then(|| Error::invalid_input("the broker refuses this one"))
    }));
    let config = RelayConfig {
        max_attempts: 3,
        retention: Duration::ZERO,
        cleanup_interval: Duration::ZERO,
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    let report = relay.drain(std::future::pending()).await.unwrap();
    assert_eq!(
        (report.published, report.retried, report.gave_up),
        (2, 2, 1),
        "{report}"
    );
    assert_eq!(
        publisher.bodies(),
        ["k0", "k2"],
        "the key moves on once the poison row is given up"
    );
    let row = t
        .client()
        .await
        .query_one(
            "SELECT attempts, last_error, failed_at IS NOT NULL FROM courier.outbox WHERE body = 'poison'",
            &[],
        )
        .await
        .unwrap();
    let (attempts, error, failed): (i32, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((attempts, failed), (3, true));
    assert!(error.contains("the broker refuses this one"), "{error}");
    assert!(report.cleaned >= 1, "{report}");
    assert_eq!(
        count(&t, "sent_at IS NOT NULL").await,
        0,
        "sent rows past retention deleted"
    );
    assert_eq!(count(&t, "true").await, 1, "the given-up row is kept");
    t.drop().await;
}

#[tokio::test]
async fn a_hung_broker_times_out_and_the_batch_is_retried() {
    let t = TestDb::migrated().await;
    enqueue(&t, &Destination::topic("orders"), None, &["slow".into()]).await;
    let mut recorder = Recorder::new();
    recorder.delay = Duration::from_millis(400);
    let publisher = Arc::new(recorder);
    let config = RelayConfig {
        publish_timeout: Duration::from_millis(100),
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    let run = relay.run(tokio::time::sleep(Duration::from_millis(600)));
    let report = run.await.unwrap();
    assert!(report.retried >= 1, "{report}");
    let error: String = t
        .client()
        .await
        .query_one("SELECT last_error FROM courier.outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        error.contains("timed out: publish_batch of 1 outbox messages"),
        "{error}"
    );
    t.drop().await;
}

#[tokio::test]
async fn rows_behind_a_key_that_backs_off_are_not_starved() {
    let t = TestDb::migrated().await;
    let d = Destination::topic("orders");
    // "a0" fails and backs off for an hour; more than a batch of "a" rows wait behind it.
    let stuck: Vec<String> = (0..150).map(|i| format!("a{i}")).collect();
    enqueue(&t, &d, Some("a"), &stuck).await;
    enqueue(&t, &d, None, &["free".into()]).await;
    enqueue(&t, &d, Some("b"), &["b0".into()]).await;
    let publisher = Arc::new(Recorder::failing(|m, _| {
        (m.body == b"a0").then(|| Error::transient("a0 refused"))
    }));
    let config = RelayConfig {
        batch_size: 100,
        backoff: Backoff {
            base: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
            jitter: false,
        },
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    relay
        .run(tokio::time::sleep(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(
        publisher.bodies(),
        ["free", "b0"],
        "a1.. wait for a0; the rest goes out"
    );
    t.drop().await;
}
