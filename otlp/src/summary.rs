//! A per-entity summary read from courier's own metrics, in the process that records them
//! (the demo, `courier lambda run`): the same numbers an observability backend gets.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_core::telemetry::names;
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;

/// What courier's metrics say about one queue or subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntitySummary {
    /// Messages received (`messaging.client.consumed.messages`).
    pub consumed: u64,
    /// Messages processed, by `courier.outcome` (`ack`, `duplicate`, `retry`, `dead_letter`).
    pub outcomes: BTreeMap<String, u64>,
    /// Settlements by operation (`ack`, `nack`, `dead_letter`), from
    /// `messaging.client.operation.duration`, failed ones included.
    pub settlements: BTreeMap<String, u64>,
    /// Operations that failed (any `error.type` on a client operation).
    pub failed_operations: u64,
}

impl EntitySummary {
    /// Messages whose processing ended with `outcome`.
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Settlements of kind `operation`.
    pub fn settled(&self, operation: &str) -> u64 {
        self.settlements.get(operation).copied().unwrap_or(0)
    }
}

impl fmt::Display for EntitySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, acked {}, retried {}, dead-lettered {}, duplicates {}",
            self.consumed,
            self.outcome("ack"),
            self.outcome("retry"),
            self.outcome("dead_letter"),
            self.outcome("duplicate"),
        )?;
        if self.failed_operations > 0 {
            write!(f, ", failed operations {}", self.failed_operations)?;
        }
        Ok(())
    }
}

/// Keeps the totals of courier's metrics from each collection: a metric "exporter" that
/// exports into this process. [`Providers::summary`](crate::Providers::summary) collects
/// and reads it.
#[derive(Debug, Clone, Default)]
pub struct SummaryExporter {
    totals: Arc<Mutex<BTreeMap<String, EntitySummary>>>,
}

impl PushMetricExporter for SummaryExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let totals = totals(metrics);
        *self.totals.lock().unwrap_or_else(|p| p.into_inner()) = totals;
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    /// Cumulative: each collection carries the totals since the start.
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

impl SummaryExporter {
    /// The totals of the last collection, by entity: `orders/inventory` for a
    /// subscription (topic and subscription), the queue's name for a queue.
    pub fn totals(&self) -> BTreeMap<String, EntitySummary> {
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn totals(rm: &ResourceMetrics) -> BTreeMap<String, EntitySummary> {
    let mut out: BTreeMap<String, EntitySummary> = BTreeMap::new();
    for metric in rm
        .scope_metrics()
        .filter(|s| s.scope().name() == "courier")
        .flat_map(|s| s.metrics())
    {
        for (attributes, value) in points(metric.data()) {
            let get = |key: &str| {
                attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.to_string())
            };
            let Some(destination) = get(names::DESTINATION) else {
                continue;
            };
            let entity = match get(names::SUBSCRIPTION) {
                Some(sub) => format!("{destination}/{sub}"),
                None => destination,
            };
            let operation = get(names::OPERATION_NAME).unwrap_or_default();
            let failed = get(names::ERROR_TYPE).is_some();
            let summary = out.entry(entity).or_default();
            match metric.name() {
                names::CONSUMED_MESSAGES => summary.consumed += value,
                names::OUTCOMES => {
                    let outcome = get(names::OUTCOME).unwrap_or_default();
                    *summary.outcomes.entry(outcome).or_default() += value;
                }
                names::OPERATION_DURATION => {
                    if matches!(operation.as_str(), "ack" | "nack" | "dead_letter") {
                        *summary.settlements.entry(operation).or_default() += value;
                    }
                    if failed {
                        summary.failed_operations += value;
                    }
                }
                _ => {}
            }
        }
    }
    // Destinations only published to have nothing to summarise here.
    out.retain(|_, s| s.consumed > 0 || !s.outcomes.is_empty() || !s.settlements.is_empty());
    out
}

/// Each data point's attributes and value: a counter's sum, a histogram's count.
fn points(data: &AggregatedMetrics) -> Vec<(Vec<KeyValue>, u64)> {
    match data {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
            .data_points()
            .map(|p| (p.attributes().cloned().collect(), p.value()))
            .collect(),
        AggregatedMetrics::F64(MetricData::Histogram(h)) => h
            .data_points()
            .map(|p| (p.attributes().cloned().collect(), p.count()))
            .collect(),
        _ => Vec::new(),
    }
}
