//! courier-lambdas: courier's event handlers as AWS Lambda functions — the adapter only.
//!
//! - [`sqs::SqsAdapter`]: SQS-triggered functions with partial batch responses
//!   (`batchItemFailures`; the trigger needs `ReportBatchItemFailures`);
//! - [`sns::SnsAdapter`]: SNS-triggered functions;
//! - [`runtime`]: what a `bootstrap` runs ([`run_sqs`], [`run_sns`]): the adapters as
//!   handlers of the official runtime client, `lambda_runtime`;
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

pub use runtime::{run_sns, run_sqs, BoxError};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Logs as plain lines to stderr (CloudWatch takes them as they are). `RUST_LOG` filters
/// by target (`info`, `courier_core=debug,warn`), `info` by default; a value that does not
/// parse is reported and `info` used.
pub fn init_tracing() {
    let setting = std::env::var("RUST_LOG").unwrap_or_default();
    let (filter, refused) = log_filter(&setting);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .try_init();
    if let Some(e) = refused {
        tracing::warn!(error = %e, setting, "RUST_LOG does not parse; logging at info");
    }
}

/// The filter `RUST_LOG` asks for, or `info` and the reason it was refused.
fn log_filter(setting: &str) -> (Targets, Option<tracing_subscriber::filter::ParseError>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    if setting.trim().is_empty() {
        return (info(), None);
    }
    match setting.parse::<Targets>() {
        Ok(targets) => (targets, None),
        Err(e) => (info(), Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_filters_by_target_and_a_bad_value_falls_back_to_info() {
        let (f, refused) = log_filter("courier_core=debug,warn");
        assert!(refused.is_none());
        assert!(f.would_enable("courier_core::worker", &Level::DEBUG));
        assert!(!f.would_enable("aws_config", &Level::INFO));
        assert!(f.would_enable("aws_config", &Level::WARN));

        let (f, refused) = log_filter("");
        assert!(refused.is_none());
        assert!(f.would_enable("anything", &Level::INFO));
        assert!(!f.would_enable("anything", &Level::DEBUG));

        let (f, refused) = log_filter("courier=loud");
        assert!(refused.is_some(), "an unknown level is refused");
        assert!(f.would_enable("courier", &Level::INFO));
    }
}
