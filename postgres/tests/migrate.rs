//! Migrations against a real PostgreSQL.

mod common;

use common::TestDb;
use courier_postgres::{migrate, MIGRATIONS};

#[tokio::test]
async fn migrations_apply_once_in_order_even_concurrently() {
    let t = TestDb::new().await;
    let (a, b) = tokio::join!(migrate(&t.db), migrate(&t.db));
    let mut applied = [a.unwrap(), b.unwrap()].concat();
    applied.sort_unstable();
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied, all, "each version applied exactly once");
    assert!(
        migrate(&t.db).await.unwrap().is_empty(),
        "nothing left to do"
    );
    let client = t.client().await;
    let recorded: Vec<i32> = client
        .query(
            "SELECT version FROM courier.schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, all);
    t.drop().await;
}

#[tokio::test]
async fn a_database_from_a_newer_or_different_courier_is_refused() {
    let t = TestDb::migrated().await;
    let client = t.client().await;
    client
        .execute(
            "INSERT INTO courier.schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')",
            &[],
        )
        .await
        .unwrap();
    let e = migrate(&t.db).await.unwrap_err().to_string();
    assert!(
        e.contains("migration 999 (future)") && e.contains("newer courier"),
        "{e}"
    );
    client
        .batch_execute(
            "DELETE FROM courier.schema_migrations WHERE version = 999;
             UPDATE courier.schema_migrations SET checksum = 'edited' WHERE version = 1",
        )
        .await
        .unwrap();
    let e = migrate(&t.db).await.unwrap_err().to_string();
    assert!(
        e.contains("migration 1 (outbox)") && e.contains("differs"),
        "{e}"
    );
    t.drop().await;
}

#[tokio::test]
async fn an_unmigrated_database_says_to_migrate() {
    let t = TestDb::new().await;
    let mut client = t.client().await;
    let tx = client.transaction().await.unwrap();
    let e = courier_postgres::Outbox::enqueue_message(
        &tx,
        &courier_core::Destination::topic("orders"),
        &courier_core::Message::new("x"),
    )
    .await
    .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(e.to_string().contains("courier outbox migrate"), "{e}");
    drop(tx);
    t.drop().await;
}
