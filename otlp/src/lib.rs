//! courier-otlp: courier's telemetry exported over OTLP/HTTP (protobuf), as every
//! OpenTelemetry SDK does when the standard variables are set, and not otherwise.
//!
//! | variable | effect |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`, `…_METRICS_ENDPOINT`) | export to this collector (`/v1/traces`, `/v1/metrics` appended to the generic one) |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` (the default); `grpc` and `http/json` are refused by name |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource (the SDK's own detectors) |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | request headers, timeout (ms) |
//! | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` | `otlp` or `none` |
//! | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER(_ARG)` | as the SDK reads them |
//! | `OTEL_SDK_DISABLED=true` | nothing is exported |
//!
//! ```no_run
//! # async fn run() -> courier_core::Result<()> {
//! let providers = courier_otlp::Providers::from_env(courier_otlp::Options::default())?;
//! // wrap brokers with providers.telemetry() (Instrumented, Worker::telemetry) …
//! providers.shutdown().await?; // exports what is left
//! # Ok(()) }
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod client;
mod config;
mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use courier_core::telemetry::Telemetry;
use courier_core::{Error, Result};
use opentelemetry::global;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

pub use config::ExportSettings;
pub use summary::{EntitySummary, SummaryExporter};

/// What to set up besides the export the environment asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep a summary of courier's metrics readable in this process (whether or not they
    /// are exported): see [`Providers::summary`].
    pub summary: bool,
}

/// The SDK providers courier records through: exporting over OTLP where the environment
/// says so, summarising where asked. Dropping it without [`shutdown`](Providers::shutdown)
/// may lose what was not exported yet.
#[derive(Debug)]
pub struct Providers {
    telemetry: Option<Telemetry>,
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    summary: Option<SummaryExporter>,
    exports: bool,
}

fn failed(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend {
        message: format!("OpenTelemetry: {what}"),
        source: Some(Box::new(e)),
    }
}

impl Providers {
    /// Sets up what the process environment asks for (see the crate's table) and
    /// `options`; the exporting providers become the global ones, so that spans the
    /// application makes itself go the same way. Needs a Tokio runtime (the exporters'
    /// requests run on it).
    pub fn from_env(options: Options) -> Result<Self> {
        Self::new(ExportSettings::from_env()?, options)
    }

    /// Sets up `export` (from [`ExportSettings::from_env`] or made by hand; endpoints,
    /// headers and the resource still come from the environment) and `options`.
    pub fn new(export: Option<ExportSettings>, options: Options) -> Result<Self> {
        let export = export.unwrap_or(ExportSettings {
            traces: None,
            metrics: None,
        });
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| Error::InvalidConfig {
            message: "exporting telemetry needs a Tokio runtime".into(),
            source: Some(Box::new(e)),
        })?;
        let client = |timeout: Duration| {
            client::RuntimeClient::new(runtime.clone(), timeout)
                .map_err(|e| failed("cannot load the system's root certificates", e))
        };
        let resource = Resource::builder().build();
        let tracer = match export.traces {
            Some(timeout) => {
                let exporter = SpanExporter::builder()
                    .with_http()
                    .with_http_client(client(timeout)?)
                    .build()
                    .map_err(|e| failed("cannot build the span exporter", e))?;
                Some(
                    SdkTracerProvider::builder()
                        .with_resource(resource.clone())
                        .with_batch_exporter(exporter)
                        .build(),
                )
            }
            None => None,
        };
        let summary = options.summary.then(SummaryExporter::default);
        let meter = if export.metrics.is_some() || summary.is_some() {
            let mut builder = SdkMeterProvider::builder().with_resource(resource);
            if let Some(timeout) = export.metrics {
                let exporter = MetricExporter::builder()
                    .with_http()
                    .with_http_client(client(timeout)?)
                    .build()
                    .map_err(|e| failed("cannot build the metric exporter", e))?;
                builder = builder.with_reader(PeriodicReader::builder(exporter).build());
            }
            if let Some(s) = &summary {
                // Collected only when asked (the interval is a day): see `summary`.
                let reader = PeriodicReader::builder(s.clone())
                    .with_interval(Duration::from_secs(24 * 3600))
                    .build();
                builder = builder.with_reader(reader);
            }
            Some(builder.build())
        } else {
            None
        };
        if let Some(t) = &tracer {
            global::set_tracer_provider(t.clone());
        }
        if export.metrics.is_some() {
            if let Some(m) = &meter {
                global::set_meter_provider(m.clone());
            }
        }
        let telemetry = match (&tracer, &meter) {
            (None, None) => None,
            (Some(t), Some(m)) => Some(Telemetry::new(t, m)),
            (Some(t), None) => Some(Telemetry::new(t, &*global::meter_provider())),
            (None, Some(m)) => Some(Telemetry::new(&global::tracer_provider(), m)),
        };
        Ok(Providers {
            telemetry,
            exports: export.traces.is_some() || export.metrics.is_some(),
            tracer,
            meter,
            summary,
        })
    }

    /// What to record through, when anything is exported or summarised; `None` when the
    /// environment asked for nothing (then leave brokers and workers uninstrumented: it
    /// costs nothing).
    pub fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.as_ref()
    }

    /// Whether spans or metrics leave the process.
    pub fn exports(&self) -> bool {
        self.exports
    }

    /// courier's metrics so far, by queue or subscription (`orders/inventory`), when a
    /// summary was asked for in [`Options`] (`None` otherwise). Collects (and so also
    /// exports) the metrics now.
    pub async fn summary(&self) -> Result<Option<BTreeMap<String, EntitySummary>>> {
        let Some(summary) = &self.summary else {
            return Ok(None);
        };
        self.flush().await?;
        Ok(Some(summary.totals()))
    }

    /// Exports everything recorded so far and waits for it (e.g. at the end of a Lambda
    /// invocation, before the environment is frozen).
    pub async fn flush(&self) -> Result<()> {
        let tracer = self.tracer.clone();
        let meter = self.meter.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            if let Some(t) = tracer {
                t.force_flush().map_err(|e| failed("flushing spans", e))?;
            }
            if let Some(m) = meter {
                m.force_flush().map_err(|e| failed("flushing metrics", e))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| failed("the flushing task failed", e))?
    }

    /// Exports what is left and stops the exporters.
    pub async fn shutdown(self) -> Result<()> {
        let Providers { tracer, meter, .. } = self;
        tokio::task::spawn_blocking(move || -> Result<()> {
            if let Some(t) = tracer {
                t.shutdown()
                    .map_err(|e| failed("shutting down the span exporter", e))?;
            }
            if let Some(m) = meter {
                m.shutdown()
                    .map_err(|e| failed("shutting down the metric exporter", e))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| failed("the shutdown task failed", e))?
    }
}
