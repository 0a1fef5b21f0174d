//! One invocation: a batch of deliveries as an SQS event, handed to the function, and
//! settled from its answer.

use std::collections::HashSet;
use std::future::Future;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_core::{display_chain, Delivery, Error, Result};
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::api::{FunctionAnswer, Invocation};
use crate::function::{FunctionProcess, Launch};
use crate::{event, RunnerConfig, RunnerReport};

/// How an invocation ended.
pub(crate) enum BatchEnd {
    /// The function answered.
    Answered(FunctionAnswer),
    /// No answer within the timeout.
    TimedOut,
    /// The process died first.
    Exited(std::io::Result<ExitStatus>),
    /// The runner is shutting down.
    Shutdown,
}

/// What the runner must do after settling.
pub(crate) enum Settled {
    Done,
    TimedOut,
    Exited(std::io::Result<ExitStatus>),
    Shutdown,
}

/// The partial batch response, as the event source mapping reads it.
#[derive(Deserialize)]
struct BatchResponse {
    #[serde(rename = "batchItemFailures", default)]
    batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Deserialize)]
struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    item_identifier: String,
}

pub(crate) struct Batch {
    deliveries: Vec<Delivery>,
    body: Vec<u8>,
    function_arn: String,
    started: Instant,
}

impl Batch {
    /// The SQS event for `deliveries`.
    pub(crate) fn new(
        deliveries: Vec<Delivery>,
        config: &RunnerConfig,
        launch: &Launch,
        invocation: u64,
    ) -> Result<Self> {
        let fifo = deliveries.iter().any(event::is_fifo);
        let queue_arn = format!(
            "arn:aws:sqs:{}:000000000000:{}",
            launch.region,
            event::queue_name(&config.source, fifo)
        );
        let mut records = Vec::with_capacity(deliveries.len());
        for (i, d) in deliveries.iter().enumerate() {
            let receipt = format!("courier-runner-{invocation}-{i}");
            records.push(event::record(d, &receipt, &queue_arn, &launch.region)?);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).map_err(|e| {
            Error::InvalidInput {
                message: "cannot write the SQS event".into(),
                source: Some(Box::new(e)),
            }
        })?;
        Ok(Batch {
            deliveries,
            body,
            function_arn: format!(
                "arn:aws:lambda:{}:000000000000:function:{}",
                launch.region, launch.name
            ),
            started: Instant::now(),
        })
    }

    /// Hands the event to `function` and waits for its answer, its timeout, its death or
    /// shutdown, whichever comes first.
    pub(crate) async fn invoke(
        &self,
        function: &mut FunctionProcess,
        timeout: Duration,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> BatchEnd {
        let (answer_tx, answer_rx) = oneshot::channel();
        let deadline = SystemTime::now()
            .checked_add(timeout)
            .unwrap_or_else(SystemTime::now);
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            body: self.body.clone(),
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
            function_arn: self.function_arn.clone(),
            answer: answer_tx,
        };
        let invocations = function.invocations.clone();
        let answered = async move {
            invocations.send(invocation).await.ok()?;
            answer_rx.await.ok()
        };
        tokio::select! {
            () = &mut *shutdown => BatchEnd::Shutdown,
            status = function.exited() => BatchEnd::Exited(status),
            answer = tokio::time::timeout(timeout, answered) => match answer {
                Ok(Some(a)) => BatchEnd::Answered(a),
                // The Runtime API went away with the process; its exit is seen next.
                Ok(None) | Err(_) => BatchEnd::TimedOut,
            },
        }
    }

    /// Acks what the function did not list as failed; leaves the rest for redelivery.
    pub(crate) async fn settle(
        self,
        end: BatchEnd,
        name: &str,
        report: &mut RunnerReport,
    ) -> Settled {
        let ids: Vec<&str> = self
            .deliveries
            .iter()
            .map(|d| d.info().broker_message_id.as_str())
            .collect();
        let (failed, settled) = match end {
            BatchEnd::Shutdown => {
                // Not answered: released for redelivery now rather than after the
                // visibility timeout.
                for d in self.deliveries {
                    if let Err(e) = d.nack(Duration::ZERO).await {
                        tracing::warn!(error = %display_chain(&e.error), "could not release a record; it comes back after its visibility timeout");
                    }
                }
                return Settled::Shutdown;
            }
            BatchEnd::TimedOut => {
                tracing::warn!(function = %name, "invocation timed out: the whole batch failed");
                report.timeouts += 1;
                (None, Settled::TimedOut)
            }
            BatchEnd::Exited(status) => {
                tracing::warn!(function = %name, "the function died during the invocation: the whole batch failed");
                (None, Settled::Exited(status))
            }
            BatchEnd::Answered(answer) => (failed_ids(name, answer, &ids), Settled::Done),
        };
        report.invocations += 1;
        report.records += self.deliveries.len() as u64;
        report.busy += self.started.elapsed();
        if failed.is_none() {
            report.failed_invocations += 1;
        }
        let listed = failed.as_ref().map_or(ids.len(), HashSet::len);
        tracing::info!(function = %name, records = ids.len(), failed = listed, elapsed = ?self.started.elapsed(), "invocation");
        let failed: Option<HashSet<String>> =
            failed.map(|f| f.into_iter().map(str::to_owned).collect());
        for d in self.deliveries {
            let keep = failed
                .as_ref()
                .is_none_or(|f| f.contains(&d.info().broker_message_id));
            if keep {
                // Left in flight: back after the visibility timeout, then the redrive policy.
                report.failed_records += 1;
            } else if let Err(e) = d.ack().await {
                tracing::warn!(error = %display_chain(&e.error), "could not delete a processed record; it will be redelivered");
            }
        }
        settled
    }
}

/// The message ids the function listed as failed; `None` when the whole batch failed.
fn failed_ids<'a>(name: &str, answer: FunctionAnswer, ids: &[&'a str]) -> Option<HashSet<&'a str>> {
    match answer {
        FunctionAnswer::Error(body) => {
            tracing::warn!(function = %name, error = %String::from_utf8_lossy(&body), "function error: the whole batch failed");
            None
        }
        FunctionAnswer::Response(body) => {
            if body.is_empty() || body.as_ref() == b"null" {
                return Some(HashSet::new());
            }
            let listed = serde_json::from_slice::<BatchResponse>(&body)
                .ok()
                .and_then(|r| {
                    r.batch_item_failures
                        .iter()
                        .map(|f| ids.iter().find(|id| **id == f.item_identifier).copied())
                        .collect::<Option<HashSet<&str>>>()
                });
            if listed.is_none() {
                // As the event source mapping: an answer it cannot use fails the batch.
                tracing::warn!(function = %name, answer = %String::from_utf8_lossy(&body), "invalid batch response: the whole batch failed");
            }
            listed
        }
    }
}
