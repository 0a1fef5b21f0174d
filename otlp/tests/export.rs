//! courier's telemetry exported for real: OTLP over HTTP with protobuf bodies, as the
//! OTLP specification describes it (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>:
//! `POST /v1/traces` and `/v1/metrics`, `Content-Type: application/x-protobuf`, the
//! `ExportTraceServiceRequest` / `ExportMetricsServiceRequest` messages), received by a
//! plain HTTP reader in this test and decoded with `opentelemetry-proto`, the project's
//! own generated types of the OTLP protobuf schema.
//!
//! One test in this binary: it sets the process's `OTEL_*` variables.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::telemetry::Instrumented;
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, MemoryBroker, PublisherExt, Source, Topology};
use courier_otlp::{Options, Providers};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as received: path, content type, body.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver: reads HTTP/1.1 requests with a `Content-Length` body,
/// keeps them, answers 200 with an empty protobuf body (an empty Export…ServiceResponse).
async fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (mut length, mut content_type) = (None, String::new());
                    loop {
                        let mut line = String::new();
                        read.read_line(&mut line).await.unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        let (name, value) = line.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => {
                                length = Some(value.trim().parse::<usize>().unwrap())
                            }
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length.expect("an OTLP request has a Content-Length")];
                    read.read_exact(&mut body).await.unwrap();
                    keep.lock().unwrap().push((path, content_type, body));
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    write.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (url, received)
}

fn attribute(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

fn spans(received: &Received) -> (Vec<Span>, Vec<KeyValue>) {
    let mut spans = Vec::new();
    let mut resource = Vec::new();
    for (path, content_type, body) in received.lock().unwrap().iter() {
        if path == "/v1/traces" {
            assert_eq!(content_type, "application/x-protobuf");
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("protobuf");
            for rs in request.resource_spans {
                resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    assert_eq!(ss.scope.as_ref().map(|s| s.name.as_str()), Some("courier"));
                    spans.extend(ss.spans);
                }
            }
        }
    }
    (spans, resource)
}

/// The last value of each metric data point, by metric name and sorted `k=v` attributes:
/// a counter's sum, a histogram's count.
fn metrics(received: &Received) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for (path, content_type, body) in received.lock().unwrap().iter() {
        if path != "/v1/metrics" {
            continue;
        }
        assert_eq!(content_type, "application/x-protobuf");
        let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("protobuf");
        for m in request
            .resource_metrics
            .into_iter()
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
        {
            let key = |attrs: &[KeyValue]| {
                let mut v: Vec<String> = attrs
                    .iter()
                    .map(|kv| {
                        format!(
                            "{}={}",
                            kv.key,
                            attribute(attrs, &kv.key).unwrap_or_default()
                        )
                    })
                    .collect();
                v.sort();
                v.join(",")
            };
            match m.data {
                Some(metric::Data::Sum(sum)) => {
                    for p in sum.data_points {
                        let value = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i as u64,
                            other => panic!("{}: {other:?}", m.name),
                        };
                        out.insert((m.name.clone(), key(&p.attributes)), value);
                    }
                }
                Some(metric::Data::Histogram(h)) => {
                    for p in h.data_points {
                        out.insert((m.name.clone(), key(&p.attributes)), p.count);
                    }
                }
                other => panic!("{}: unexpected {other:?}", m.name),
            }
        }
    }
    out
}

fn metric(all: &BTreeMap<(String, String), u64>, name: &str, with: &[&str]) -> u64 {
    all.iter()
        .filter(|((n, attrs), _)| {
            n == name && with.iter().all(|w| attrs.split(',').any(|a| a == *w))
        })
        .map(|(_, v)| v)
        .sum()
}

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
