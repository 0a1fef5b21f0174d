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
//!
//! [`check_topology`] checks a topology against these names: SQS queue names of at most
//! 80 characters with the suffixes courier adds, SNS topic names of at most 256, and no
//! two entities on one SQS queue.

use std::collections::BTreeMap;

use courier_core::{Entity, Source, Topology};

const FIFO_SUFFIX: &str = ".fifo";
const DEAD_LETTER_SUFFIX: &str = "-dlq";
/// The longest SQS queue name
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html>).
const SQS_MAX_NAME: usize = 80;
/// The longest SNS topic name, `.fifo` included
/// (<https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html>).
const SNS_MAX_NAME: usize = 256;

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
    format!("{base}{DEAD_LETTER_SUFFIX}")
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

/// The queue name in an SQS queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`,
/// or LocalStack's `http://HOST/queue/REGION/ACCOUNT/NAME`): the last path segment, after
/// a 12-digit account id; `None` when `s` is not such a URL.
///
/// A request's reply address is its reply queue's URL (what `SendMessage` takes), so a
/// queue may be named by URL wherever a destination is.
pub fn queue_name_of_url(s: &str) -> Option<&str> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let mut segments = rest.rsplit('/');
    let (name, account) = (segments.next()?, segments.next()?);
    let is_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let has_host = segments.next().is_some_and(|h| !h.is_empty());
    (is_account && has_host && !name.is_empty()).then_some(name)
}

/// The ARN of a sibling resource: the same ARN with another name.
pub fn sibling_arn(arn: &str, name: &str) -> String {
    match arn.rsplit_once(':') {
        Some((prefix, _)) => format!("{prefix}:{name}"),
        None => name.to_owned(),
    }
}

/// Every way `t` does not fit AWS's names, each naming its entry (e.g. `queues[0]
/// (audit): …`): names longer than SQS or SNS allow with the suffixes courier adds, and
/// entities whose SQS queues would be the same queue. Names that no backend accepts
/// (characters, the reserved `-dlq` ending) are [`Topology::validate`]'s to report.
pub fn check_topology(t: &Topology) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, topic) in t.topics.iter().enumerate() {
        let name = topic_name(&topic.name, topic.fifo);
        if name.len() > SNS_MAX_NAME {
            problems.push(format!(
                "topics[{i}] ({}): name is too long: as '{name}' it exceeds SNS's {SNS_MAX_NAME} characters",
                topic.name
            ));
        }
    }
    // Which entity each SQS queue name (without `.fifo`) belongs to.
    let mut queues: BTreeMap<String, String> = BTreeMap::new();
    for (i, queue) in t.queues.iter().enumerate() {
        let at = format!("queues[{i}] ({})", queue.name);
        if longest_queue_name(&queue.name, queue.fifo) > SQS_MAX_NAME {
            problems.push(format!(
                "{at}: name is too long: with '{DEAD_LETTER_SUFFIX}'{} it exceeds SQS's {SQS_MAX_NAME} characters",
                if queue.fifo { " and '.fifo'" } else { "" }
            ));
        }
        queues
            .entry(queue.name.clone())
            .or_insert_with(|| format!("queue '{}'", queue.name));
    }
    for (i, sub) in t.subscriptions.iter().enumerate() {
        let at = format!("subscriptions[{i}] ({}/{})", sub.topic, sub.name);
        let fifo = t.topic(&sub.topic).is_some_and(|topic| topic.fifo);
        let base = subscription_queue_base(&sub.topic, &sub.name);
        if longest_queue_name(&base, fifo) > SQS_MAX_NAME {
            problems.push(format!(
                "{at}: the subscription's SQS queue '{}' is longer than {SQS_MAX_NAME} characters",
                queue_name(&dead_letter_base(&base), fifo)
            ));
        }
        let owner = format!("subscription {}/{}", sub.topic, sub.name);
        match queues.get(&base) {
            // The same subscription twice is Topology::validate's to report.
            Some(other) if *other != owner => problems.push(format!(
                "{at}: its SQS queue '{base}' collides with {other}"
            )),
            Some(_) => {}
            None => {
                queues.insert(base, owner);
            }
        }
    }
    problems
}

/// The longest SQS name an entity with this base gets: its dead-letter queue's.
fn longest_queue_name(base: &str, fifo: bool) -> usize {
    queue_name(&dead_letter_base(base), fifo).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems as provisioning reports them: origin, every problem, one line.
    fn problems(yaml: &str) -> String {
        let t = Topology::from_yaml(yaml, "t.yaml").expect("valid for every backend's rules");
        format!("t.yaml: {}", check_topology(&t).join("; "))
    }

    #[test]
    fn topologies_are_checked_against_aws_names() {
        let long = "a".repeat(77);
        for (yaml, expected) in [
            (
                "topics: [{name: orders}]\nqueues: [{name: orders-inventory}]\nsubscriptions: [{topic: orders, name: inventory}]".to_owned(),
                "t.yaml: subscriptions[0] (orders/inventory): its SQS queue 'orders-inventory' collides with queue 'orders-inventory'",
            ),
            (
                format!("queues: [{{name: {long}}}]"),
                "name is too long: with '-dlq' it exceeds SQS's 80 characters",
            ),
            (
                format!("queues: [{{name: {}, fifo: true}}]", "a".repeat(72)),
                "with '-dlq' and '.fifo' it exceeds",
            ),
            (
                format!("topics: [{{name: {}}}]\nsubscriptions: [{{topic: {0}, name: s}}]", "t".repeat(76)),
                "subscriptions[0] (",
            ),
            (
                format!("topics: [{{name: {}, fifo: true}}]", "t".repeat(252)),
                "it exceeds SNS's 256 characters",
            ),
        ] {
            let e = problems(&yaml);
            assert!(e.contains(expected), "{yaml}\n  gave: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        assert_eq!(problems("queues: [{name: a}]"), "t.yaml: ");
        let e = problems(&format!(
            "topics: [{{name: a-b}}, {{name: a}}]\nqueues: [{{name: {long}}}]\nsubscriptions: [{{topic: a-b, name: c}}, {{topic: a, name: b-c}}]"
        ));
        assert!(
            e.contains("queues[0]") && e.contains("subscriptions[1] (a/b-c): its SQS queue 'a-b-c' collides with subscription a-b/c"),
            "every problem is reported: {e}"
        );
    }

    #[test]
    fn queue_urls_name_their_queue() {
        assert_eq!(
            queue_name_of_url("https://sqs.eu-west-1.amazonaws.com/111122223333/courier-reply-ab"),
            Some("courier-reply-ab")
        );
        assert_eq!(
            queue_name_of_url("http://127.0.0.1:4566/queue/us-east-1/000000000000/q.fifo"),
            Some("q.fifo")
        );
        for not_a_url in [
            "orders",
            "http://host/",
            "https://host/111122223333/",
            "https://111122223333/q",
            "ftp://h/111122223333/q",
            "http://h/1111/q",
        ] {
            assert_eq!(queue_name_of_url(not_a_url), None, "{not_a_url}");
        }
    }

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
