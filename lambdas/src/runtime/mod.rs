//! The runtime loop of a courier function: what a `bootstrap` for `provided.al2023` runs.
//!
//! As "Building a custom runtime for AWS Lambda" requires
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html>): an error while
//! initialising is reported to `/runtime/init/error` before the process exits; then, per
//! invocation, the event is handled and answered on `/response`, or `/error` when it
//! cannot be read. `_X_AMZN_TRACE_ID` is set to the invocation's trace header, which the
//! AWS SDK forwards. An SQS invocation is answered before `Lambda-Runtime-Deadline-Ms`
//! (less [`RESPONSE_MARGIN`]): records not finished by then are listed as failed instead
//! of Lambda timing out the invocation and redelivering the whole batch.

pub mod api;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use courier_core::worker::{MemoryIdempotencyStore, Router};
use tokio::time::Instant;

use crate::event::{SnsEvent, SqsEvent};
use crate::sns::SnsAdapter;
use crate::sqs::SqsAdapter;
use crate::telemetry::Telemetry;
use api::{BoxError, Invocation, RuntimeApi};

/// Time kept before the invocation's deadline to send the answer.
pub const RESPONSE_MARGIN: Duration = Duration::from_millis(250);

/// How permanent failures leave an SQS function (`COURIER_LAMBDA_DEAD_LETTERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetters {
    /// `sqs` (the default): to the source queue's dead-letter queue, through SQS.
    Sqs,
    /// `none`: listed as failed, for the queue's redrive policy (runs outside AWS).
    None,
}

impl DeadLetters {
    /// Reads `COURIER_LAMBDA_DEAD_LETTERS`; any other value is refused, naming it.
    pub fn from_env() -> Result<Self, BoxError> {
        match std::env::var("COURIER_LAMBDA_DEAD_LETTERS").as_deref() {
            Err(_) | Ok("sqs") => Ok(DeadLetters::Sqs),
            Ok("none") => Ok(DeadLetters::None),
            Ok(other) => Err(format!(
                "COURIER_LAMBDA_DEAD_LETTERS is '{other}': use 'sqs' (the default) or 'none'"
            )
            .into()),
        }
    }
}

/// Runs `router` as an SQS-triggered function until the runtime stops it.
///
/// Dead letters go to each record's dead-letter queue through SQS (the standard AWS
/// chain configures the client; see [`DeadLetters`]). Event ids are remembered for the
/// life of the execution environment (a bounded [`MemoryIdempotencyStore`]), skipping
/// redeliveries it has handled.
pub async fn run_sqs(router: Router) -> Result<(), BoxError> {
    let api = RuntimeApi::from_env()?;
    let telemetry = Telemetry::from_env()?;
    let adapter = initialise(&api, sqs_adapter(router)).await?;
    let adapter = telemetry.sqs(adapter);
    loop {
        let invocation = api.next().await?;
        set_trace_header(&invocation);
        let deadline = Instant::now() + invocation.remaining().saturating_sub(RESPONSE_MARGIN);
        match serde_json::from_slice::<SqsEvent<'_>>(&invocation.body) {
            Ok(event) => {
                let response = adapter.handle_until(&event, Some(deadline)).await;
                telemetry.flush().await;
                api.respond(&invocation.request_id, serde_json::to_vec(&response)?)
                    .await?;
            }
            Err(e) => {
                let message = format!("the event is not an SQS event: {e}");
                tracing::error!(%message);
                api.fail(&invocation.request_id, "Runtime.InvalidEvent", &message)
                    .await?;
            }
        }
    }
}

/// Runs `router` as an SNS-triggered function until the runtime stops it.
pub async fn run_sns(router: Router) -> Result<(), BoxError> {
    let api = RuntimeApi::from_env()?;
    let telemetry = Telemetry::from_env()?;
    let adapter = telemetry.sns(SnsAdapter::new(router));
    loop {
        let invocation = api.next().await?;
        set_trace_header(&invocation);
        let failure = match serde_json::from_slice::<SnsEvent<'_>>(&invocation.body) {
            Ok(event) => {
                let result = adapter.handle(&event).await;
                telemetry.flush().await;
                match result {
                    Ok(()) => None,
                    Err(e) => Some(("SnsFailure", e.to_string())),
                }
            }
            Err(e) => Some((
                "Runtime.InvalidEvent",
                format!("the event is not an SNS event: {e}"),
            )),
        };
        match failure {
            None => {
                api.respond(&invocation.request_id, b"null".to_vec())
                    .await?
            }
            Some((kind, message)) => {
                tracing::error!(%message, "invocation failed");
                api.fail(&invocation.request_id, kind, &message).await?;
            }
        }
    }
}

async fn sqs_adapter(router: Router) -> Result<SqsAdapter, BoxError> {
    let mut adapter =
        SqsAdapter::new(router).idempotency(Arc::new(MemoryIdempotencyStore::default()));
    if DeadLetters::from_env()? == DeadLetters::Sqs {
        let broker = courier_aws::AwsBroker::connect(&Default::default()).await?;
        adapter = adapter.dead_letters(Arc::new(broker));
    }
    Ok(adapter)
}

/// Awaits `init`; its error is reported to `/runtime/init/error` before it is returned.
pub async fn initialise<T>(
    api: &RuntimeApi,
    init: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    match init.await {
        Ok(t) => Ok(t),
        Err(e) => {
            let message = courier_core::display_chain(&*e);
            tracing::error!(error = %message, "the function could not start");
            if let Err(report) = api.init_error("Runtime.InitError", &message).await {
                tracing::error!(error = %report, "could not report the init error");
            }
            Err(e)
        }
    }
}

fn set_trace_header(invocation: &Invocation) {
    match &invocation.trace_id {
        // The Runtime API documents this variable; the AWS SDK reads it for X-Ray.
        Some(trace) => std::env::set_var("_X_AMZN_TRACE_ID", trace),
        None => std::env::remove_var("_X_AMZN_TRACE_ID"),
    }
}
