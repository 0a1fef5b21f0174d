//! `courier demo`: the e-commerce fan-out end to end on any broker.
//!
//! `OrderCreated` events go to the `orders` topic once; the inventory, payment, shipping
//! and notification services each consume their own subscription as a [`Worker`]. One
//! order names an unknown SKU (inventory rejects it for good), one order's payment times
//! out once (retried, then authorised), and one message is malformed (every service
//! dead-letters it with the decode error). Then each dead-letter queue is read back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use courier::event::attr;
use courier::worker::{Backoff, IdempotencyStore, MemoryIdempotencyStore, Worker, WorkerReport};
use courier::{Broker, Destination, Error, Event, PublisherExt, Result, Source, Topology};
pub(crate) use courier_shop as shop;
use shop::{Inventory, Log, Notification, OrderCreated, Payment, Shipping, ORDER_CREATED};

/// The topic the demo publishes to.
pub(crate) const TOPIC: &str = "orders";
/// The subscriptions the demo consumes, one per service.
pub(crate) const SERVICES: [&str; 4] = ["inventory", "payment", "shipping", "notification"];

/// What happened to one service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceOutcome {
    /// The subscription's name.
    pub(crate) service: String,
    /// The worker's counters.
    pub(crate) report: WorkerReport,
    /// What its dead-letter queue held afterwards: (event id or message id, reason).
    pub(crate) dead_letters: Vec<(String, String)>,
}

/// Options of a demo run.
#[derive(Debug, Clone)]
pub(crate) struct DemoOptions {
    /// Leave dead-lettered messages in their queues (default: read and remove them).
    pub(crate) keep_dead_letters: bool,
    /// How long to wait for the services to finish.
    pub(crate) timeout: Duration,
    /// What the workers record through (process spans, outcomes), if anything.
    pub(crate) telemetry: Option<courier::telemetry::Telemetry>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            keep_dead_letters: false,
            timeout: Duration::from_secs(120),
            telemetry: None,
        }
    }
}

pub(crate) fn check_topology(topology: &Topology) -> Result<()> {
    let missing: Vec<String> = std::iter::once(TOPIC.to_owned())
        .filter(|t| topology.topic(t).is_none())
        .map(|t| format!("topic '{t}'"))
        .chain(
            std::iter::once(request::REQUESTS)
                .filter(|q| !topology.queues.iter().any(|spec| spec.name == *q))
                .map(|q| format!("queue '{q}'")),
        )
        .chain(
            SERVICES
                .iter()
                .filter(|s| {
                    !topology
                        .subscriptions
                        .iter()
                        .any(|sub| sub.topic == TOPIC && sub.name == **s)
                })
                .map(|s| format!("subscription '{TOPIC}/{s}'")),
        )
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_topology(format!(
            "the demo needs {} in the topology",
            missing.join(", ")
        )))
    }
}

/// The demo's orders: one names an unknown SKU, one's payment times out once.
pub(crate) fn orders() -> [OrderCreated; 5] {
    [
        OrderCreated::new("order-1001", "MUG-RED", 2, 1250),
        OrderCreated::new("order-1002", "SHIRT-M", 1, 2900),
        OrderCreated::new("order-1003", "MUG-BLUE", 3, 1250),
        OrderCreated::new("order-1004", "GHOST-42", 1, 999),
        OrderCreated::new("order-1005", "MUG-RED", 1, 1250),
    ]
}

/// Runs the demo on `broker`, reporting each step through `log`.
pub(crate) async fn run(
    broker: Arc<dyn Broker>,
    topology: &Topology,
    options: &DemoOptions,
    log: Log,
) -> Result<Vec<ServiceOutcome>> {
    check_topology(topology)?;
    let report = broker.provision(topology).await?;
    log(format!(
        "provisioned on {}: {} created, {} unchanged",
        broker.name(),
        report.count(&courier::ProvisionAction::Created),
        report.count(&courier::ProvisionAction::Unchanged)
    ));

    let orders = orders();
    let events: Vec<Event<OrderCreated>> = orders
        .iter()
        .map(|o| {
            Event::new("/shop/checkout", ORDER_CREATED, o.clone()).with_subject(o.order_id.clone())
        })
        .collect();
    let topic = Destination::topic(TOPIC);
    for (event, result) in events
        .iter()
        .zip(broker.publish_events(&topic, &events).await?)
    {
        result?;
        let o = &event.data;
        log(format!(
            "published OrderCreated {} ({} x {})",
            o.order_id, o.items[0].quantity, o.items[0].sku
        ));
    }
    let mut ours: HashSet<String> = events.iter().map(|e| e.id.clone()).collect();
    let mut malformed = Event::new("/shop/legacy-import", ORDER_CREATED, ()).to_message()?;
    ours.extend(malformed.message_id.clone());
    malformed.body = br#"{"order_id": "order-1006", "items": "#.to_vec();
    broker.publish(&topic, malformed).await?;
    log("published a malformed OrderCreated (truncated JSON body)".to_owned());
    let expected = u64::try_from(events.len()).unwrap_or(u64::MAX) + 1;
    consume(
        broker,
        expected,
        &ours,
        Arc::new(MemoryIdempotencyStore::default()),
        options,
        log,
    )
    .await
}

/// Runs the four services as workers until each has settled `expected` messages, then
/// reads from their dead-letter queues the messages of this run (`ours`: event ids).
pub(crate) async fn consume(
    broker: Arc<dyn Broker>,
    expected: u64,
    ours: &HashSet<String>,
    idempotency: Arc<dyn IdempotencyStore>,
    options: &DemoOptions,
    log: Log,
) -> Result<Vec<ServiceOutcome>> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running = Vec::new();
    for service in SERVICES {
        let source = Source::subscription(TOPIC, service);
        let mut worker = Worker::new(broker.clone(), source)
            .concurrency(4)
            .max_attempts(4)
            .poll_wait(Duration::from_secs(1))
            .backoff(Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
                jitter: true,
            })
            .idempotency(idempotency.clone());
        if let Some(t) = &options.telemetry {
            worker = worker.telemetry(t.clone());
        }
        let worker = match service {
            "inventory" => worker.handle(ORDER_CREATED, Inventory::new(log.clone())),
            "payment" => worker.handle(
                ORDER_CREATED,
                Payment {
                    flaky_orders: vec!["order-1002".into()],
                    log: log.clone(),
                },
            ),
            "shipping" => worker.handle(ORDER_CREATED, Shipping { log: log.clone() }),
            _ => worker.handle(ORDER_CREATED, Notification { log: log.clone() }),
        };
        let stats = worker.stats();
        let mut stop = stop_rx.clone();
        let task = tokio::spawn(worker.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
        running.push((service, stats, task));
    }

    // Done when every service has handled the orders it can and the rest has settled:
    // poison messages are then in dead-letter queues — put there by the worker, or, on
    // brokers that cannot dead-letter on request, by their max delivery count, which shows
    // as a moment in which nothing moves.
    let expected_ok = |service: &str| match service {
        "inventory" => expected - 2, // GHOST-42 is unknown to the warehouse
        _ => expected - 1,
    };
    let all_done = async {
        let mut last = Vec::new();
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let now: Vec<_> = running
                .iter()
                .map(|(_, stats, _)| stats.snapshot())
                .collect();
            if now != last {
                last.clone_from(&now);
                quiet_since = tokio::time::Instant::now();
            }
            let handled = running
                .iter()
                .zip(&now)
                .all(|((service, _, _), r)| r.acked >= expected_ok(service));
            let settled = now.iter().all(|r| r.finished() >= expected)
                || quiet_since.elapsed() >= Duration::from_millis(1500);
            if handled && settled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let finished = tokio::time::timeout(options.timeout, all_done)
        .await
        .is_ok();
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::new();
    for (service, _, task) in running {
        let report = task.await.map_err(|e| Error::Backend {
            message: format!("{service} worker panicked"),
            source: Some(Box::new(e)),
        })??;
        outcomes.push(ServiceOutcome {
            service: service.to_owned(),
            report,
            dead_letters: Vec::new(),
        });
    }
    if !finished {
        let progress: Vec<String> = outcomes
            .iter()
            .map(|o| format!("{}: {}", o.service, o.report))
            .collect();
        return Err(Error::transient(format!(
            "the services did not finish {expected} messages each within {:?} ({})",
            options.timeout,
            progress.join("; ")
        )));
    }
    for outcome in &mut outcomes {
        outcome.dead_letters =
            read_dead_letters(&*broker, &outcome.service, ours, options.keep_dead_letters).await?;
    }
    request::run(broker.clone(), log.clone()).await?;
    Ok(outcomes)
}

/// Reads what the demo put in a service's dead-letter queue: its own events only (a real
/// queue may hold others, which are left as they are), removed unless `keep`.
async fn read_dead_letters(
    broker: &dyn Broker,
    service: &str,
    ours: &HashSet<String>,
    keep: bool,
) -> Result<Vec<(String, String)>> {
    let dlq = Source::subscription(TOPIC, service).dead_letter();
    let mut out = Vec::new();
    let mut held = Vec::new();
    loop {
        let batch = broker.receive(&dlq, 10, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            break;
        }
        for d in batch {
            let m = d.message();
            let event_id = m.attributes.get(attr::ID).or(m.message_id.as_ref());
            if !event_id.is_some_and(|id| ours.contains(id)) {
                held.push(d); // not the demo's: released untouched below
                continue;
            }
            let id = m.attributes.get(attr::SUBJECT).or(event_id);
            let reason = m
                .attributes
                .get(attr::DEAD_LETTER_REASON)
                .cloned()
                .unwrap_or_else(|| "(no reason recorded)".into());
            out.push((
                id.cloned()
                    .unwrap_or_else(|| d.info().broker_message_id.clone()),
                reason,
            ));
            if keep {
                held.push(d); // released together below, so this loop does not see them again
            } else {
                d.ack().await?;
            }
        }
    }
    for d in held {
        d.nack(Duration::ZERO).await?;
    }
    out.sort();
    Ok(out)
}

mod request;

#[cfg(feature = "postgres")]
pub(crate) mod outbox;

#[cfg(test)]
mod tests;
