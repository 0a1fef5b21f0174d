//! The transactional outbox: an order and its `OrderPlaced` event are written in one
//! PostgreSQL transaction, so that both exist or neither does; a relay publishes what was
//! committed. A checkout rolled back after its insert never publishes. Needs
//! `COURIER_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); the broker
//! is the configured one (memory by default, where the relay and the reader share it).
//! `cargo run --example outbox`
use std::time::Duration;

use courier::postgres::{error as pg, Database, Outbox, Relay};
use courier::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderPlaced {
    order_id: String,
}
courier::event_type!(OrderPlaced);

#[tokio::main]
async fn main() -> courier::Result<()> {
    let config = Config::load(None)?;
    let url = config.postgres.url.as_ref().ok_or_else(|| {
        Error::invalid_config("the outbox needs PostgreSQL: set COURIER_POSTGRES_URL")
    })?;
    let db = Database::from_secret(url)?;
    courier::postgres::migrate(&db).await?; // the outbox table, once
    let broker = connect(&config).await?;
    broker
        .provision(&Topology::builder().queue("order-events").build()?)
        .await?;

    let mut client = db.connect().await?;
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS example_orders (id text PRIMARY KEY)")
        .await
        .map_err(pg)?;
    let run = uuid_like();
    for (n, commit) in [(1, true), (2, false)] {
        let order_id = format!("{run}-{n}");
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("INSERT INTO example_orders (id) VALUES ($1)", &[&order_id])
            .await
            .map_err(pg)?;
        let placed = Event::from(OrderPlaced { order_id });
        Outbox::enqueue(&tx, &Destination::queue("order-events"), &placed).await?;
        if commit {
            tx.commit().await.map_err(pg)?;
        } else {
            tx.rollback().await.map_err(pg)?; // no order, no event
        }
    }

    let relay = Relay::new(db, broker.clone())
        .drain(std::future::pending())
        .await?;
    println!("relay: {relay}");
    for d in broker
        .receive(&Source::queue("order-events"), 10, Duration::from_secs(2))
        .await?
    {
        let placed: Event<OrderPlaced> = d.event()?;
        let ours = placed.data.order_id.starts_with(&run);
        println!(
            "published: {}{}",
            placed.data.order_id,
            if ours { "" } else { " (an earlier run)" }
        );
        d.ack().await?;
    }
    Ok(())
}

/// This run's prefix for order ids (the table outlives the run).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("order-{nanos:x}")
}
