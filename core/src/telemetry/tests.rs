//! Spans and metrics as the SDK records them, through the in-memory exporters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context as OtelContext, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

use super::*;
use crate::worker::{handler_fn, HandlerError, Outcome, Pipeline, Router, Worker};
use crate::{ConsumerExt, Destination, Event, MemoryBroker, Message, Source, Topology};

struct Recorder {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    telemetry: Telemetry,
}

impl Recorder {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let telemetry = Telemetry::new(&tracer_provider, &meter_provider);
        Recorder {
            spans,
            metrics,
            tracer_provider,
            meter_provider,
            telemetry,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.tracer_provider.force_flush().unwrap();
        self.spans.get_finished_spans().unwrap()
    }

    fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        spans
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span '{name}' in {:?}", names_of(&spans)))
    }

    /// Sum of each counter, and count of each histogram, by metric name and attributes
    /// (`key=value` joined by `,`, sorted).
    fn metrics(&self) -> BTreeMap<(String, String), f64> {
        self.meter_provider.force_flush().unwrap();
        let mut out = BTreeMap::new();
        let finished = self.metrics.get_finished_metrics().unwrap();
        let last = finished.last().expect("a collection");
        for scope in last.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name().to_owned();
                let mut put = |attrs: Vec<String>, v: f64| {
                    out.insert((name.clone(), attrs.join(",")), v);
                };
                let key = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    let mut v: Vec<String> =
                        kvs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                    v.sort();
                    v
                };
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for p in sum.data_points() {
                            put(key(&mut p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            put(key(&mut p.attributes()), p.count() as f64);
                        }
                    }
                    other => panic!("unexpected metric data {other:?}"),
                }
            }
        }
        out
    }

    fn metric(&self, name: &str, with: &[&str]) -> f64 {
        let all = self.metrics();
        all.iter()
            .filter(|((n, attrs), _)| {
                n == name && with.iter().all(|w| attrs.split(',').any(|a| a == *w))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

fn names_of(spans: &[SpanData]) -> Vec<String> {
    spans
        .iter()
        .map(|s| format!("{} ({:?})", s.name, s.span_kind))
        .collect()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> String {
    attr(span, key).map(|v| v.to_string()).unwrap_or_default()
}

async fn broker(recorder: &Recorder) -> Arc<dyn Broker> {
    let mut topology = Topology::example();
    topology
        .queues
        .push(crate::topology::QueueSpec::new("audit"));
    let memory = MemoryBroker::with_topology(&topology).await.unwrap();
    Arc::new(Instrumented::new(
        Arc::new(memory),
        recorder.telemetry.clone(),
    ))
}

use crate::Broker;

#[tokio::test]
async fn publish_is_a_producer_span_whose_context_travels_in_the_message() {
    let r = Recorder::new();
    let broker = broker(&r).await;
    let event = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    );
    let id = broker
        .publish(&Destination::topic("orders"), event.to_message().unwrap())
        .await
        .unwrap();
    let publish = r.span("publish orders");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(text(&publish, names::SYSTEM), "courier.memory");
    assert_eq!(text(&publish, names::DESTINATION), "orders");
    assert_eq!(text(&publish, names::OPERATION_TYPE), "send");
    assert_eq!(text(&publish, names::OPERATION_NAME), "publish");
    assert_eq!(text(&publish, names::MESSAGE_ID), id);

    let source = Source::subscription("orders", "inventory");
    let delivery = broker
        .receive_one(&source, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        delivery.message().attributes[crate::event::attr::TRACEPARENT],
        trace_context::traceparent(&publish.span_context),
        "the producer's span is the message's creation context"
    );
    delivery.ack().await.unwrap();
    let receive = r.span("receive orders/inventory");
    assert_eq!(receive.span_kind, SpanKind::Client);
    assert_eq!(attr(&receive, names::BATCH_COUNT), Some(&Value::I64(1)));
    assert_eq!(text(&receive, names::SUBSCRIPTION), "inventory");
    assert_eq!(
        receive.links.links[0].span_context.span_id(),
        publish.span_context.span_id()
    );
    let ack = r.span("ack orders/inventory");
    assert_eq!(ack.span_kind, SpanKind::Client);
    assert_eq!(text(&ack, names::OPERATION_TYPE), "settle");
    assert_eq!(text(&ack, names::MESSAGE_ID), delivery_id(&ack));

    assert_eq!(
        r.metric(names::SENT_MESSAGES, &["messaging.destination.name=orders"]),
        1.0
    );
    assert_eq!(
        r.metric(
            names::CONSUMED_MESSAGES,
            &["messaging.destination.subscription.name=inventory"]
        ),
        1.0
    );
    assert_eq!(
        r.metric(names::OPERATION_DURATION, &["messaging.operation.name=ack"]),
        1.0
    );
}

fn delivery_id(span: &SpanData) -> String {
    text(span, names::MESSAGE_ID)
}

#[tokio::test]
async fn a_context_the_user_set_is_kept_and_linked() {
    let r = Recorder::new();
    let broker = broker(&r).await;
    let theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let event = Event::new("/shop", "OrderCreated", serde_json::json!({})).with_trace(theirs, None);
    broker
        .publish(&Destination::queue("audit"), event.to_message().unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let send = r.span("send audit");
    assert_eq!(
        send.links.links[0].span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    let d = broker
        .receive_one(&Source::queue("audit"), Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.message().attributes[crate::event::attr::TRACEPARENT],
        theirs
    );
}

#[tokio::test]
async fn a_batch_has_a_create_span_per_message_and_a_client_send_span() {
    let r = Recorder::new();
    let broker = broker(&r).await;
    let messages = (0..3).map(|i| Message::new(format!("m{i}"))).collect();
    let results = broker
        .publish_batch(&Destination::queue("audit"), messages)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    let spans = r.spans();
    let creates: Vec<_> = spans.iter().filter(|s| s.name == "create audit").collect();
    assert_eq!(creates.len(), 3);
    assert!(creates.iter().all(|s| s.span_kind == SpanKind::Producer));
    let send = r.span("send audit");
    assert_eq!(send.span_kind, SpanKind::Client);
    assert_eq!(attr(&send, names::BATCH_COUNT), Some(&Value::I64(3)));
    assert_eq!(send.links.links.len(), 3);
    assert_eq!(
        r.metric(names::SENT_MESSAGES, &["messaging.destination.name=audit"]),
        3.0
    );
}

#[tokio::test]
async fn failures_carry_error_type() {
    let r = Recorder::new();
    let broker = broker(&r).await;
    let e = broker
        .publish(&Destination::queue("nowhere"), Message::new("x"))
        .await
        .unwrap_err();
    assert!(e.is_not_found());
    let send = r.span("send nowhere");
    assert_eq!(text(&send, names::ERROR_TYPE), "NotFound");
    assert!(matches!(send.status, Status::Error { .. }));
    assert_eq!(
        r.metric(names::SENT_MESSAGES, &["error.type=NotFound"]),
        1.0
    );
}

#[tokio::test]
async fn the_process_span_links_to_the_producer_and_parents_what_the_handler_publishes() {
    let r = Recorder::new();
    let broker = broker(&r).await;
    let replies = broker.clone();
    let worker = Worker::new(broker.clone(), Source::subscription("orders", "inventory"))
        .handle(
            "OrderCreated",
            handler_fn(move |e: Event<serde_json::Value>, _ctx| {
                let replies = replies.clone();
                async move {
                    if e.data["fail"].as_bool() == Some(true) {
                        return Err(HandlerError::permanent("no such SKU"));
                    }
                    replies
                        .publish(&Destination::queue("audit"), Message::new("seen"))
                        .await
                        .map_err(HandlerError::retry)?;
                    Ok(())
                }
            }),
        )
        .telemetry(r.telemetry.clone());
    let ok = Event::new("/shop", "OrderCreated", serde_json::json!({"fail": false}));
    let bad = Event::new("/shop", "OrderCreated", serde_json::json!({"fail": true}));
    for e in [&ok, &bad] {
        broker
            .publish(&Destination::topic("orders"), e.to_message().unwrap())
            .await
            .unwrap();
    }
    let report = worker
        .run_until_idle(Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!((report.acked, report.dead_lettered), (1, 1));

    let spans = r.spans();
    let publish: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "publish orders")
        .collect();
    let process: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "process orders/inventory")
        .collect();
    assert_eq!(process.len(), 2, "{:?}", names_of(&spans));
    for p in &process {
        assert_eq!(p.span_kind, SpanKind::Consumer);
        assert_eq!(text(p, names::OPERATION_TYPE), "process");
        let linked = p.links.links[0].span_context.span_id();
        assert!(
            publish.iter().any(|s| s.span_context.span_id() == linked),
            "linked to its producer"
        );
        assert!(
            !p.parent_span_id.eq(&publish[0].span_context.span_id()),
            "a link, not a parent"
        );
    }
    let failed = process
        .iter()
        .find(|p| text(p, names::OUTCOME) == "dead_letter")
        .unwrap();
    assert_eq!(text(failed, names::ERROR_TYPE), "handler_permanent");
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("no such SKU"))
    );
    let handled = process
        .iter()
        .find(|p| text(p, names::OUTCOME) == "ack")
        .unwrap();
    let child = r.span("send audit");
    assert_eq!(
        child.parent_span_id,
        handled.span_context.span_id(),
        "published inside the handler"
    );
    assert_eq!(
        child.span_context.trace_id(),
        handled.span_context.trace_id()
    );
    r.span("dead_letter orders/inventory");

    let sub = "messaging.destination.subscription.name=inventory";
    assert_eq!(
        r.metric(names::OUTCOMES, &[sub, "courier.outcome=ack"]),
        1.0
    );
    assert_eq!(
        r.metric(
            names::OUTCOMES,
            &[
                sub,
                "courier.outcome=dead_letter",
                "error.type=handler_permanent"
            ]
        ),
        1.0
    );
    assert_eq!(r.metric(names::PROCESS_DURATION, &[sub]), 2.0);
    assert_eq!(
        r.metric(names::LAG, &[sub]),
        2.0,
        "the memory broker says when it enqueued"
    );
    assert_eq!(
        r.metric(names::CONSUMED_MESSAGES, &[sub]),
        2.0,
        "counted once, at receive"
    );
}

#[tokio::test]
async fn a_pushed_pipeline_counts_what_it_consumes_and_nests_under_the_ambient_span() {
    let r = Recorder::new();
    let pipeline = Pipeline::new(Router::new()).telemetry(
        r.telemetry.clone(),
        system::AWS_SQS,
        Consumption::Push,
    );
    let message = Event::new("/shop", "Unknown", serde_json::json!({}))
        .to_message()
        .unwrap();
    let ctx = crate::worker::Context::new(Source::queue("orders-inventory"), 1, "m-1", message);
    let tracer = r.tracer_provider.tracer("test");
    let ambient = tracer.start("invocation");
    let ambient_id = ambient.span_context().span_id();
    let outcome = {
        let _guard = OtelContext::current_with_span(ambient).attach();
        pipeline.process(ctx).await
    };
    assert!(matches!(outcome, Outcome::DeadLetter { .. }));
    let process = r.span("process orders-inventory");
    assert_eq!(process.parent_span_id, ambient_id);
    assert_eq!(text(&process, names::SYSTEM), "aws_sqs");
    assert_eq!(text(&process, names::ERROR_TYPE), "no_handler");
    assert!(process.links.links.is_empty(), "no traceparent, no link");
    assert_eq!(
        r.metric(
            names::CONSUMED_MESSAGES,
            &["messaging.operation.name=process"]
        ),
        1.0
    );
}
