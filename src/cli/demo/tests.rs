use std::sync::Mutex;

use super::*;
use courier::MemoryBroker;

#[tokio::test]
async fn the_fan_out_reaches_every_service_and_poison_lands_in_dead_letter_queues() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let log: Log = Arc::new(move |l| sink.lock().unwrap().push(l));
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let outcomes = run(broker, &Topology::example(), &DemoOptions::default(), log)
        .await
        .unwrap();
    let by = |s: &str| outcomes.iter().find(|o| o.service == s).unwrap();

    let inv = by("inventory");
    assert_eq!(
        (inv.report.acked, inv.report.dead_lettered),
        (4, 2),
        "{}",
        inv.report
    );
    assert_eq!(inv.dead_letters.len(), 2);
    assert!(
        inv.dead_letters
            .iter()
            .any(|(id, r)| id == "order-1004"
                && r == "permanent: unknown SKU GHOST-42 in order-1004"),
        "{:?}",
        inv.dead_letters
    );
    assert!(
        inv.dead_letters
            .iter()
            .any(|(_, r)| r.starts_with("permanent: cannot decode message")),
        "{:?}",
        inv.dead_letters
    );

    let pay = by("payment");
    assert_eq!(
        (
            pay.report.acked,
            pay.report.retried,
            pay.report.dead_lettered
        ),
        (5, 1, 1),
        "{}",
        pay.report
    );
    for s in ["shipping", "notification"] {
        assert_eq!(
            (by(s).report.acked, by(s).report.dead_lettered),
            (5, 1),
            "{s}"
        );
    }
    let lines = lines.lock().unwrap();
    assert!(lines
        .iter()
        .any(|l| l.contains("gateway timeout for order-1002")));
    assert!(lines
        .iter()
        .any(|l| l.contains("authorised 29.00 EUR for order-1002 (attempt 2)")));
    assert!(
        !lines.iter().any(|l| l.contains("customer-order-1001@")),
        "emails are masked"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "request ReserveStock 2 x MUG-RED -> StockReserved (98 left)"),
        "the warehouse answered the request: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(
            "request ReserveStock 1 x SHIRT-M -> no reply within 2s: the desk is closed (Error::Timeout)"
        )),
        "the unanswered request timed out: {lines:?}"
    );
}

#[tokio::test]
async fn a_topology_without_the_demo_entities_is_refused_by_name() {
    let t = Topology::from_yaml(
        "topics: [{name: orders}]\nsubscriptions: [{topic: orders, name: inventory}]",
        "t.yaml",
    )
    .unwrap();
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let err = run(broker, &t, &DemoOptions::default(), Arc::new(|_| {}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("subscription 'orders/payment'")
            && err.contains("orders/notification")
            && err.contains("queue 'inventory-requests'"),
        "{err}"
    );
}

/// The summary the CLI prints comes from courier's metrics; it must agree with what the
/// workers counted themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_summary_agrees_with_the_workers_counters() {
    use courier::otlp::{Options, Providers};
    use courier::telemetry::Instrumented;

    let providers = Providers::new(None, Options { summary: true }).unwrap();
    let telemetry = providers.telemetry().expect("a summary records").clone();
    let broker: Arc<dyn Broker> = Arc::new(Instrumented::new(
        Arc::new(MemoryBroker::new()),
        telemetry.clone(),
    ));
    let options = DemoOptions {
        telemetry: Some(telemetry),
        ..DemoOptions::default()
    };
    let log: Log = Arc::new(|_| {});
    let outcomes = run(broker, &Topology::example(), &options, log)
        .await
        .unwrap();
    let summary = providers.summary().await.unwrap().unwrap();
    for o in &outcomes {
        let s = &summary[&format!("{TOPIC}/{}", o.service)];
        let r = &o.report;
        assert_eq!(
            (
                s.consumed,
                s.outcome("ack"),
                s.outcome("retry"),
                s.outcome("dead_letter"),
                s.outcome("duplicate")
            ),
            (
                r.received,
                r.acked,
                r.retried,
                r.dead_lettered,
                r.duplicates
            ),
            "{}: metrics say {s}, the worker {r}",
            o.service
        );
        assert_eq!(s.settled("ack"), r.acked + r.duplicates, "{}", o.service);
        assert_eq!(s.settled("dead_letter"), r.dead_lettered, "{}", o.service);
    }
    providers.shutdown().await.unwrap();
}
