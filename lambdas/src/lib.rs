//! courier-lambdas: courier's event handlers as AWS Lambda functions — the adapter only.
//!
//! - [`sqs::SqsAdapter`]: SQS-triggered functions with partial batch responses
//!   (`batchItemFailures`; the trigger needs `ReportBatchItemFailures`);
//! - [`sns::SnsAdapter`]: SNS-triggered functions;
//! - [`runtime`]: the `bootstrap` loop on the Lambda Runtime API ([`run_sqs`], [`run_sns`]);
//! - [`event`]: the SQS and SNS event shapes, read with borrowed strings.
//!
//! With the feature `otel`, every record is traced and measured in OpenTelemetry's
//! messaging conventions and exported over OTLP/HTTP when the standard `OTEL_*` variables
//! say so, flushed before each invocation is answered.
//!
//! Both adapters hand every record to the one core pipeline
//! ([`courier_core::worker::Pipeline`]) and only translate its outcome. A function is a
//! few lines:
//!
//! ```no_run
//! use courier_core::worker::{handler_fn, HandlerError, Router};
//! use courier_core::Event;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), courier_lambdas::BoxError> {
//!     courier_lambdas::init_tracing();
//!     let router = Router::new().handle("OrderCreated", handler_fn(|e: Event<serde_json::Value>, _ctx| async move {
//!         tracing::info!(order = %e.data["order_id"], "handled");
//!         Ok::<(), HandlerError>(())
//!     }));
//!     courier_lambdas::run_sqs(router).await
//! }
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

pub mod dead_letter;
pub mod event;
pub mod runtime;
pub mod sns;
pub mod sqs;
mod telemetry;

pub use runtime::api::BoxError;
pub use runtime::{run_sns, run_sqs};

/// Logs as plain lines to stderr (CloudWatch takes them as they are); `RUST_LOG`
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
