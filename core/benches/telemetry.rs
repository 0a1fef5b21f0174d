//! The cost of OpenTelemetry instrumentation on the memory worker, in one run:
//! `cargo bench -p courier-core --features otel --bench telemetry` (`-- N` sets the
//! message count, default 50000; `-- N NAME` runs only the variants whose name contains
//! NAME, for a profiler).
//!
//! Variants, interleaved round by round (median of 5), each consuming the same `N` events:
//! - `off`: the worker on the plain memory broker (what a build without `otel` runs);
//! - `noop`: broker and pipeline instrumented, no SDK installed (the API's no-op
//!   providers): the cost of the hooks alone;
//! - `sdk`: instrumented, with the SDK recording every span (always-on sampler, batch
//!   span processor, an exporter that counts and discards) and every metric (aggregated
//!   by a periodic reader): the full cost in the application's threads;
//! - `sampled`: the same SDK with a 1% ratio sampler (parent-based), as high-throughput
//!   services run it: every metric, one trace in a hundred.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_core::telemetry::{Instrumented, Telemetry};
use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, MemoryBroker, PublisherExt, Source};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

const ROUNDS: usize = 5;

/// Counts the spans it is given and drops them.
#[derive(Debug, Clone, Default)]
struct CountingSpans(Arc<AtomicUsize>);

impl SpanExporter for CountingSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// Drops collected metrics (the aggregation, in the application's threads, is what costs).
#[derive(Debug, Clone, Default)]
struct DiscardMetrics;

impl PushMetricExporter for DiscardMetrics {
    async fn export(&self, _metrics: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Off,
    Noop,
    Sdk,
    Sampled,
}

struct Sdk {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    spans: CountingSpans,
}

fn sdk(sampler: Sampler) -> Sdk {
    let spans = CountingSpans::default();
    let batch = BatchSpanProcessor::builder(spans.clone())
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(1 << 16)
                .with_max_export_batch_size(4096)
                .build(),
        )
        .build();
    Sdk {
        tracer: SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_span_processor(batch)
            .build(),
        meter: SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(DiscardMetrics).build())
            .build(),
        spans,
    }
}

/// Events as another process's instrumented producer sends them: with a `traceparent`.
/// Published on the plain broker, so that only consuming is measured.
async fn published(n: usize, broker: &dyn Broker) {
    let payload = serde_json::json!({"order_id": "order-1001", "sku": "MUG-RED", "quantity": 2});
    let producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let events: Vec<Event<serde_json::Value>> = (0..n)
        .map(|_| Event::new("/bench", "OrderCreated", payload.clone()).with_trace(producer, None))
        .collect();
    for chunk in events.chunks(1000) {
        broker
            .publish_events(&Destination::queue("bench"), chunk)
            .await
            .expect("publish");
    }
}

/// Consumes `n` events with the worker; returns the time and the spans exported.
async fn run(n: usize, variant: Variant) -> (Duration, usize) {
    let mut q = QueueSpec::new("bench");
    q.max_receive_count = 1000;
    let memory = Arc::new(
        MemoryBroker::with_topology(&Topology {
            queues: vec![q],
            ..Topology::default()
        })
        .await
        .expect("provision"),
    );
    let sdk = match variant {
        Variant::Sdk => Some(sdk(Sampler::AlwaysOn)),
        Variant::Sampled => Some(sdk(Sampler::ParentBased(Box::new(
            Sampler::TraceIdRatioBased(0.01),
        )))),
        Variant::Off | Variant::Noop => None,
    };
    let telemetry = match &sdk {
        Some(s) => Some(Telemetry::new(&s.tracer, &s.meter)),
        None if variant == Variant::Noop => Some(Telemetry::global()),
        None => None,
    };
    published(n, &*memory).await;
    let broker: Arc<dyn Broker> = match &telemetry {
        Some(t) => Arc::new(Instrumented::new(memory, t.clone())),
        None => memory,
    };
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let mut w = Worker::new(broker, Source::queue("bench"))
        .concurrency(32)
        .handle(
            "OrderCreated",
            handler_fn(move |e: Event<serde_json::Value>, _ctx| {
                let h = h.clone();
                async move {
                    std::hint::black_box(&e);
                    h.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), HandlerError>(())
                }
            }),
        );
    if let Some(t) = telemetry {
        w = w.telemetry(t);
    }
    let stats = w.stats();
    let target = n as u64;
    let start = Instant::now();
    let report = w
        .run(async move {
            while stats.snapshot().acked < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("worker");
    let elapsed = start.elapsed();
    assert_eq!(report.acked, target);
    let exported = match sdk {
        Some(s) => {
            s.tracer.force_flush().expect("flush");
            let _ = s.tracer.shutdown();
            let _ = s.meter.shutdown();
            s.spans.0.load(Ordering::Relaxed)
        }
        None => 0,
    };
    (elapsed, exported)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(50_000);
    let only = args
        .iter()
        .find(|a| a.parse::<usize>().is_err() && !a.starts_with('-'))
        .cloned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let variants = [
        ("off (plain broker and worker)", Variant::Off),
        ("noop (instrumented, no SDK)", Variant::Noop),
        (
            "sdk (instrumented, every span and metric recorded)",
            Variant::Sdk,
        ),
        (
            "sampled (instrumented, 1% of traces, every metric)",
            Variant::Sampled,
        ),
    ];
    let selected = |name: &str| only.as_ref().is_none_or(|o| name.contains(o.as_str()));
    let rounds = if only.is_some() { 1 } else { ROUNDS };
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut spans = 0;
    rt.block_on(async {
        for _ in 0..rounds {
            for (i, (name, variant)) in variants.iter().enumerate() {
                if selected(name) {
                    let (t, exported) = run(n, *variant).await;
                    times[i].push(t);
                    if *variant == Variant::Sdk {
                        spans = exported;
                    }
                }
            }
        }
    });
    println!("{n} messages, median of {rounds} interleaved round(s), 2 runtime threads");
    println!("{:<52} {:>10} {:>8}", "variant", "msgs/s", "vs off");
    let off = times[0].first().map(|_| median(times[0].clone()));
    for ((name, _), t) in variants.iter().zip(&times) {
        if t.is_empty() {
            continue;
        }
        let d = median(t.clone());
        let ratio = off.map_or(String::new(), |o| {
            format!("{:.3}", o.as_secs_f64() / d.as_secs_f64())
        });
        println!("{name:<52} {:>10.0} {ratio:>8}", n as f64 / d.as_secs_f64());
    }
    if spans > 0 {
        println!("spans exported in the last sdk round: {spans} (process and ack per message, receive per batch)");
    }
}
