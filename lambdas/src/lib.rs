//! courier-lambdas: courier's event handlers as AWS Lambda functions.
//!
//! - [`sqs::SqsAdapter`]: SQS-triggered functions with partial batch responses
//!   (`batchItemFailures`; the trigger needs `ReportBatchItemFailures`);
//! - [`sns::SnsAdapter`]: SNS-triggered functions;
//! - [`functions`]: the four example functions of the shop (`inventory`, `payment`,
//!   `shipping`, `notification`), each a `bootstrap` binary;
//! - [`runner`]: a local event-source runner that serves the Lambda Runtime API to a real
//!   `bootstrap` and feeds it from any courier source, since LocalStack cannot run
//!   functions without Docker.
//!
//! A function is a few lines:
//!
//! ```no_run
//! use courier_core::worker::{handler_fn, HandlerError, Router};
//! use courier_core::Event;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let router = Router::new().handle("OrderCreated", handler_fn(|e: Event<serde_json::Value>, _ctx| async move {
//!         tracing::info!(order = %e.data["order_id"], "handled");
//!         Ok::<(), HandlerError>(())
//!     }));
//!     courier_lambdas::run_sqs(router).await
//! }
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

pub mod functions;
pub mod runner;
pub mod sns;
pub mod sqs;

use std::sync::Arc;

use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use courier_core::worker::{MemoryIdempotencyStore, Router};
use lambda_runtime::{service_fn, LambdaEvent};

/// Logs as JSON-less plain lines to stderr (CloudWatch takes them as they are); `RUST_LOG`
/// filters, `info` by default.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// Runs `router` as an SQS-triggered function until the runtime stops it.
///
/// Permanent failures go to the record's queue's dead-letter queue through SQS (the
/// standard AWS chain configures the client), unless `COURIER_LAMBDA_DEAD_LETTERS=none`,
/// which leaves them to the queue's redrive policy. Event ids are remembered for the life
/// of the execution environment, skipping redeliveries it has handled.
///
/// With the feature `otel`, records are traced and measured, and exported over OTLP when
/// the standard `OTEL_*` variables are set (see `courier-otlp`), flushed at the end of
/// every invocation: Lambda freezes the environment between invocations.
pub async fn run_sqs(router: Router) -> Result<(), lambda_runtime::Error> {
    let telemetry = Telemetry::from_env()?;
    let mut adapter =
        sqs::SqsAdapter::new(router).idempotency(Arc::new(MemoryIdempotencyStore::default()));
    #[cfg(feature = "otel")]
    if let Some(t) = telemetry.recording() {
        adapter = adapter.telemetry(t);
    }
    if std::env::var("COURIER_LAMBDA_DEAD_LETTERS").as_deref() != Ok("none") {
        let broker = courier_aws::AwsBroker::connect(&Default::default()).await?;
        adapter = adapter.dead_letters(Arc::new(broker));
    }
    let (adapter, telemetry) = (&adapter, &telemetry);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = adapter.handle(event.payload).await;
        telemetry.flush().await;
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}

/// Runs `router` as an SNS-triggered function until the runtime stops it.
pub async fn run_sns(router: Router) -> Result<(), lambda_runtime::Error> {
    let telemetry = Telemetry::from_env()?;
    #[allow(unused_mut)]
    let mut adapter = sns::SnsAdapter::new(router);
    #[cfg(feature = "otel")]
    if let Some(t) = telemetry.recording() {
        adapter = adapter.telemetry(t);
    }
    let (adapter, telemetry) = (&adapter, &telemetry);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        let result = adapter.handle(event.payload).await;
        telemetry.flush().await;
        result.map_err(lambda_runtime::Error::from)
    }))
    .await
}

/// The function's telemetry: OTLP export from the environment with the feature `otel`,
/// nothing without it.
struct Telemetry {
    #[cfg(feature = "otel")]
    providers: courier_otlp::Providers,
}

impl Telemetry {
    fn from_env() -> Result<Self, lambda_runtime::Error> {
        Ok(Telemetry {
            #[cfg(feature = "otel")]
            providers: courier_otlp::Providers::from_env(courier_otlp::Options::default())?,
        })
    }

    #[cfg(feature = "otel")]
    fn recording(&self) -> Option<courier_core::telemetry::Telemetry> {
        self.providers.telemetry().cloned()
    }

    /// Exports what this invocation recorded before Lambda freezes the environment; a
    /// collector that cannot be reached costs the spans, never the invocation.
    async fn flush(&self) {
        #[cfg(feature = "otel")]
        if self.providers.exports() {
            if let Err(e) = self.providers.flush().await {
                tracing::warn!(error = %courier_core::display_chain(&e), "telemetry not exported");
            }
        }
    }
}
