//! courier-postgres: the durable parts of courier on PostgreSQL.
//!
//! - **Transactional outbox** ([`Outbox`], [`Relay`]): an integration event is written
//!   into `courier.outbox` inside the application's own transaction, so it exists exactly
//!   when the business change does; a relay publishes pending rows through any
//!   [`Publisher`](courier_core::Publisher) with `publish_batch`, in order per ordering key,
//!   marks them sent, and survives restarts (a relay killed mid-batch publishes that batch
//!   again: at least once, never lost).
//! - **Durable idempotency** ([`PostgresIdempotencyStore`]): the
//!   [`IdempotencyStore`](courier_core::worker::IdempotencyStore) the worker and the Lambda
//!   adapter use, plus [`PostgresIdempotencyStore::complete_in`] to record "handled" in the
//!   handler's own transaction, so its effects and the deduplication commit together.
//! - **Migrations** ([`migrate`]): the schema `courier`, versioned, shipped with the crate.
//!
//! It runs on [`tokio_postgres`] (re-exported): the plain async driver, no pool and no
//! macros. Connections are made without TLS; a URL asking for `sslmode=require` is refused
//! with an error that says so.
//!
//! ```no_run
//! use courier_core::{Destination, Event};
//! use courier_postgres::{Database, Outbox};
//!
//! # async fn example() -> courier_core::Result<()> {
//! let db = Database::from_url("postgres://app@127.0.0.1:5432/shop")?;
//! courier_postgres::migrate(&db).await?;
//! let mut client = db.connect().await?;
//! let tx = client.transaction().await.map_err(courier_postgres::error)?;
//! tx.execute("INSERT INTO orders (id) VALUES ($1)", &[&"order-1"]).await.map_err(courier_postgres::error)?;
//! let event = Event::new("/shop", "OrderCreated", serde_json::json!({"order_id": "order-1"}));
//! Outbox::enqueue(&tx, &Destination::topic("orders"), &event).await?;
//! tx.commit().await.map_err(courier_postgres::error)?; // the event exists from here on
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod database;
mod error;
mod idempotency;
mod migrate;
pub mod outbox;

pub use database::Database;
pub use error::error;
pub use idempotency::{key_for, InboxRecord, PostgresIdempotencyStore};
pub use migrate::{migrate, Migration, MIGRATIONS};
pub use outbox::{Outbox, Relay, RelayConfig, RelayReport, RelayStats};
pub use tokio_postgres;
