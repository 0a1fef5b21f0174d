//! What a courier `bootstrap` runs, on the official Rust runtime client
//! ([`lambda_runtime`]): the adapters as `service_fn` handlers of a
//! [`lambda_runtime::Runtime`] with its tracing layer.
//!
//! - The event reaches the handler as the raw JSON text
//!   (`LambdaEvent<Box<RawValue>>`), which the adapter reads with borrowed strings
//!   ([`crate::event`]); an event that is not an SQS (SNS) event fails the invocation
//!   with `Runtime.InvalidEvent`.
//! - An SQS invocation is answered before the invocation's deadline
//!   ([`lambda_runtime::Context::deadline`], less [`RESPONSE_MARGIN`]): records not
//!   finished by then are listed as failed instead of Lambda timing out the invocation
//!   and redelivering the whole batch.
//! - An error before the loop starts is reported to `/runtime/init/error` first, as a
//!   custom runtime must ([`init`]).

pub mod init;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use courier_aws::dead_letter_queues::DeadLetterQueues;
use courier_core::worker::{MemoryIdempotencyStore, Router};
use lambda_runtime::{layers::TracingLayer, service_fn, Diagnostic, LambdaEvent, Runtime};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::event::{SnsEvent, SqsEvent};
use crate::sns::SnsAdapter;
use crate::sqs::{BatchResponse, SqsAdapter};
use crate::telemetry::Telemetry;

/// Boxed errors, as the runtime reports them (`lambda_runtime::Error`).
pub type BoxError = lambda_runtime::Error;

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
    let (adapter, telemetry) = init::initialise(async {
        let telemetry = Telemetry::from_env()?;
        let adapter = telemetry.sqs(sqs_adapter(router).await?);
        Ok((adapter, telemetry))
    })
    .await?;
    let handler = service_fn(|event| handle_sqs(&adapter, &telemetry, event));
    Runtime::new(handler).layer(TracingLayer::new()).run().await
}

/// Runs `router` as an SNS-triggered function until the runtime stops it.
pub async fn run_sns(router: Router) -> Result<(), BoxError> {
    let (adapter, telemetry) = init::initialise(async {
        let telemetry = Telemetry::from_env()?;
        let adapter = telemetry.sns(SnsAdapter::new(router));
        Ok((adapter, telemetry))
    })
    .await?;
    let handler = service_fn(|event| handle_sns(&adapter, &telemetry, event));
    Runtime::new(handler).layer(TracingLayer::new()).run().await
}

/// The SQS handler: reads the event, runs the adapter until the invocation's deadline
/// (less [`RESPONSE_MARGIN`]), exports the telemetry and answers with the partial batch
/// response.
async fn handle_sqs(
    adapter: &SqsAdapter,
    telemetry: &Telemetry,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<BatchResponse, Diagnostic> {
    let deadline = event.context.deadline();
    let records: SqsEvent<'_> = serde_json::from_str(event.payload.get())
        .map_err(|e| invalid_event(format!("the event is not an SQS event: {e}")))?;
    let response = adapter
        .handle_until(&records, Some(before(deadline, RESPONSE_MARGIN)))
        .await;
    // Lambda may freeze the environment as soon as it has the answer.
    telemetry.flush(before(deadline, RESPONSE_MARGIN / 2)).await;
    Ok(response)
}

/// The SNS handler: `Ok` when every record succeeded, else the invocation fails with
/// the reasons (for Lambda's retries and the on-failure destination). The telemetry is
/// exported before answering either way.
async fn handle_sns(
    adapter: &SnsAdapter,
    telemetry: &Telemetry,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<(), Diagnostic> {
    let deadline = event.context.deadline();
    let records: SnsEvent<'_> = serde_json::from_str(event.payload.get())
        .map_err(|e| invalid_event(format!("the event is not an SNS event: {e}")))?;
    let result = adapter.handle(&records).await;
    telemetry.flush(before(deadline, RESPONSE_MARGIN / 2)).await;
    result.map_err(|failure| {
        let message = failure.to_string();
        tracing::error!(%message, "invocation failed");
        Diagnostic {
            error_type: "SnsFailure".into(),
            error_message: message,
        }
    })
}

/// `margin` before an invocation's `deadline`, as an instant of the runtime's clock: the
/// records' work ends at `before(deadline, RESPONSE_MARGIN)`, the telemetry's export at
/// half that margin, and the answer is sent in what is left.
fn before(deadline: SystemTime, margin: Duration) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(margin)
}

fn invalid_event(message: String) -> Diagnostic {
    tracing::error!(%message);
    Diagnostic {
        error_type: "Runtime.InvalidEvent".into(),
        error_message: message,
    }
}

async fn sqs_adapter(router: Router) -> Result<SqsAdapter, BoxError> {
    let mut adapter =
        SqsAdapter::new(router).idempotency(Arc::new(MemoryIdempotencyStore::default()));
    if DeadLetters::from_env()? == DeadLetters::Sqs {
        let queues = DeadLetterQueues::connect(&Default::default()).await?;
        adapter = adapter.dead_letters(Arc::new(queues));
    }
    Ok(adapter)
}
