//! courier's telemetry exported for real: OTLP over HTTP with protobuf bodies, received
//! by a plain HTTP reader in this test (`support/otlp_receiver.rs`) and decoded with
//! `opentelemetry-proto`.
//!
//! One test in this binary: it sets the process's `OTEL_*` variables.

mod support;

use std::sync::Arc;
use std::time::Duration;

use courier_core::telemetry::Instrumented;
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, MemoryBroker, PublisherExt, Source, Topology};
use courier_otlp::{Options, Providers};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::otlp_receiver::{attribute, metric, metrics, receiver, spans};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_receiver_as_the_conventions_name_them() {
    let (url, received) = receiver().await;
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &url);
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    std::env::set_var("OTEL_SERVICE_NAME", "courier-otlp-test");
    let providers = Providers::from_env(Options { summary: true }).unwrap();
    assert!(providers.exports());
    let telemetry = providers.telemetry().expect("recording").clone();

    let memory = Arc::new(
        MemoryBroker::with_topology(&Topology::example())
            .await
            .unwrap(),
    );
    let broker: Arc<dyn Broker> = Arc::new(Instrumented::new(memory, telemetry.clone()));
    let good = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"sku": "MUG-RED"}),
    );
    let bad = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"sku": "GHOST-42"}),
    );
    for e in [&good, &bad] {
        broker
            .publish_event(&Destination::topic("orders"), e)
            .await
            .unwrap();
    }
    let report = Worker::new(broker.clone(), Source::subscription("orders", "inventory"))
        .handle(
            "OrderCreated",
            handler_fn(|e: Event<serde_json::Value>, _ctx| async move {
                match e.data["sku"].as_str() {
                    Some("GHOST-42") => Err(HandlerError::permanent("unknown SKU")),
                    _ => Ok(()),
                }
            }),
        )
        .telemetry(telemetry)
        .run_until_idle(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!((report.acked, report.dead_lettered), (1, 1));

    // The summary is read from the same metrics, and agrees with the worker's counters.
    let summary = providers.summary().await.unwrap().expect("asked for");
    let inventory = &summary["orders/inventory"];
    assert_eq!(inventory.consumed, report.received);
    assert_eq!(inventory.outcome("ack"), report.acked);
    assert_eq!(inventory.outcome("dead_letter"), report.dead_lettered);
    assert_eq!(inventory.settled("dead_letter"), report.dead_lettered);
    assert_eq!(
        inventory.to_string(),
        "received 2, acked 1, retried 0, dead-lettered 1, duplicates 0"
    );
    providers.shutdown().await.unwrap();

    let (spans, resource) = spans(&received);
    assert_eq!(
        attribute(&resource, "service.name").as_deref(),
        Some("courier-otlp-test")
    );
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let publish = named("publish orders");
    assert_eq!(
        publish.len(),
        2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for p in &publish {
        assert_eq!(p.kind, SpanKind::Producer as i32);
        assert_eq!(
            attribute(&p.attributes, "messaging.system").as_deref(),
            Some("courier.memory")
        );
        assert_eq!(
            attribute(&p.attributes, "messaging.destination.name").as_deref(),
            Some("orders")
        );
        assert_eq!(
            attribute(&p.attributes, "messaging.operation.type").as_deref(),
            Some("send")
        );
        assert!(attribute(&p.attributes, "messaging.message.id").is_some());
    }
    let receive = named("receive orders/inventory");
    assert!(!receive.is_empty());
    assert!(receive.iter().all(|r| r.kind == SpanKind::Client as i32));
    let process = named("process orders/inventory");
    assert_eq!(process.len(), 2);
    for p in &process {
        assert_eq!(p.kind, SpanKind::Consumer as i32);
        assert_eq!(
            attribute(&p.attributes, "messaging.destination.subscription.name").as_deref(),
            Some("inventory")
        );
        assert_eq!(
            attribute(&p.attributes, "messaging.operation.type").as_deref(),
            Some("process")
        );
        // The producer→consumer link, from the message's traceparent.
        let link = &p.links[0];
        let producer = publish
            .iter()
            .find(|s| s.span_id == link.span_id)
            .expect("linked to a publish span");
        assert_eq!(producer.trace_id, link.trace_id);
        let event_id = attribute(&p.attributes, "cloudevents.event_id").unwrap();
        assert!(event_id == good.id || event_id == bad.id);
    }
    let failed = process
        .iter()
        .find(|p| attribute(&p.attributes, "courier.outcome").as_deref() == Some("dead_letter"))
        .unwrap();
    assert_eq!(
        attribute(&failed.attributes, "error.type").as_deref(),
        Some("handler_permanent")
    );
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(2),
        "STATUS_CODE_ERROR"
    );
    assert_eq!(named("ack orders/inventory").len(), 1);
    assert_eq!(named("dead_letter orders/inventory").len(), 1);
    assert!(named("ack orders/inventory")[0].kind == SpanKind::Client as i32);

    let all = metrics(&received);
    let sub = "messaging.destination.subscription.name=inventory";
    assert_eq!(
        metric(
            &all,
            "messaging.client.sent.messages",
            &["messaging.destination.name=orders"]
        ),
        2
    );
    assert_eq!(
        metric(&all, "messaging.client.consumed.messages", &[sub]),
        2
    );
    assert_eq!(metric(&all, "messaging.process.duration", &[sub]), 2);
    assert_eq!(
        metric(
            &all,
            "courier.message.outcomes",
            &[sub, "courier.outcome=ack"]
        ),
        1
    );
    assert_eq!(
        metric(
            &all,
            "courier.message.outcomes",
            &[
                sub,
                "courier.outcome=dead_letter",
                "error.type=handler_permanent"
            ]
        ),
        1
    );
    assert_eq!(
        metric(
            &all,
            "messaging.client.operation.duration",
            &[sub, "messaging.operation.name=ack"]
        ),
        1
    );
    assert_eq!(metric(&all, "courier.message.lag", &[sub]), 2);
}
