//! Orders per second written with the outbox vs plain inserts vs insert-then-publish,
//! and the relay's throughput vs `publish_batch` directly — side by side in one run, on a
//! real PostgreSQL (`COURIER_TEST_POSTGRES_URL`) and LocalStack SQS (`AWS_ENDPOINT_URL`).
//!
//! The outbox is also measured with its `NOTIFY` trigger disabled, to show what the relay's
//! wake-up costs the writers.
//!
//! `cargo bench -p courier-postgres --bench outbox -- [ORDERS] [ROUNDS] [WRITERS]`
//! (default 2000 orders, 2 interleaved rounds, 8 concurrent writers; medians reported).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_aws::AwsBroker;
use courier_core::config::AwsConfig;
use courier_core::{Broker, Destination, Event, Message, Publisher, PublisherExt, Topology};
use courier_postgres::{Outbox, Relay, RelayConfig};

#[derive(Clone, Copy, PartialEq)]
enum Write {
    Plain,
    Outbox,
    /// The outbox with its NOTIFY trigger disabled: what the relay's wake-up costs.
    OutboxQuiet,
    ThenPublish,
}

fn order_event(id: i64) -> Event<serde_json::Value> {
    Event::new(
        "/bench",
        "OrderCreated",
        serde_json::json!({"order_id": id, "customer": format!("c-{}", id % 100), "total_cents": 1250}),
    )
}

/// Writes `orders` orders with `writers` concurrent connections; returns orders/s.
async fn write(
    t: &common::TestDb,
    broker: &Arc<AwsBroker>,
    queue: &Destination,
    how: Write,
    first_id: i64,
    orders: i64,
    writers: i64,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (db, broker, queue) = (t.db.clone(), broker.clone(), queue.clone());
            tokio::spawn(async move {
                let mut client = db.connect().await.unwrap();
                let mut id = first_id + w;
                while id < first_id + orders {
                    let event = order_event(id);
                    let tx = client.transaction().await.unwrap();
                    tx.execute(
                        "INSERT INTO bench_orders (id, customer, total_cents) VALUES ($1, $2, 1250)",
                        &[&id, &format!("c-{}", id % 100)],
                    )
                    .await
                    .unwrap();
                    if matches!(how, Write::Outbox | Write::OutboxQuiet) {
                        Outbox::enqueue(&tx, &queue, &event).await.unwrap();
                    }
                    tx.commit().await.unwrap();
                    if how == Write::ThenPublish {
                        broker.publish_event(&queue, &event).await.unwrap();
                    }
                    id += writers;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    orders as f64 / started.elapsed().as_secs_f64()
}

/// Publishes `n` messages with `publish_batch` in batches of `batch`; returns msgs/s.
async fn direct(
    broker: &AwsBroker,
    queue: &Destination,
    first_id: i64,
    n: i64,
    batch: usize,
) -> f64 {
    let messages: Vec<Message> = (first_id..first_id + n)
        .map(|id| order_event(id).to_message().unwrap())
        .collect();
    let started = Instant::now();
    for chunk in messages.chunks(batch) {
        for r in broker.publish_batch(queue, chunk.to_vec()).await.unwrap() {
            r.unwrap();
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize, default: i64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (orders, rounds, writers) = (arg(0, 2000), arg(1, 2), arg(2, 8));
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL (LocalStack) is not set: ./localstack/start.sh");
    let broker = Arc::new(
        AwsBroker::connect(&AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint),
            ..AwsConfig::default()
        })
        .await
        .unwrap(),
    );
    let name = format!("bench-outbox-{:x}", fastrand::u32(..));
    broker
        .provision(&Topology::from_yaml(&format!("queues:\n  - name: {name}\n"), "bench").unwrap())
        .await
        .unwrap();
    let queue = Destination::queue(&name);
    let t = common::TestDb::migrated().await;
    t.client()
        .await
        .batch_execute(
            "CREATE TABLE bench_orders (id bigint PRIMARY KEY, customer text NOT NULL,
             total_cents bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    let batch = RelayConfig::default().batch_size;
    let (mut plain, mut outbox, mut quiet, mut then_publish, mut relay, mut publish) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut next_id = 0;
    for _ in 0..rounds {
        for (how, out) in [
            (Write::Plain, &mut plain),
            (Write::Outbox, &mut outbox),
            (Write::OutboxQuiet, &mut quiet),
            (Write::ThenPublish, &mut then_publish),
        ] {
            let trigger = if how == Write::OutboxQuiet {
                "DISABLE"
            } else {
                "ENABLE"
            };
            t.client()
                .await
                .batch_execute(&format!(
                    "ALTER TABLE courier.outbox {trigger} TRIGGER outbox_notify"
                ))
                .await
                .unwrap();
            out.push(write(&t, &broker, &queue, how, next_id, orders, writers).await);
            next_id += orders;
        }
        // The two outbox variants left `2 * orders` rows pending: drain them.
        let started = Instant::now();
        let report = Relay::new(t.db.clone(), broker.clone())
            .config(RelayConfig {
                poll_interval: Duration::from_millis(10),
                ..RelayConfig::default()
            })
            .drain(std::future::pending())
            .await
            .unwrap();
        assert_eq!(report.published, 2 * orders as u64, "{report}");
        relay.push(2.0 * orders as f64 / started.elapsed().as_secs_f64());
        publish.push(direct(&broker, &queue, next_id, orders, batch).await);
        next_id += orders;
    }
    let (plain, outbox, quiet) = (median(plain), median(outbox), median(quiet));
    let then_publish = median(then_publish);
    let (relay, publish) = (median(relay), median(publish));
    println!("{orders} orders x {rounds} rounds, {writers} writers, PostgreSQL + LocalStack SQS (medians)");
    println!();
    println!("| writing an order | orders/s | vs plain insert |");
    println!("| --- | ---: | ---: |");
    println!("| plain insert (no event) | {plain:.0} | 1.00 |");
    println!(
        "| insert + outbox row, one transaction | {outbox:.0} | {:.2} |",
        outbox / plain
    );
    println!(
        "| the same without the NOTIFY trigger (relay polls) | {quiet:.0} | {:.2} |",
        quiet / plain
    );
    println!(
        "| insert, commit, then publish to SQS | {then_publish:.0} | {:.2} |",
        then_publish / plain
    );
    println!();
    println!("| publishing | msgs/s | vs publish_batch |");
    println!("| --- | ---: | ---: |");
    println!("| `publish_batch` directly (batches of {batch}) | {publish:.0} | 1.00 |");
    println!(
        "| relay draining the outbox (batches of {batch}) | {relay:.0} | {:.2} |",
        relay / publish
    );
    t.drop().await;
}
