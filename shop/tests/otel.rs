//! A real `bootstrap` (the inventory function, built with the feature `otel`) under the
//! event-source runner exports its telemetry over OTLP/HTTP when the standard variables
//! are set, flushed before it answers each invocation; the receiver in this test decodes
//! it (`otlp/tests/support/otlp_receiver.rs`). The memory broker feeds it: no server.

#[path = "../../otlp/tests/support/otlp_receiver.rs"]
mod otlp_receiver;

use std::sync::Arc;
use std::time::Duration;

use courier_core::{Destination, Event, MemoryBroker, PublisherExt, Source, Topology};
use courier_lambda_runner::{self as runner, RunnerConfig};
use courier_shop::{OrderCreated, ORDER_CREATED};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use otlp_receiver::{attribute, metric, metrics, receiver, spans};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_exports_process_spans_linked_to_the_producer() {
    let (url, received) = receiver().await;
    let broker = Arc::new(
        MemoryBroker::with_topology(&Topology::example())
            .await
            .unwrap(),
    );
    let producer_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let order = Event::new(
        "/shop/checkout",
        ORDER_CREATED,
        OrderCreated::new("order-7", "MUG-RED", 1, 1250),
    )
    .with_trace(format!("00-{producer_trace}-00f067aa0ba902b7-01"), None);
    broker
        .publish_event(&Destination::topic("orders"), &order)
        .await
        .unwrap();

    let mut config = RunnerConfig::new(
        env!("CARGO_BIN_EXE_inventory"),
        Source::subscription("orders", "inventory"),
    );
    config.idle_exit = Some(Duration::from_secs(2));
    config.env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), url),
        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into()),
        ("OTEL_SERVICE_NAME".into(), "inventory".into()),
    ];
    let report = runner::run(broker, config, std::future::pending())
        .await
        .unwrap();
    assert_eq!((report.records, report.failed_records), (1, 0), "{report}");

    let (spans, resource) = spans(&received);
    assert_eq!(
        attribute(&resource, "service.name").as_deref(),
        Some("inventory")
    );
    let process: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "process orders-inventory")
        .collect();
    assert_eq!(
        process.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let p = process[0];
    assert_eq!(p.kind, SpanKind::Consumer as i32);
    assert_eq!(
        attribute(&p.attributes, "messaging.system").as_deref(),
        Some("aws_sqs")
    );
    assert_eq!(
        attribute(&p.attributes, "courier.outcome").as_deref(),
        Some("ack")
    );
    assert_eq!(
        attribute(&p.attributes, "cloudevents.event_id").as_deref(),
        Some(order.id.as_str())
    );
    let link = &p.links[0];
    assert_eq!(
        link.trace_id,
        (0..16)
            .map(|i| u8::from_str_radix(&producer_trace[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<_>>(),
        "linked to the producer's context from the record's traceparent"
    );

    let all = metrics(&received);
    let queue = "messaging.destination.name=orders-inventory";
    assert_eq!(
        metric(
            &all,
            "messaging.client.consumed.messages",
            &[queue, "messaging.operation.name=process"]
        ),
        1,
        "pushed records are counted by the pipeline"
    );
    assert_eq!(
        metric(
            &all,
            "courier.message.outcomes",
            &[queue, "courier.outcome=ack"]
        ),
        1
    );
    assert_eq!(
        metric(&all, "courier.message.lag", &[queue]),
        1,
        "from SentTimestamp"
    );
}
