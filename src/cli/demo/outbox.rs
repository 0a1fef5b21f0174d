//! `courier demo --outbox`: the same fan-out, but durable. Each order is written to
//! PostgreSQL together with its `OrderCreated` event in one transaction (the
//! transactional outbox); a relay publishes the committed events; the services remember
//! what they handled in PostgreSQL (the durable idempotency store). One checkout fails
//! after its insert and is rolled back: its event never exists.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use courier::postgres::{Database, Outbox, PostgresIdempotencyStore, Relay, RelayReport};
use tokio::sync::oneshot;

use super::{check_topology, consume, orders, DemoOptions, ServiceOutcome, TOPIC};
use courier::{Broker, Destination, Error, Event, Result, Topology};
use courier_shop::{Log, OrderCreated, ORDER_CREATED};

/// What the outbox demo did.
#[derive(Debug, Clone)]
pub(crate) struct OutboxDemo {
    /// This run's id (the orders of a run are stored under it).
    pub(crate) run_id: String,
    /// The services, as in the plain demo.
    pub(crate) services: Vec<ServiceOutcome>,
    /// The relay's counters.
    pub(crate) relay: RelayReport,
    /// Outbox rows still pending after the run (0 when all went well).
    pub(crate) pending: i64,
}

const ORDERS_TABLE: &str = "CREATE TABLE IF NOT EXISTS demo_orders (
    run_id       text        NOT NULL,
    order_id     text        NOT NULL,
    total_cents  bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, order_id))";

/// Runs the outbox demo: orders and events into `db`, published through `broker`.
pub(crate) async fn run(
    broker: Arc<dyn Broker>,
    topology: &Topology,
    db: Database,
    options: &DemoOptions,
    log: Log,
) -> Result<OutboxDemo> {
    check_topology(topology)?;
    broker.provision(topology).await?;
    let applied = courier::postgres::migrate(&db).await?;
    log(format!(
        "PostgreSQL {db}: courier schema ready ({} migration(s) applied now)",
        applied.len()
    ));
    let run_id = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default()
    );
    let ours = write_orders(&db, &run_id, &log).await?;
    let expected = u64::try_from(ours.len()).unwrap_or(u64::MAX);

    let relay = Relay::new(db.clone(), broker.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let relaying = tokio::spawn(async move {
        relay
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let store = Arc::new(PostgresIdempotencyStore::new(db.clone()));
    let services = consume(broker, expected, &ours, store, options, log.clone()).await;
    let _ = stop.send(());
    let relay = relaying.await.map_err(|e| Error::Backend {
        message: "the outbox relay panicked".into(),
        source: Some(Box::new(e)),
    })??;
    let services = services?;
    let client = db.connect().await?;
    let pending: i64 = client
        .query_one(
            "SELECT count(*) FROM courier.outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            &[],
        )
        .await
        .map_err(courier::postgres::error)?
        .get(0);
    Ok(OutboxDemo {
        run_id,
        services,
        relay,
        pending,
    })
}

/// Saves the orders with their events (and one rolled-back checkout); returns the ids of
/// the messages each service will receive.
async fn write_orders(db: &Database, run_id: &str, log: &Log) -> Result<HashSet<String>> {
    let pg = courier::postgres::error;
    let mut client = db.connect().await?;
    client.batch_execute(ORDERS_TABLE).await.map_err(pg)?;
    let topic = Destination::topic(TOPIC);
    let declined = OrderCreated::new("order-1006", "MUG-RED", 1, 1250);
    let mut ours = HashSet::new();
    for order in orders().into_iter().chain([declined]) {
        let tx = client.transaction().await.map_err(pg)?;
        let total = i64::try_from(order.total_cents).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO demo_orders (run_id, order_id, total_cents) VALUES ($1, $2, $3)",
            &[&run_id, &order.order_id, &total],
        )
        .await
        .map_err(pg)?;
        let id = order.order_id.clone();
        let event = Event::new("/shop/checkout", ORDER_CREATED, order).with_subject(id.clone());
        Outbox::enqueue(&tx, &topic, &event).await?;
        let event_id = event.id.clone();
        if id == "order-1006" {
            tx.rollback().await.map_err(pg)?;
            log(format!(
                "{id}: the card was declined after the insert; transaction rolled back — no order, no event"
            ));
        } else {
            tx.commit().await.map_err(pg)?;
            ours.insert(event_id);
            log(format!(
                "{id}: saved with its OrderCreated in one transaction"
            ));
        }
    }
    let mut malformed = Event::new("/shop/legacy-import", ORDER_CREATED, ()).to_message()?;
    ours.extend(malformed.message_id.clone());
    malformed.body = br#"{"order_id": "order-1007", "items": "#.to_vec();
    let tx = client.transaction().await.map_err(pg)?;
    Outbox::enqueue_message(&tx, &topic, &malformed).await?;
    tx.commit().await.map_err(pg)?;
    log("a legacy import wrote a malformed OrderCreated (truncated JSON body)".to_owned());
    Ok(ours)
}
