//! The topology file: topics, queues and subscriptions, the single source of truth for
//! provisioning, the in-memory broker and Terraform.
//!
//! ```yaml
//! topics:
//!   - name: orders            # fifo: false, content_based_deduplication: false
//! queues:
//!   - name: audit
//!     max_receive_count: 5          # deliveries before dead-lettering (default 5)
//!     visibility_timeout_secs: 30   # default 30
//! subscriptions:
//!   - topic: orders
//!     name: inventory
//!     filter: { type: [OrderCreated] }
//! ```
//!
//! Every queue and subscription has a dead-letter queue. See [`crate::filter`] for filters.

mod builder;
mod validate;

pub use builder::TopologyBuilder;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::filter::Filter;

/// Deliveries before a message is dead-lettered, unless the topology says otherwise.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// Visibility timeout / lock duration in seconds, unless the topology says otherwise.
pub const DEFAULT_VISIBILITY_TIMEOUT_SECS: u32 = 30;

fn default_max_receive_count() -> u32 {
    DEFAULT_MAX_RECEIVE_COUNT
}

fn default_visibility_timeout_secs() -> u32 {
    DEFAULT_VISIBILITY_TIMEOUT_SECS
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Name (letters, digits, `-`, `_`).
    pub name: String,
    /// FIFO: ordered per group, deduplicated.
    #[serde(default)]
    pub fifo: bool,
    /// FIFO only: deduplicate by body when a message has no dedup id.
    #[serde(default)]
    pub content_based_deduplication: bool,
}

/// A queue (with its dead-letter queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Name (letters, digits, `-`, `_`).
    pub name: String,
    /// FIFO: ordered per group, deduplicated.
    #[serde(default)]
    pub fifo: bool,
    /// FIFO only: deduplicate by body when a message has no dedup id.
    #[serde(default)]
    pub content_based_deduplication: bool,
    /// Deliveries before a message moves to the dead-letter queue.
    #[serde(default = "default_max_receive_count")]
    pub max_receive_count: u32,
    /// How long a received message stays invisible to other consumers.
    #[serde(default = "default_visibility_timeout_secs")]
    pub visibility_timeout_secs: u32,
}

/// A subscription of a topic (with its dead-letter queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// The topic it subscribes to.
    pub topic: String,
    /// Its name, unique within the topic.
    pub name: String,
    /// Which messages it receives (all, when absent), in the SNS filter-policy vocabulary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BTreeMap<String, serde_json::Value>>,
    /// Deliveries before a message moves to the dead-letter queue.
    #[serde(default = "default_max_receive_count")]
    pub max_receive_count: u32,
    /// How long a received message stays invisible to other consumers.
    #[serde(default = "default_visibility_timeout_secs")]
    pub visibility_timeout_secs: u32,
    #[serde(skip)]
    parsed_filter: Option<Filter>,
}

impl SubscriptionSpec {
    /// A subscription receiving everything, with default settings.
    pub fn new(topic: impl Into<String>, name: impl Into<String>) -> Self {
        SubscriptionSpec {
            topic: topic.into(),
            name: name.into(),
            filter: None,
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            visibility_timeout_secs: DEFAULT_VISIBILITY_TIMEOUT_SECS,
            parsed_filter: None,
        }
    }

    /// The parsed filter; `None` receives everything. Set by [`Topology::validate`].
    pub fn parsed_filter(&self) -> Option<&Filter> {
        self.parsed_filter.as_ref()
    }
}

impl QueueSpec {
    /// A standard queue with default settings.
    pub fn new(name: impl Into<String>) -> Self {
        QueueSpec {
            name: name.into(),
            fifo: false,
            content_based_deduplication: false,
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            visibility_timeout_secs: DEFAULT_VISIBILITY_TIMEOUT_SECS,
        }
    }
}

impl TopicSpec {
    /// A standard topic.
    pub fn new(name: impl Into<String>) -> Self {
        TopicSpec {
            name: name.into(),
            fifo: false,
            content_based_deduplication: false,
        }
    }
}

/// Topics, queues and subscriptions, validated.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Topics.
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<QueueSpec>,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSpec>,
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_topology(format!(
                "cannot read topology file '{}': {e}",
                path.display()
            ))
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates topology YAML; `origin` names it in errors (e.g. the file name).
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let mut topology: Topology = serde_yaml_ng::from_str(text).map_err(|e| {
            Error::invalid_topology(format!("{origin}: {}", e.to_string().replace('\n', " ")))
        })?;
        topology.validate(origin)?;
        Ok(topology)
    }

    /// Checks the topology and parses its filters; errors name `origin`, the entry and
    /// every problem found, on one line.
    pub fn validate(&mut self, origin: &str) -> Result<()> {
        let problems = validate::problems(self);
        if !problems.is_empty() {
            return Err(Error::invalid_topology(format!(
                "{origin}: {}",
                problems.join("; ")
            )));
        }
        for sub in &mut self.subscriptions {
            sub.parsed_filter = match &sub.filter {
                Some(policy) => Some(Filter::from_policy(policy).map_err(|e| {
                    Error::invalid_topology(format!(
                        "{origin}: subscription {}/{}: {e}",
                        sub.topic, sub.name
                    ))
                })?),
                None => None,
            };
        }
        Ok(())
    }

    /// The topic with this name.
    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The example e-commerce topology: the `orders` topic and its `inventory`, `payment`,
    /// `shipping` and `notification` subscriptions, each for `OrderCreated`.
    pub fn example() -> Self {
        Self::from_yaml(EXAMPLE_YAML, "example topology").expect("the example topology is valid")
    }
}

/// The example topology, as YAML.
pub const EXAMPLE_YAML: &str = include_str!("../../../topology.yaml");

#[cfg(test)]
mod tests;
