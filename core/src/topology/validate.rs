//! Topology checks: names every cloud accepts, references that resolve, no collisions.
//!
//! Names must fit all backends at once, because the same file drives memory, AWS and
//! Azure: Service Bus subscription names are at most 50 characters, and Service Bus
//! queues and topics share one namespace. How long AWS names may be with the suffixes
//! courier adds, and which entities would share an SQS queue, is for the AWS backend to
//! say (`courier_aws::names::check_topology`), where those names are made.

use std::collections::{BTreeMap, BTreeSet};

use crate::filter::Filter;

use super::Topology;

/// The longest Service Bus subscription name.
const SUBSCRIPTION_MAX_NAME: usize = 50;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY_SECS: u32 = 43_200;
/// SQS's largest maxReceiveCount.
const MAX_RECEIVE_COUNT: u32 = 1_000;

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name is empty".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some(format!(
            "name '{name}' may only use letters, digits, '-' and '_'"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some(format!("name '{name}' must start with a letter or digit"));
    }
    if name.ends_with("-dlq") {
        return Some(format!(
            "name '{name}' ends with '-dlq', which courier reserves for dead-letter queues"
        ));
    }
    None
}

/// Every problem of the topology, each naming its entry.
pub(super) fn problems(t: &Topology) -> Vec<String> {
    let mut out = Vec::new();
    let mut topics = BTreeMap::new();
    for (i, topic) in t.topics.iter().enumerate() {
        let at = format!("topics[{i}] ({})", topic.name);
        if let Some(p) = name_problem(&topic.name) {
            out.push(format!("{at}: {p}"));
        }
        if topic.content_based_deduplication && !topic.fifo {
            out.push(format!(
                "{at}: content_based_deduplication needs fifo: true"
            ));
        }
        if topics.insert(topic.name.as_str(), topic).is_some() {
            out.push(format!("{at}: duplicate topic name"));
        }
    }

    // Queue names and Service Bus entity names (queues and topics) must each be unique.
    let mut queue_names: BTreeMap<&str, String> = BTreeMap::new();
    let mut sb_names: BTreeMap<&str, String> = topics
        .keys()
        .map(|n| (*n, format!("topic '{n}'")))
        .collect();

    for (i, queue) in t.queues.iter().enumerate() {
        let at = format!("queues[{i}] ({})", queue.name);
        if let Some(p) = name_problem(&queue.name) {
            out.push(format!("{at}: {p}"));
        }
        if queue.content_based_deduplication && !queue.fifo {
            out.push(format!(
                "{at}: content_based_deduplication needs fifo: true"
            ));
        }
        check_counts(
            &mut out,
            &at,
            queue.max_receive_count,
            queue.visibility_timeout_secs,
        );
        if let Some(other) =
            queue_names.insert(queue.name.as_str(), format!("queue '{}'", queue.name))
        {
            out.push(format!("{at}: duplicate name, also used by {other}"));
        }
        if let Some(other) = sb_names.insert(queue.name.as_str(), format!("queue '{}'", queue.name))
        {
            if other.starts_with("topic") {
                out.push(format!(
                    "{at}: a queue and {other} share the name; Service Bus keeps both in one namespace"
                ));
            }
        }
    }

    let mut subs = BTreeSet::new();
    for (i, sub) in t.subscriptions.iter().enumerate() {
        let at = format!("subscriptions[{i}] ({}/{})", sub.topic, sub.name);
        let topic = topics.get(sub.topic.as_str());
        if topic.is_none() {
            let known: Vec<&str> = topics.keys().copied().collect();
            out.push(format!(
                "{at}: unknown topic '{}' (topics: {})",
                sub.topic,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        }
        if let Some(p) = name_problem(&sub.name) {
            out.push(format!("{at}: {p}"));
        } else if sub.name.len() > SUBSCRIPTION_MAX_NAME {
            out.push(format!(
                "{at}: name is longer than Service Bus's {SUBSCRIPTION_MAX_NAME} characters"
            ));
        }
        check_counts(
            &mut out,
            &at,
            sub.max_receive_count,
            sub.visibility_timeout_secs,
        );
        if !subs.insert((sub.topic.as_str(), sub.name.as_str())) {
            out.push(format!("{at}: duplicate subscription"));
        }
        if let Some(policy) = &sub.filter {
            if let Err(e) = Filter::from_policy(policy) {
                out.push(format!("{at}: {e}"));
            }
        }
    }
    out
}

fn check_counts(out: &mut Vec<String>, at: &str, max_receive_count: u32, visibility: u32) {
    if !(1..=MAX_RECEIVE_COUNT).contains(&max_receive_count) {
        out.push(format!(
            "{at}: max_receive_count {max_receive_count} is outside 1..={MAX_RECEIVE_COUNT}"
        ));
    }
    if visibility > MAX_VISIBILITY_SECS {
        out.push(format!(
            "{at}: visibility_timeout_secs {visibility} is over {MAX_VISIBILITY_SECS} (12 hours)"
        ));
    }
}
