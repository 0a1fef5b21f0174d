//! SQS queues, each with its dead-letter queue, created or brought back to the topology.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use courier_core::topology::{QueueSpec, SubscriptionSpec, TopicSpec};
use courier_core::{Drift, EntityKind, Error, ProvisionAction, ProvisionReport, Result};
use serde_json::json;

use super::attribute_matches;
use crate::{error, names, wire, AwsBroker};

/// 4 days, the SQS default, stated explicitly.
const RETENTION_SECS: &str = "345600";
/// 14 days: longer than the source's, as AWS advises for dead-letter queues.
const DLQ_RETENTION_SECS: &str = "1209600";

/// A queue and its dead-letter queue, as the topology asks for them.
pub(super) struct QueuePair {
    base: String,
    fifo: bool,
    content_based_dedup: bool,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
}

impl QueuePair {
    pub(super) fn of_queue(q: &QueueSpec) -> Self {
        QueuePair {
            base: q.name.clone(),
            fifo: q.fifo,
            content_based_dedup: q.content_based_deduplication,
            max_receive_count: q.max_receive_count,
            visibility_timeout_secs: q.visibility_timeout_secs,
        }
    }

    /// A subscription's queue: FIFO when its topic is (deduplication is the topic's).
    pub(super) fn of_subscription(s: &SubscriptionSpec, topic: &TopicSpec) -> Self {
        QueuePair {
            base: names::subscription_queue_base(&s.topic, &s.name),
            fifo: topic.fifo,
            content_based_dedup: false,
            max_receive_count: s.max_receive_count,
            visibility_timeout_secs: s.visibility_timeout_secs,
        }
    }

    /// What both queues of the pair have.
    fn common_attributes(&self) -> Vec<(Attr, String)> {
        let mut common = vec![
            (
                Attr::MaximumMessageSize,
                wire::SQS_MAX_MESSAGE_SIZE.to_string(),
            ),
            (Attr::SqsManagedSseEnabled, "true".to_owned()),
            (
                Attr::VisibilityTimeout,
                self.visibility_timeout_secs.to_string(),
            ),
        ];
        if self.fifo {
            common.push((Attr::FifoQueue, "true".to_owned()));
        }
        common
    }
}

/// Ensures the dead-letter queue, then the queue (which redrives to it, and admits
/// SendMessage from `topic_arn` when it is a subscription's); returns the queue's ARN.
pub(super) async fn ensure_pair(
    broker: &AwsBroker,
    pair: &QueuePair,
    topic_arn: Option<&str>,
    report: &mut ProvisionReport,
) -> Result<String> {
    let main_name = names::queue_name(&pair.base, pair.fifo);
    let dlq_name = names::queue_name(&names::dead_letter_base(&pair.base), pair.fifo);

    let mut dlq_attributes = pair.common_attributes();
    dlq_attributes.push((Attr::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_owned()));
    let dlq = QueueToEnsure {
        kind: EntityKind::DeadLetterQueue,
        name: &dlq_name,
        fixed: dlq_attributes,
    };
    let dlq_arn = ensure(broker, dlq, report, |arn| {
        // Only its own queue may redrive into it.
        let allow = json!({"redrivePermission": "byQueue", "sourceQueueArns": [names::sibling_arn(arn, &main_name)]});
        vec![(Attr::RedriveAllowPolicy, allow.to_string())]
    })
    .await?;

    let mut main_attributes = pair.common_attributes();
    main_attributes.push((Attr::MessageRetentionPeriod, RETENTION_SECS.to_owned()));
    if pair.fifo {
        main_attributes.push((
            Attr::ContentBasedDeduplication,
            pair.content_based_dedup.to_string(),
        ));
    }
    let redrive =
        json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": pair.max_receive_count});
    main_attributes.push((Attr::RedrivePolicy, redrive.to_string()));
    let main = QueueToEnsure {
        kind: EntityKind::Queue,
        name: &main_name,
        fixed: main_attributes,
    };
    ensure(broker, main, report, |arn| match topic_arn {
        Some(topic) => vec![(Attr::Policy, topic_may_send(arn, topic))],
        None => Vec::new(),
    })
    .await
}

/// A queue policy that lets only the topic `topic_arn` send to the queue `queue_arn`.
fn topic_may_send(queue_arn: &str, topic_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "courier-topic-sends",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
        }]
    })
    .to_string()
}

/// One queue: its report line's kind, its SQS name, the attributes known beforehand.
struct QueueToEnsure<'a> {
    kind: EntityKind,
    name: &'a str,
    fixed: Vec<(Attr, String)>,
}

/// Creates or repairs one queue; `with_arn` gives the attributes that need its ARN.
/// Returns the ARN.
async fn ensure(
    broker: &AwsBroker,
    queue: QueueToEnsure<'_>,
    report: &mut ProvisionReport,
    with_arn: impl Fn(&str) -> Vec<(Attr, String)>,
) -> Result<String> {
    let what = format!("queue '{}'", queue.name);
    let (url, created) = url_or_create(broker, queue.name, &queue.fixed, &what).await?;
    let actual = broker.entities.queue_attributes(&url, &what).await?;
    let arn = actual
        .get(&Attr::QueueArn)
        .cloned()
        .ok_or_else(|| Error::backend(format!("{what} has no QueueArn")))?;
    let actual_fifo = actual.get(&Attr::FifoQueue).is_some_and(|v| v == "true");
    let wanted_fifo = queue
        .fixed
        .iter()
        .any(|(k, v)| *k == Attr::FifoQueue && v == "true");
    if actual_fifo != wanted_fifo {
        let why = format!("FifoQueue is {actual_fifo}, the topology says {wanted_fifo}");
        report.push(queue.kind, queue.name, ProvisionAction::Differs(why));
        return Ok(arn);
    }
    let desired = queue
        .fixed
        .into_iter()
        .chain(with_arn(&arn))
        .filter(|(k, _)| *k != Attr::FifoQueue);
    let changed: HashMap<Attr, String> = desired
        .filter(|(k, v)| !actual.get(k).is_some_and(|a| attribute_matches(a, v)))
        .collect();
    let drift = repair(broker, &url, changed, &what).await?;
    let action = if created {
        ProvisionAction::Created
    } else {
        drift.action()
    };
    report.push(queue.kind, queue.name, action);
    Ok(arn)
}

/// The queue's URL, creating it with `attributes` when it does not exist; whether it was
/// created.
async fn url_or_create(
    broker: &AwsBroker,
    name: &str,
    attributes: &[(Attr, String)],
    what: &str,
) -> Result<(String, bool)> {
    match broker.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => return Ok((out.queue_url.unwrap_or_default(), false)),
        Err(e) => {
            let e = error::map("GetQueueUrl", what, e);
            if !e.is_not_found() {
                return Err(e);
            }
        }
    }
    let out = broker
        .sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| error::map("CreateQueue", what, e))?;
    Ok((out.queue_url.unwrap_or_default(), true))
}

/// Sets the `changed` attributes in one call; returns them, sorted, as the drift.
async fn repair(
    broker: &AwsBroker,
    url: &str,
    changed: HashMap<Attr, String>,
    what: &str,
) -> Result<Drift> {
    let mut drift = Drift::default();
    if changed.is_empty() {
        return Ok(drift);
    }
    let mut keys: Vec<&str> = changed.keys().map(Attr::as_str).collect();
    keys.sort_unstable();
    keys.into_iter().for_each(|k| drift.note(k));
    broker
        .sqs
        .set_queue_attributes()
        .queue_url(url)
        .set_attributes(Some(changed))
        .send()
        .await
        .map_err(|e| error::map("SetQueueAttributes", what, e))?;
    Ok(drift)
}
