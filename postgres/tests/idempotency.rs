//! The PostgreSQL idempotency store (inbox) against a real PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestDb;
use courier_core::worker::{
    handler_fn, Claim, Context, HandlerError, IdempotencyKey, IdempotencyStore, Outcome, Pipeline,
    Router,
};
use courier_core::{Event, Source};
use courier_postgres::{key_for, InboxRecord, PostgresIdempotencyStore};

fn key(sub: &str, id: &str) -> IdempotencyKey {
    IdempotencyKey::new(sub, "/shop", id)
}

#[tokio::test]
async fn claims_complete_release_and_expire() {
    let t = TestDb::migrated().await;
    let s = PostgresIdempotencyStore::new(t.db.clone()).retention(Duration::from_secs(1));
    let lease = Duration::from_secs(30);
    let k = key("subscription:orders/inventory", "e1");
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Acquired);
    match s.claim(&k, lease).await.unwrap() {
        Claim::InProgress {
            retry_after: Some(d),
        } => {
            assert!(d > Duration::from_secs(25) && d <= lease, "{d:?}")
        }
        other => panic!("{other:?}"),
    }
    s.release(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Acquired,
        "released"
    );
    s.complete(&k).await.unwrap();
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Completed);
    s.release(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Completed,
        "release never undoes a completion"
    );
    // Another consumer, another source: other events.
    assert_eq!(
        s.claim(&key("subscription:orders/payment", "e1"), lease)
            .await
            .unwrap(),
        Claim::Acquired
    );
    let other_source = IdempotencyKey::new("subscription:orders/inventory", "/billing", "e1");
    assert_eq!(
        s.claim(&other_source, lease).await.unwrap(),
        Claim::Acquired
    );
    s.complete(&other_source).await.unwrap();
    // A lease that ran out (the holder died) can be claimed again.
    let short = key("queue:audit", "e2");
    assert_eq!(
        s.claim(&short, Duration::from_millis(200)).await.unwrap(),
        Claim::Acquired
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        s.claim(&short, lease).await.unwrap(),
        Claim::Acquired,
        "lease over"
    );
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Acquired,
        "past retention"
    );
    assert_eq!(
        s.purge_expired().await.unwrap(),
        1,
        "only the completed /billing key is past its retention; held keys are not"
    );
    t.drop().await;
}

#[tokio::test]
async fn handled_commits_with_the_handlers_writes_or_not_at_all() {
    let t = TestDb::migrated().await;
    let s = PostgresIdempotencyStore::new(t.db.clone());
    let mut client = t.client().await;
    client
        .batch_execute("CREATE TABLE reserved (event_id text)")
        .await
        .unwrap();
    let k = key("subscription:orders/inventory", "e1");
    let lease = Duration::from_secs(30);

    // Crash before commit: neither the effect nor the record exists.
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Acquired);
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO reserved VALUES ('e1')", &[])
        .await
        .unwrap();
    assert_eq!(s.complete_in(&tx, &k).await.unwrap(), InboxRecord::Recorded);
    tx.rollback().await.unwrap();
    s.release(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Acquired,
        "not handled"
    );

    // Committed: both exist; a second handler of the same event finds it handled.
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO reserved VALUES ('e1')", &[])
        .await
        .unwrap();
    assert_eq!(s.complete_in(&tx, &k).await.unwrap(), InboxRecord::Recorded);
    tx.commit().await.unwrap();
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Completed);
    let tx = client.transaction().await.unwrap();
    assert_eq!(
        s.complete_in(&tx, &k).await.unwrap(),
        InboxRecord::AlreadyHandled
    );
    drop(tx);
    let effects: i64 = client
        .query_one("SELECT count(*) FROM reserved", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(effects, 1);
    t.drop().await;
}

#[tokio::test]
async fn concurrent_handlers_of_one_event_commit_once() {
    let t = TestDb::migrated().await;
    let s = Arc::new(PostgresIdempotencyStore::new(t.db.clone()));
    let k = key("queue:audit", "e1");
    let mut first = t.client().await;
    let mut second = t.client().await;
    let tx1 = first.transaction().await.unwrap();
    assert_eq!(
        s.complete_in(&tx1, &k).await.unwrap(),
        InboxRecord::Recorded
    );
    // The second waits for the first's transaction to end…
    let waiting = {
        let (s, k) = (s.clone(), k.clone());
        tokio::spawn(async move {
            let tx2 = second.transaction().await.unwrap();
            s.complete_in(&tx2, &k).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "blocked on the first handler's row");
    tx1.commit().await.unwrap();
    // …then finds the event handled.
    assert_eq!(waiting.await.unwrap(), InboxRecord::AlreadyHandled);
    t.drop().await;
}

/// The pipeline and a handler that records "handled" in its transaction: a redelivered
/// event is acknowledged as a duplicate, and its effect exists once.
#[tokio::test]
async fn the_pipeline_with_a_transactional_handler_has_effects_once() {
    let t = TestDb::migrated().await;
    let store = Arc::new(PostgresIdempotencyStore::new(t.db.clone()));
    t.client()
        .await
        .batch_execute("CREATE TABLE reserved (key text)")
        .await
        .unwrap();
    let (db, handler_store) = (t.db.clone(), store.clone());
    let router = Router::new().handle(
        "OrderCreated",
        handler_fn(move |event: Event<serde_json::Value>, ctx: Context| {
            let (db, store) = (db.clone(), handler_store.clone());
            async move {
                let mut client = db.connect().await.map_err(HandlerError::retry)?;
                let tx = client.transaction().await.map_err(HandlerError::retry)?;
                let key = key_for(&ctx, &event);
                tx.execute("INSERT INTO reserved VALUES ($1)", &[&key.to_string()])
                    .await
                    .map_err(HandlerError::retry)?;
                if store
                    .complete_in(&tx, &key)
                    .await
                    .map_err(HandlerError::retry)?
                    == InboxRecord::Recorded
                {
                    tx.commit().await.map_err(HandlerError::retry)?;
                }
                Ok(())
            }
        }),
    );
    let pipeline = Pipeline::new(router).idempotency(store.clone(), Duration::from_secs(30));
    let event = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    );
    let message = Arc::new(event.to_message().unwrap());
    let source = Source::subscription("orders", "inventory");
    let ctx = |n| Context::new(source.clone(), n, &format!("m-{n}"), message.clone());
    assert_eq!(pipeline.process(ctx(1)).await, Outcome::Ack);
    assert_eq!(pipeline.process(ctx(2)).await, Outcome::Duplicate);
    let rows: Vec<String> = t
        .client()
        .await
        .query("SELECT key FROM reserved", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The key the handler computed is the one the pipeline claimed.
    let claimed = IdempotencyKey::new(source.to_string(), "/shop", &event.id);
    assert_eq!(rows, [claimed.to_string()]);
    assert_eq!(
        store.claim(&claimed, Duration::from_secs(1)).await.unwrap(),
        Claim::Completed
    );
    t.drop().await;
}

#[tokio::test]
async fn the_store_reconnects_after_losing_its_connection() {
    let t = TestDb::migrated().await;
    let s = PostgresIdempotencyStore::new(t.db.clone());
    let k = key("queue:audit", "e1");
    s.complete(&k).await.unwrap();
    t.client()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lease = Duration::from_secs(5);
    let first = s.claim(&k, lease).await;
    // The call that finds the connection cut fails as transient; the next reconnects.
    if let Err(e) = &first {
        assert!(e.is_transient(), "{e:?}");
    }
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Completed);
    t.drop().await;
}
