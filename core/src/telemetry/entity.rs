//! What an operation is performed against, as span names and attributes say it.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::KeyValue;

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

/// A destination or source, ready for spans and metrics: its span-name part and its
/// attributes (`messaging.system`, `messaging.destination.name`, and
/// `messaging.destination.subscription.name` for a subscription).
#[derive(Debug)]
pub(crate) struct Target {
    /// `orders`, `orders/inventory`, `audit/$DeadLetterQueue`, …
    pub(crate) display: String,
    /// The attributes every operation on it carries.
    pub(crate) attributes: Vec<KeyValue>,
}

/// Service Bus's name for a dead-letter queue, under its entity: courier's dead-letter
/// queues are named after it whatever the backend (on SQS the queue is `<name>-dlq`).
const DEAD_LETTER_SUFFIX: &str = "/$DeadLetterQueue";

impl Target {
    pub(crate) fn destination(system: Cow<'static, str>, destination: &Destination) -> Self {
        let name = match destination {
            Destination::Topic(name) | Destination::Queue(name) => name,
        };
        let name: Arc<str> = Arc::from(name.as_str());
        Target {
            display: name.to_string(),
            attributes: vec![
                KeyValue::new(names::SYSTEM, system),
                KeyValue::new(names::DESTINATION, name),
            ],
        }
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
                Target {
                    display: name.clone(),
                    attributes: vec![
                        KeyValue::new(names::SYSTEM, system),
                        KeyValue::new(names::DESTINATION, name),
                    ],
                }
            }
            Entity::Subscription { topic, name } => {
                let subscription = format!("{name}{suffix}");
                Target {
                    display: format!("{topic}/{subscription}"),
                    attributes: vec![
                        KeyValue::new(names::SYSTEM, system),
                        KeyValue::new(names::DESTINATION, topic.clone()),
                        KeyValue::new(names::SUBSCRIPTION, subscription),
                    ],
                }
            }
        }
    }

    /// The attributes plus the operation's name and type, and `extra`.
    pub(crate) fn with_operation(
        &self,
        name: &'static str,
        kind: &'static str,
        extra: impl IntoIterator<Item = KeyValue>,
    ) -> Vec<KeyValue> {
        let mut all = Vec::with_capacity(self.attributes.len() + 4);
        all.extend_from_slice(&self.attributes);
        all.push(KeyValue::new(names::OPERATION_NAME, name));
        all.push(KeyValue::new(names::OPERATION_TYPE, kind));
        all.extend(extra);
        all
    }

    /// `{operation} {destination}`, as the conventions name spans.
    pub(crate) fn span_name(&self, operation: &str) -> String {
        format!("{operation} {}", self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(t: &Target) -> Vec<(String, String)> {
        t.attributes
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
        assert_eq!(t.span_name("process"), "process orders/inventory");
        assert_eq!(
            attrs(&t),
            [
                (names::SYSTEM.into(), "servicebus".into()),
                (names::DESTINATION.into(), "orders".into()),
                (names::SUBSCRIPTION.into(), "inventory".into())
            ]
        );
        let dlq = Target::source(
            system_of("aws", false),
            &Source::queue("audit").dead_letter(),
        );
        assert_eq!(dlq.span_name("receive"), "receive audit/$DeadLetterQueue");
        assert_eq!(attrs(&dlq)[0].1, "aws_sqs");
    }

    #[test]
    fn publishing_to_an_sns_topic_is_aws_sns() {
        let t = Target::destination(system_of("aws", true), &Destination::topic("orders"));
        assert_eq!(t.span_name("publish"), "publish orders");
        assert_eq!(attrs(&t)[0].1, "aws.sns");
        assert_eq!(system_of("memory", true), "courier.memory");
        assert_eq!(system_of("kafka-of-mine", false), "kafka-of-mine");
    }
}
