//! What an operation is performed against, as span names and attributes say it.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::KeyValue;
use parking_lot::RwLock;

use super::{names, system};
use crate::message::{Destination, Entity, Source};

/// `messaging.system` for a backend named `broker_name` ([`Broker::name`](crate::Broker::name)):
/// `aws_sqs` (`aws.sns` when publishing to a topic), `servicebus`, `courier.memory`; a
/// backend courier does not know reports its own name.
pub fn system_of(broker_name: &str, publishing_to_topic: bool) -> Cow<'static, str> {
    match broker_name {
        "aws" if publishing_to_topic => Cow::Borrowed(system::AWS_SNS),
        "aws" => Cow::Borrowed(system::AWS_SQS),
        "azure" => Cow::Borrowed(system::SERVICE_BUS),
        "memory" => Cow::Borrowed(system::MEMORY),
        other => Cow::Owned(other.to_owned()),
    }
}

/// What courier does to a destination or source, as the conventions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Publishing to a topic.
    Publish,
    /// Sending to a queue.
    Send,
    /// Creating a message of a batch (its creation context).
    Create,
    /// Receiving.
    Receive,
    /// Processing (the handler).
    Process,
    /// Settling: acknowledging.
    Ack,
    /// Settling: giving back for redelivery.
    Nack,
    /// Settling: moving to the dead-letter queue.
    DeadLetter,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Publish,
        Operation::Send,
        Operation::Create,
        Operation::Receive,
        Operation::Process,
        Operation::Ack,
        Operation::Nack,
        Operation::DeadLetter,
    ];

    /// `messaging.operation.name`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Publish => "publish",
            Operation::Send => "send",
            Operation::Create => "create",
            Operation::Receive => "receive",
            Operation::Process => "process",
            Operation::Ack => "ack",
            Operation::Nack => "nack",
            Operation::DeadLetter => "dead_letter",
        }
    }

    /// `messaging.operation.type`.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Operation::Publish | Operation::Send => "send",
            Operation::Create => "create",
            Operation::Receive => "receive",
            Operation::Process => "process",
            Operation::Ack | Operation::Nack | Operation::DeadLetter => "settle",
        }
    }
}

/// A destination or source with its span names and attributes made once, for every
/// operation: `messaging.system`, `messaging.destination.name`,
/// `messaging.destination.subscription.name` for a subscription, and the operation's name
/// and type.
#[derive(Debug)]
pub(crate) struct Target {
    /// One per [`Operation::ALL`], in order: (span name, attributes).
    operations: Vec<(String, Vec<KeyValue>)>,
    /// The process attributes plus `courier.outcome`, one per [`OUTCOMES`].
    outcomes: Vec<Vec<KeyValue>>,
}

/// Values of `courier.outcome`.
pub(crate) const OUTCOMES: [&str; 4] = ["ack", "duplicate", "retry", "dead_letter"];

/// Service Bus's name for a dead-letter queue, under its entity: courier's dead-letter
/// queues are named after it whatever the backend (on SQS the queue is `<name>-dlq`).
const DEAD_LETTER_SUFFIX: &str = "/$DeadLetterQueue";

impl Target {
    fn new(display: &str, entity: Vec<KeyValue>) -> Self {
        let operations = Operation::ALL
            .iter()
            .map(|op| {
                let mut attributes = entity.clone();
                attributes.push(KeyValue::new(names::OPERATION_NAME, op.name()));
                attributes.push(KeyValue::new(names::OPERATION_TYPE, op.kind()));
                (format!("{} {display}", op.name()), attributes)
            })
            .collect::<Vec<_>>();
        let outcomes = OUTCOMES
            .iter()
            .map(|outcome| {
                let mut attributes = entity.clone();
                attributes.push(KeyValue::new(names::OPERATION_NAME, "process"));
                attributes.push(KeyValue::new(names::OPERATION_TYPE, "process"));
                attributes.push(KeyValue::new(names::OUTCOME, *outcome));
                attributes
            })
            .collect();
        Target {
            operations,
            outcomes,
        }
    }

    /// The process attributes plus `courier.outcome` = `outcome` (one of [`OUTCOMES`]).
    pub(crate) fn outcome_attributes(&self, outcome: &str) -> &[KeyValue] {
        let i = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(0);
        &self.outcomes[i]
    }

    pub(crate) fn destination(system: Cow<'static, str>, destination: &Destination) -> Self {
        let name = match destination {
            Destination::Topic(name) | Destination::Queue(name) => name,
        };
        let value: Arc<str> = Arc::from(name.as_str());
        Target::new(
            name,
            vec![
                KeyValue::new(names::SYSTEM, system),
                KeyValue::new(names::DESTINATION, value),
            ],
        )
    }

    pub(crate) fn source(system: Cow<'static, str>, source: &Source) -> Self {
        let suffix = if source.is_dead_letter() {
            DEAD_LETTER_SUFFIX
        } else {
            ""
        };
        match source.entity() {
            Entity::Queue(name) => {
                let name = format!("{name}{suffix}");
                let value: Arc<str> = Arc::from(name.as_str());
                Target::new(
                    &name,
                    vec![
                        KeyValue::new(names::SYSTEM, system),
                        KeyValue::new(names::DESTINATION, value),
                    ],
                )
            }
            Entity::Subscription { topic, name } => {
                let subscription: Arc<str> = Arc::from(format!("{name}{suffix}"));
                let topic_value: Arc<str> = Arc::from(topic.as_str());
                Target::new(
                    &format!("{topic}/{subscription}"),
                    vec![
                        KeyValue::new(names::SYSTEM, system),
                        KeyValue::new(names::DESTINATION, topic_value),
                        KeyValue::new(names::SUBSCRIPTION, subscription),
                    ],
                )
            }
        }
    }

    fn of(&self, op: Operation) -> &(String, Vec<KeyValue>) {
        let i = Operation::ALL.iter().position(|o| *o == op).unwrap_or(0);
        &self.operations[i]
    }

    /// The attributes of `op` on this target (for metrics, and the span's start).
    pub(crate) fn attributes(&self, op: Operation) -> &[KeyValue] {
        &self.of(op).1
    }

    /// `{operation} {destination}`, as the conventions name spans.
    pub(crate) fn span_name(&self, op: Operation) -> String {
        self.of(op).0.clone()
    }
}

/// The attributes plus `error.type`, for a failed operation's metrics.
pub(crate) fn with_error(attributes: &[KeyValue], error_type: &'static str) -> Vec<KeyValue> {
    let mut all = Vec::with_capacity(attributes.len() + 1);
    all.extend_from_slice(attributes);
    all.push(KeyValue::new(names::ERROR_TYPE, error_type));
    all
}

/// The targets seen, made once each (a worker reads one source; a process publishes to a
/// few destinations). Bounded: past [`Targets::KEPT`] the oldest is forgotten.
#[derive(Debug)]
pub(crate) struct Targets<K> {
    seen: RwLock<Vec<(K, Arc<Target>)>>,
}

impl<K> Default for Targets<K> {
    fn default() -> Self {
        Targets {
            seen: RwLock::new(Vec::new()),
        }
    }
}

impl<K: PartialEq + Clone> Targets<K> {
    const KEPT: usize = 64;

    /// The target of `key`, made by `make` the first time.
    pub(crate) fn get(&self, key: &K, make: impl FnOnce() -> Target) -> Arc<Target> {
        if let Some((_, t)) = self.seen.read().iter().find(|(k, _)| k == key) {
            return t.clone();
        }
        let target = Arc::new(make());
        let mut seen = self.seen.write();
        if seen.len() >= Self::KEPT {
            seen.remove(0);
        }
        seen.push((key.clone(), target.clone()));
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(t: &Target) -> Vec<(String, String)> {
        t.attributes(Operation::Receive)
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    #[test]
    fn subscriptions_name_topic_and_subscription() {
        let t = Target::source(
            system_of("azure", false),
            &Source::subscription("orders", "inventory"),
        );
        assert_eq!(t.span_name(Operation::Process), "process orders/inventory");
        assert_eq!(
            attrs(&t),
            [
                (names::SYSTEM.into(), "servicebus".into()),
                (names::DESTINATION.into(), "orders".into()),
                (names::SUBSCRIPTION.into(), "inventory".into()),
                (names::OPERATION_NAME.into(), "receive".into()),
                (names::OPERATION_TYPE.into(), "receive".into()),
            ]
        );
        let dlq = Target::source(
            system_of("aws", false),
            &Source::queue("audit").dead_letter(),
        );
        assert_eq!(
            dlq.span_name(Operation::Receive),
            "receive audit/$DeadLetterQueue"
        );
        assert_eq!(attrs(&dlq)[0].1, "aws_sqs");
    }

    #[test]
    fn publishing_to_an_sns_topic_is_aws_sns() {
        let t = Target::destination(system_of("aws", true), &Destination::topic("orders"));
        assert_eq!(t.span_name(Operation::Publish), "publish orders");
        assert_eq!(attrs(&t)[0].1, "aws.sns");
        assert_eq!(system_of("memory", true), "courier.memory");
        assert_eq!(system_of("kafka-of-mine", false), "kafka-of-mine");
    }
}
