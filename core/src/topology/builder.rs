//! Building a topology in code, for programs that do not want a file.

use std::collections::BTreeMap;

use super::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use crate::error::{Error, Result};

/// Builds a [`Topology`] in code; [`build`](TopologyBuilder::build) validates it as a file
/// would be.
///
/// ```
/// use courier_core::Topology;
///
/// let topology = Topology::builder()
///     .topic("orders")
///     .subscription("orders", "inventory", Some(serde_json::json!({"type": ["OrderCreated"]})))
///     .subscription("orders", "audit", None)
///     .queue("emails")
///     .build()?;
/// assert_eq!(topology.subscriptions.len(), 2);
/// # Ok::<(), courier_core::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct TopologyBuilder {
    topology: Topology,
    problems: Vec<String>,
}

impl Topology {
    /// Starts building a topology in code.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }
}

impl TopologyBuilder {
    /// Adds a standard topic.
    pub fn topic(self, name: impl Into<String>) -> Self {
        self.topic_spec(TopicSpec::new(name))
    }

    /// Adds a topic with all its settings (FIFO, content-based deduplication).
    pub fn topic_spec(mut self, spec: TopicSpec) -> Self {
        self.topology.topics.push(spec);
        self
    }

    /// Adds a standard queue with default settings.
    pub fn queue(self, name: impl Into<String>) -> Self {
        self.queue_spec(QueueSpec::new(name))
    }

    /// Adds a queue with all its settings.
    pub fn queue_spec(mut self, spec: QueueSpec) -> Self {
        self.topology.queues.push(spec);
        self
    }

    /// Adds a subscription of `topic`; `filter` is an SNS-style filter policy (a JSON
    /// object of attribute name to conditions), `None` to receive everything.
    pub fn subscription(
        mut self,
        topic: impl Into<String>,
        name: impl Into<String>,
        filter: Option<serde_json::Value>,
    ) -> Self {
        let mut spec = SubscriptionSpec::new(topic, name);
        match filter {
            None => {}
            Some(serde_json::Value::Object(map)) => {
                spec.filter = Some(map.into_iter().collect::<BTreeMap<_, _>>());
            }
            Some(other) => self.problems.push(format!(
                "subscription {}/{}: the filter must be a JSON object, not {other}",
                spec.topic, spec.name
            )),
        }
        self.topology.subscriptions.push(spec);
        self
    }

    /// Adds a subscription with all its settings.
    pub fn subscription_spec(mut self, spec: SubscriptionSpec) -> Self {
        self.topology.subscriptions.push(spec);
        self
    }

    /// The topology, checked as a topology file is (names, references, filters).
    pub fn build(self) -> Result<Topology> {
        if !self.problems.is_empty() {
            return Err(Error::invalid_topology(format!(
                "topology built in code: {}",
                self.problems.join("; ")
            )));
        }
        let mut topology = self.topology;
        topology.validate("topology built in code")?;
        Ok(topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_topology_is_validated_like_a_file() {
        let err = Topology::builder()
            .subscription("nope", "inventory", None)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown topic 'nope'"), "{err}");
        let err = Topology::builder()
            .topic("orders")
            .subscription("orders", "inventory", Some(serde_json::json!(["x"])))
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
        let t = Topology::builder()
            .topic("orders")
            .subscription(
                "orders",
                "eu",
                Some(serde_json::json!({"region": [{"prefix": "eu-"}]})),
            )
            .build()
            .unwrap();
        assert!(t.subscriptions[0].parsed_filter().is_some());
    }
}
