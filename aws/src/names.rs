//! The AWS names courier gives to a topology's entities.
//!
//! These are the names Terraform (`infra/modules/aws`) must create too; tests compare both.
//!
//! | topology | AWS |
//! | --- | --- |
//! | topic `orders` | SNS topic `orders` (`orders.fifo` when FIFO) |
//! | queue `audit` | SQS queue `audit`, dead-letter queue `audit-dlq` |
//! | subscription `orders/inventory` | SQS queue `orders-inventory`, dead-letter queue `orders-inventory-dlq` |
//!
//! FIFO queues (and the queues of FIFO topics' subscriptions) end in `.fifo`, their
//! dead-letter queues too (`audit-dlq.fifo`).

use courier_core::{Entity, Source};

const FIFO_SUFFIX: &str = ".fifo";

/// The SNS topic name of a topology topic.
pub fn topic_name(topic: &str, fifo: bool) -> String {
    with_suffix(topic.to_owned(), fifo)
}

/// The base of the SQS queue name of a source, without `.fifo` (with `-dlq` for a
/// dead-letter queue).
pub fn queue_base(source: &Source) -> String {
    let base = match source.entity() {
        Entity::Queue(name) => name.clone(),
        Entity::Subscription { topic, name } => subscription_queue_base(topic, name),
    };
    if source.is_dead_letter() {
        dead_letter_base(&base)
    } else {
        base
    }
}

/// The queue name base of a subscription: `<topic>-<subscription>`.
pub fn subscription_queue_base(topic: &str, subscription: &str) -> String {
    format!("{topic}-{subscription}")
}

/// The dead-letter queue name base of a queue name base: `<base>-dlq`.
pub fn dead_letter_base(base: &str) -> String {
    format!("{base}-dlq")
}

/// The SQS queue name for a base: `.fifo` appended when FIFO.
pub fn queue_name(base: &str, fifo: bool) -> String {
    with_suffix(base.to_owned(), fifo)
}

fn with_suffix(mut name: String, fifo: bool) -> String {
    if fifo {
        name.push_str(FIFO_SUFFIX);
    }
    name
}

/// Whether an SQS or SNS name is FIFO.
pub fn is_fifo(name: &str) -> bool {
    name.ends_with(FIFO_SUFFIX)
}

/// The last part of an ARN (`arn:aws:sqs:us-east-1:000000000000:name` -> `name`).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// The ARN of a sibling resource: the same ARN with another name.
pub fn sibling_arn(arn: &str, name: &str) -> String {
    match arn.rsplit_once(':') {
        Some((prefix, _)) => format!("{prefix}:{name}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_table() {
        assert_eq!(topic_name("orders", true), "orders.fifo");
        assert_eq!(
            queue_base(&Source::subscription("orders", "inventory")),
            "orders-inventory"
        );
        assert_eq!(
            queue_base(&Source::queue("audit").dead_letter()),
            "audit-dlq"
        );
        assert_eq!(
            queue_name(&dead_letter_base("audit"), true),
            "audit-dlq.fifo"
        );
        assert_eq!(
            queue_base(&Source::queue("a").dead_letter().dead_letter()),
            "a-dlq"
        );
        assert_eq!(
            arn_name("arn:aws:sqs:us-east-1:000000000000:audit"),
            "audit"
        );
        assert_eq!(
            sibling_arn("arn:aws:sqs:us-east-1:000000000000:audit-dlq", "audit"),
            "arn:aws:sqs:us-east-1:000000000000:audit"
        );
    }
}
