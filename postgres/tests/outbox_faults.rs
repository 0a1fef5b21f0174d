//! The relay against what goes wrong around it: a slow broker, rows another writer broke.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{enqueue, quick, Recorder, TestDb};
use courier_core::Destination;
use courier_postgres::{Relay, RelayConfig};

/// One hot key, a broker that takes 300 ms per call (each within `publish_timeout`): a
/// batch of its rows is one round per row, 3 s in all, far past the session's
/// `idle_in_transaction_session_timeout` (1 s here). The relay must stop starting rounds
/// in time and mark what it published, not lose the session and publish the batch again
/// forever.
#[tokio::test]
async fn a_slow_broker_and_a_hot_key_make_progress_without_republishing() {
    let t = TestDb::migrated().await;
    let d = Destination::topic("orders");
    let bodies: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    enqueue(&t, &d, Some("hot"), &bodies).await;
    let mut recorder = Recorder::new();
    recorder.delay = Duration::from_millis(300);
    let publisher = Arc::new(recorder);
    let config = RelayConfig {
        publish_timeout: Duration::from_millis(400),
        ..quick()
    };
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(config);
    // A guard against the livelock, not a measure of speed: the drain needs ~3 s.
    let drained =
        tokio::time::timeout(Duration::from_secs(30), relay.drain(std::future::pending())).await;
    let published = publisher.bodies();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for b in &published {
        *times.entry(b.as_str()).or_default() += 1;
    }
    let report = drained.unwrap_or_else(|_| {
        panic!(
            "the relay did not drain 10 rows in 30 s; it published {} times: {times:?}",
            published.len()
        )
    });
    let report = report.unwrap();
    assert_eq!(report.published, 10, "{report}");
    // At-least-once allows a repeat, but at most one round's worth (one row of one key).
    assert!(
        published.len() <= bodies.len() + 1,
        "published {} times for {} rows: {times:?}",
        published.len(),
        bodies.len()
    );
    let first_times: Vec<&String> = {
        let mut seen = std::collections::HashSet::new();
        published.iter().filter(|b| seen.insert(*b)).collect()
    };
    assert_eq!(
        first_times,
        bodies.iter().collect::<Vec<_>>(),
        "in key order"
    );
    t.drop().await;
}

/// A row whose `attributes` another writer made something else than a map of strings
/// (`UPDATE courier.outbox SET attributes = …`) is given up on its own, with the reason;
/// the rows around it are published.
#[tokio::test]
async fn a_row_with_broken_attributes_is_given_up_alone() {
    let t = TestDb::migrated().await;
    let d = Destination::topic("orders");
    enqueue(&t, &d, None, &["before".into()]).await;
    let client = t.client().await;
    client
        .batch_execute(
            "INSERT INTO courier.outbox (destination, body, attributes)
             VALUES ('topic:orders', 'numbers', '{\"region\": \"eu\", \"n\": 1}'),
                    ('topic:orders', 'array', '[\"a\"]')",
        )
        .await
        .unwrap();
    enqueue(&t, &d, None, &["after".into()]).await;
    let publisher = Arc::new(Recorder::new());
    let relay = Relay::new(t.db.clone(), publisher.clone()).config(quick());
    let report = tokio::time::timeout(Duration::from_secs(30), relay.drain(std::future::pending()))
        .await
        .expect("the relay drains the outbox")
        .unwrap();
    assert_eq!(publisher.bodies(), ["before", "after"], "{report}");
    assert_eq!(report.gave_up, 2, "{report}");
    let failed: Vec<(String, Option<String>)> = client
        .query(
            "SELECT convert_from(body, 'UTF8'), last_error FROM courier.outbox
             WHERE failed_at IS NOT NULL ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let numbers = failed[0].1.as_deref().unwrap_or_default();
    assert!(
        failed[0].0 == "numbers" && numbers.contains("attributes") && numbers.contains("\"n\""),
        "{failed:?}"
    );
    let array = failed[1].1.as_deref().unwrap_or_default();
    assert!(
        failed[1].0 == "array" && array.contains("attributes") && array.contains("array"),
        "{failed:?}"
    );
    t.drop().await;
}
