//! Provisioning a topology on SNS and SQS, idempotently.
//!
//! Each queue gets its dead-letter queue (`-dlq`, 14 days' retention) with a RedrivePolicy
//! (`maxReceiveCount` from the topology) and a RedriveAllowPolicy that admits only its own
//! queue; SQS-managed encryption; `MaximumMessageSize` set explicitly to 1 MiB (a new queue
//! would default to 256 KiB). Topics are encrypted with the AWS-managed `alias/aws/sns`
//! key. A subscription's queue admits SendMessage only from its topic, and is subscribed
//! with raw delivery and the filter policy. An existing entity whose settings differ is
//! updated and reported; one whose FIFO-ness differs cannot be changed and is reported
//! as differing.

mod queues;
mod subscriptions;
mod topics;

use std::collections::HashMap;

use courier_core::{Error, ProvisionReport, Result, Topology};
use serde_json::Value;

use crate::{names, AwsBroker};

use queues::QueuePair;

/// Provisions `topology`: its topics, then its queues, then the subscriptions' queues and
/// subscriptions.
pub(crate) async fn provision(broker: &AwsBroker, topology: &Topology) -> Result<ProvisionReport> {
    let topology = &checked(topology)?;
    let mut report = ProvisionReport::default();
    let mut topic_arns = HashMap::new();
    for topic in &topology.topics {
        let arn = topics::ensure(broker, topic, &mut report).await?;
        topic_arns.insert(topic.name.as_str(), arn);
    }
    for queue in &topology.queues {
        queues::ensure_pair(broker, &QueuePair::of_queue(queue), None, &mut report).await?;
    }
    for sub in &topology.subscriptions {
        let (Some(topic), Some(topic_arn)) = (
            topology.topic(&sub.topic),
            topic_arns.get(sub.topic.as_str()),
        ) else {
            return Err(Error::invalid_topology(format!(
                "unknown topic '{}'",
                sub.topic
            )));
        };
        let pair = QueuePair::of_subscription(sub, topic);
        let queue_arn = queues::ensure_pair(broker, &pair, Some(topic_arn), &mut report).await?;
        subscriptions::ensure(broker, sub, topic_arn, &queue_arn, &mut report).await?;
    }
    broker.entities.forget();
    Ok(report)
}

/// The topology checked against AWS's names, then validated by every backend's rules
/// (which also parses its filters).
fn checked(topology: &Topology) -> Result<Topology> {
    let problems = names::check_topology(topology);
    if !problems.is_empty() {
        return Err(Error::invalid_topology(format!(
            "topology: {}",
            problems.join("; ")
        )));
    }
    let mut topology = topology.clone();
    topology.validate("topology")?;
    Ok(topology)
}

/// Whether an attribute's actual value is the desired one; JSON documents (policies)
/// are compared by meaning, numbers and strings alike (`"3"` and `3`).
fn attribute_matches(actual: &str, desired: &str) -> bool {
    fn normalized(v: Value) -> Value {
        match v {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Array(a) => Value::Array(a.into_iter().map(normalized).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, normalized(v))).collect())
            }
            other => other,
        }
    }
    if actual == desired {
        return true;
    }
    match (
        serde_json::from_str::<Value>(actual),
        serde_json::from_str::<Value>(desired),
    ) {
        (Ok(a), Ok(d)) if a.is_object() => normalized(a) == normalized(d),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_match_by_meaning() {
        assert!(attribute_matches("30", "30"));
        assert!(!attribute_matches("30", "31"));
        assert!(attribute_matches(
            r#"{"maxReceiveCount":"3","deadLetterTargetArn":"a"}"#,
            r#"{"deadLetterTargetArn": "a", "maxReceiveCount": 3}"#
        ));
        assert!(!attribute_matches(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(!attribute_matches("[1]", "[1.0]"));
    }
}
