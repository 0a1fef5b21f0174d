//! The operator's tools on SQS: how deep a queue is, putting one message back on a queue
//! or a subscription's own queue, and redriving a whole dead-letter queue with SQS's own
//! message move task.
//!
//! - Depth: `GetQueueAttributes` `ApproximateNumberOfMessages` (visible),
//!   `…NotVisible` (in flight) and `…Delayed`
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html>).
//!   SQS says nothing of the oldest message's age without CloudWatch
//!   (`ApproximateAgeOfOldestMessage`), so `oldest` stays unknown.
//! - Resubmit: `SendMessage` to the queue itself, or to a subscription's own SQS queue
//!   (never to its SNS topic, which would reach every subscription).
//! - Redrive of a whole dead-letter queue: `StartMessageMoveTask` from the dead-letter
//!   queue to its source queue, waited for with `ListMessageMoveTasks`
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html>,
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasks.html>).
//!   SQS moves the messages as they are: the dead-letter reason courier recorded travels
//!   with them, and courier's receive from a main queue drops it (see [`crate::receive`]),
//!   so a redriven message looks the same whichever way it went back.

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskError;
use aws_sdk_sqs::types::{ListMessageMoveTasksResultEntry, QueueAttributeName};
use courier_core::dead_letter::{Depth, RedriveReport};
use courier_core::duration::deadline_after;
use courier_core::{display_chain, Error, Message, Result, Source};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::{error, names, publish, AwsBroker};

/// How often a running move task is asked how far it got.
const MOVE_TASK_POLL: Duration = Duration::from_millis(500);
/// How long a redrive waits for its move task before it reports a timeout (the task
/// goes on in SQS).
const MOVE_TASK_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// [`Broker::depth`](courier_core::Broker::depth) on SQS.
pub(crate) async fn depth(broker: &AwsBroker, source: &Source) -> Result<Depth> {
    let what = source.to_string();
    let queue = broker
        .entities
        .queue(&names::queue_base(source), &what)
        .await?;
    let out = broker
        .sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| error::map("GetQueueAttributes", &what, e));
    let attributes = match out {
        Ok(out) => out.attributes.unwrap_or_default(),
        Err(e) => {
            if e.is_not_found() {
                broker.entities.forget();
            }
            return Err(e);
        }
    };
    let count = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse().ok());
    Ok(Depth::approximate(
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        None,
    ))
}

/// [`Broker::resubmit`](courier_core::Broker::resubmit) on SQS: SendMessage to the queue
/// of `source` itself. On a FIFO queue the message keeps its group, and its deduplication
/// id is derived from the one it had in the dead-letter queue ([`redrive_dedup_id`]).
pub(crate) async fn resubmit(
    broker: &AwsBroker,
    source: &Source,
    message: Message,
) -> Result<String> {
    if source.is_dead_letter() {
        return Err(Error::invalid_input(format!(
            "resubmitting to {source}: a message goes back to a queue or subscription, not to a dead-letter queue"
        )));
    }
    let what = source.to_string();
    let queue = broker
        .entities
        .queue(&names::queue_base(source), &what)
        .await?;
    let mut message = message;
    message.dedup_id = if queue.fifo {
        let from = message
            .dedup_id
            .as_deref()
            .or(message.message_id.as_deref());
        Some(redrive_dedup_id(from.ok_or_else(|| {
            Error::invalid_input(format!(
                "resubmitting to FIFO {what}: the message has neither a deduplication id nor a message id"
            ))
        })?))
    } else {
        None
    };
    let entry = publish::queue_entry(&message, &queue)?;
    publish::send(broker, &queue, entry).await
}

/// The deduplication id of a message going back from a FIFO dead-letter queue, made from
/// the one it has there: the same dead letter redriven twice within SQS's 5-minute window
/// is stored once
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html#SQS-SendMessage-request-MessageDeduplicationId>),
/// yet it differs from the id it was first sent with (an SQS redrive keeps that one): were
/// it the same, a redrive within 5 minutes of the first send would be dropped as a
/// duplicate of it, and the message lost once removed from the dead-letter queue. Hashed,
/// so it stays within SQS's 128 characters however often a message goes round.
pub fn redrive_dedup_id(dead_letter_dedup_id: &str) -> String {
    let digest = Sha256::digest(dead_letter_dedup_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("redrive-{hex}")
}

/// Why a move task could not be used; the caller falls back to receive-send-delete.
pub(crate) enum MoveTask {
    /// SQS (or the emulator) does not offer it, or this caller may not start one.
    Unavailable(Error),
    /// Anything else: reported as it is.
    Failed(Error),
}

/// Moves every message of `source`'s dead-letter queue back to `source` with
/// `StartMessageMoveTask`, and waits until SQS reports the task done.
pub(crate) async fn redrive_with_move_task(
    broker: &AwsBroker,
    source: &Source,
) -> std::result::Result<RedriveReport, MoveTask> {
    let dlq_source = source.dead_letter();
    let dlq = broker
        .entities
        .queue(&names::queue_base(&dlq_source), &dlq_source.to_string())
        .await
        .map_err(MoveTask::Failed)?;
    let main = broker
        .entities
        .queue(&names::queue_base(source), &source.to_string())
        .await
        .map_err(MoveTask::Failed)?;
    let what = dlq_source.to_string();
    // The newest task before ours: an ended task listed later is ours only if it started
    // after this one (SQS's clock on both sides, so this machine's clock plays no part).
    let earlier = newest_move_task(broker, &dlq.arn, &what)
        .await
        .map_err(MoveTask::Failed)?
        .map(|t| t.started_timestamp);
    let started = broker
        .sqs
        .start_message_move_task()
        .source_arn(&dlq.arn)
        .destination_arn(&main.arn)
        .send()
        .await;
    let handle = match started {
        Ok(out) => out.task_handle.unwrap_or_default(),
        Err(e) => {
            let unavailable = match e.as_service_error() {
                Some(StartMessageMoveTaskError::UnsupportedOperation(_)) => true,
                Some(other) => other.code() == Some("AccessDenied"),
                // An emulator without the operation answers 501 Not Implemented.
                None => e.raw_response().is_some_and(|r| r.status().as_u16() == 501),
            };
            let e = error::map("StartMessageMoveTask", &what, e);
            return Err(if unavailable {
                MoveTask::Unavailable(e)
            } else {
                MoveTask::Failed(e)
            });
        }
    };
    let ours = OurTask {
        handle: &handle,
        destination_arn: &main.arn,
        started_after: earlier,
    };
    let task = wait_for_move_task(broker, &dlq.arn, &ours, &what)
        .await
        .map_err(MoveTask::Failed)?;
    let mut report = RedriveReport {
        moved: u64::try_from(task.approximate_number_of_messages_moved).unwrap_or(0),
        method: "StartMessageMoveTask".into(),
        ..RedriveReport::default()
    };
    if task.status.as_deref() != Some("COMPLETED") {
        let left = task
            .approximate_number_of_messages_to_move
            .map(|n| n - task.approximate_number_of_messages_moved)
            .map_or_else(
                || "its other messages".to_owned(),
                |n| format!("{n} message(s)"),
            );
        report.failed.push((
            format!("move task {handle}"),
            format!(
                "{} ({}): {left} stay in {what}",
                task.status.as_deref().unwrap_or("no status"),
                task.failure_reason.as_deref().unwrap_or("no reason given"),
            ),
        ));
    }
    Ok(report)
}

/// What tells the move task a redrive started from the others of its dead-letter queue.
struct OurTask<'a> {
    /// The handle `StartMessageMoveTask` answered.
    handle: &'a str,
    /// The queue it moves messages to.
    destination_arn: &'a str,
    /// The `StartedTimestamp` of the newest task listed before it was started, if any.
    started_after: Option<i64>,
}

impl OurTask<'_> {
    /// Whether `task` is this one. `ListMessageMoveTasks` gives a task's handle only
    /// while it runs ("only populated for tasks that are in RUNNING status"), and a task
    /// just started may not be listed yet, in which case the newest listed is an earlier
    /// one: an ended task is ours only if it started after the newest one before ours
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html>).
    fn is(&self, task: &ListMessageMoveTasksResultEntry) -> bool {
        let same_destination = task
            .destination_arn
            .as_deref()
            .is_none_or(|d| d == self.destination_arn);
        let same_task = match task.task_handle.as_deref() {
            Some(h) if !self.handle.is_empty() => h == self.handle,
            _ => self
                .started_after
                .is_none_or(|earlier| task.started_timestamp > earlier),
        };
        same_destination && same_task
    }
}

/// The newest move task of the dead-letter queue `dlq_arn`, if it has had one.
async fn newest_move_task(
    broker: &AwsBroker,
    dlq_arn: &str,
    what: &str,
) -> Result<Option<ListMessageMoveTasksResultEntry>> {
    let out = broker
        .sqs
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .max_results(1)
        .send()
        .await
        .map_err(|e| error::map("ListMessageMoveTasks", what, e))?;
    Ok(out.results.unwrap_or_default().into_iter().next())
}

/// Polls `ListMessageMoveTasks` until the task `ours` has ended (only one runs at a time
/// per queue, so it is the newest one once listed).
async fn wait_for_move_task(
    broker: &AwsBroker,
    dlq_arn: &str,
    ours: &OurTask<'_>,
    what: &str,
) -> Result<ListMessageMoveTasksResultEntry> {
    let deadline = deadline_after(MOVE_TASK_PATIENCE);
    loop {
        if let Some(task) = newest_move_task(broker, dlq_arn, what).await? {
            if ours.is(&task) && task.status.as_deref() != Some("RUNNING") {
                return Ok(task);
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!(
                    "message move task {} of {what} (it goes on in SQS)",
                    ours.handle
                ),
                after: MOVE_TASK_PATIENCE,
            });
        }
        tokio::time::sleep(MOVE_TASK_POLL).await;
    }
}

/// Logs why a move task was not used.
pub(crate) fn log_fallback(source: &Source, e: &Error) {
    tracing::info!(
        error = %display_chain(e),
        %source,
        "StartMessageMoveTask is not available; redriving by receive, send and delete"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_dedup_ids_are_stable_distinct_and_short() {
        let a = redrive_dedup_id("6f1b0c9e-0000-4000-8000-000000000001");
        assert_eq!(a, redrive_dedup_id("6f1b0c9e-0000-4000-8000-000000000001"));
        assert_ne!(a, redrive_dedup_id("6f1b0c9e-0000-4000-8000-000000000002"));
        assert_ne!(a, "6f1b0c9e-0000-4000-8000-000000000001");
        let long = "x".repeat(128);
        let again = redrive_dedup_id(&redrive_dedup_id(&long));
        assert!(
            again.len() <= 128 && again.starts_with("redrive-"),
            "{again}"
        );
    }
}
