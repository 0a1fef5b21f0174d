//! The child process of the outbox crash tests (`tests/crash.rs`; feature `crash-test`).
//! The test kills it with SIGKILL at random moments, and it kills itself between
//! publishing a batch and marking it sent, to hit that window on purpose.
//!
//! - `outbox-crash-child write URL N`: orders 1..=N, resuming after the highest committed
//!   one; each order is its business row plus its `OrderPlaced` event in one transaction;
//!   every order whose number ends in 3 is rolled back instead of committed.
//! - `outbox-crash-child relay URL PER_MILLE`: a relay publishing into the table
//!   `crash_published` (a durable stand-in broker: one autocommitted insert per
//!   `publish_batch`); after a publish it SIGKILLs itself with probability PER_MILLE/1000,
//!   before the relay can mark the batch sent.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::{Destination, Event, Message, Publisher, Result};
use courier_postgres::{Database, Outbox, Relay, RelayConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: outbox-crash-child write URL N | relay URL PER_MILLE";
    let (mode, url, n) = match args.as_slice() {
        [_, mode, url, n] => (mode.as_str(), url, n.parse::<i64>()?),
        _ => return Err(usage.into()),
    };
    let db = Database::from_url(url)?;
    match mode {
        "write" => write(&db, n).await,
        "relay" => relay(db, u32::try_from(n)?).await,
        _ => Err(usage.into()),
    }
}

async fn write(db: &Database, orders: i64) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut client = db.connect().await?;
    let last: i64 = client
        .query_one("SELECT COALESCE(max(id), 0) FROM crash_orders", &[])
        .await?
        .get(0);
    let topic = Destination::topic("orders");
    for id in last + 1..=orders {
        let tx = client.transaction().await?;
        // A killed predecessor's COMMIT may land after this process read where to resume:
        // that order exists with its event already.
        let inserted = tx
            .execute(
                "INSERT INTO crash_orders (id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&id],
            )
            .await?;
        if inserted == 0 {
            continue;
        }
        let event = Event::new(
            "/crash",
            "OrderPlaced",
            serde_json::json!({ "order_id": id }),
        );
        let mut message = event.to_message()?;
        message.group_id = Some(format!("customer-{}", id % 16));
        Outbox::enqueue_message(&tx, &topic, &message).await?;
        if id % 10 == 3 {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    }
    Ok(())
}

/// A broker whose publish is an autocommitted insert, and which may die right after it.
struct TableBroker {
    client: tokio_postgres::Client,
    kill_per_mille: u32,
}

#[async_trait]
impl Publisher for TableBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        let mut r = self.publish_batch(destination, vec![message]).await?;
        r.remove(0)
    }

    async fn publish_batch(
        &self,
        _destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        let mut ids = Vec::new();
        let mut keys = Vec::new();
        for m in &messages {
            let event: Event<serde_json::Value> = Event::from_message(m)?;
            ids.push(event.data["order_id"].as_i64().unwrap_or(-1));
            keys.push(m.group_id.clone().unwrap_or_default());
        }
        self.client
            .execute(
                "INSERT INTO crash_published (order_id, ordering_key)
                 SELECT * FROM unnest($1::bigint[], $2::text[])",
                &[&ids, &keys],
            )
            .await
            .map_err(courier_postgres::error)?;
        if fastrand::u32(0..1000) < self.kill_per_mille {
            // Published, not yet marked sent: die here, as abruptly as a power cut.
            eprintln!("crash-child: SIGKILL between publish and mark-sent");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(60));
        }
        Ok(ids.iter().map(|id| Ok(format!("order-{id}"))).collect())
    }
}

async fn relay(
    db: Database,
    kill_per_mille: u32,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let broker = Arc::new(TableBroker {
        client: db.connect().await?,
        kill_per_mille,
    });
    let config = RelayConfig {
        batch_size: 50,
        poll_interval: Duration::from_millis(50),
        ..RelayConfig::default()
    };
    Relay::new(db, broker)
        .config(config)
        .run(std::future::pending())
        .await?;
    Ok(())
}
