//! The function's telemetry: with the feature `otel`, OTLP export configured by the
//! standard `OTEL_*` variables (see `courier-otlp`) and flushed at the end of every
//! invocation, since Lambda freezes the environment between invocations; without it,
//! nothing.

use crate::runtime::BoxError;
use crate::sns::SnsAdapter;
use crate::sqs::SqsAdapter;

/// The exporters of one execution environment.
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    providers: courier_otlp::Providers,
}

impl Telemetry {
    /// Reads the `OTEL_*` variables; a malformed one is refused, naming it.
    pub(crate) fn from_env() -> Result<Self, BoxError> {
        Ok(Telemetry {
            #[cfg(feature = "otel")]
            providers: courier_otlp::Providers::from_env(courier_otlp::Options::default())?,
        })
    }

    /// The SQS adapter, traced and measured when export is configured.
    pub(crate) fn sqs(&self, adapter: SqsAdapter) -> SqsAdapter {
        #[cfg(feature = "otel")]
        if let Some(t) = self.providers.telemetry() {
            return adapter.telemetry(t.clone());
        }
        adapter
    }

    /// The SNS adapter, traced and measured when export is configured.
    pub(crate) fn sns(&self, adapter: SnsAdapter) -> SnsAdapter {
        #[cfg(feature = "otel")]
        if let Some(t) = self.providers.telemetry() {
            return adapter.telemetry(t.clone());
        }
        adapter
    }

    /// Exports what this invocation recorded before Lambda freezes the environment,
    /// giving up at `by`: a collector that cannot be reached (or answers slowly) costs the
    /// spans, never the invocation.
    pub(crate) async fn flush(&self, by: tokio::time::Instant) {
        #[cfg(feature = "otel")]
        if self.providers.exports() {
            match tokio::time::timeout_at(by, self.providers.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %courier_core::display_chain(&e), "telemetry not exported")
                }
                Err(_) => tracing::warn!(
                    "telemetry not exported: the collector did not answer before the invocation's deadline"
                ),
            }
        }
        #[cfg(not(feature = "otel"))]
        let _ = by;
    }
}
