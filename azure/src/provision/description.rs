//! Entity descriptions as the management API has them: read whole from the service's
//! entry, changed only where courier manages a setting, and written back whole in the
//! schema's element order. An update (`PUT` with `If-Match: *`) replaces the description:
//! an element left out reverts to the service's default, and the service reads elements in
//! schema order. Elements are copied as they came, those courier does not know included.
//!
//! The element orders are those of Microsoft's Python SDK (azure-servicebus,
//! `management/_model_workaround.py`, `MODEL_CLASS_ATTRIBUTES`, "The tags sequence is
//! important to service").

use courier_core::{EntityKind, Error, Result};

use super::atom::{self, SERVICE_BUS_NS, XSI_NS};

/// `QueueDescription` elements, in schema order.
const QUEUE: &[&str] = &[
    "LockDuration",
    "MaxSizeInMegabytes",
    "RequiresDuplicateDetection",
    "RequiresSession",
    "DefaultMessageTimeToLive",
    "DeadLetteringOnMessageExpiration",
    "DuplicateDetectionHistoryTimeWindow",
    "MaxDeliveryCount",
    "EnableBatchedOperations",
    "SizeInBytes",
    "MessageCount",
    "IsAnonymousAccessible",
    "AuthorizationRules",
    "Status",
    "CreatedAt",
    "UpdatedAt",
    "AccessedAt",
    "SupportOrdering",
    "CountDetails",
    "AutoDeleteOnIdle",
    "EnablePartitioning",
    "EntityAvailabilityStatus",
    "EnableExpress",
    "ForwardTo",
    "UserMetadata",
    "ForwardDeadLetteredMessagesTo",
    "MaxMessageSizeInKilobytes",
];

/// `TopicDescription` elements, in schema order.
const TOPIC: &[&str] = &[
    "DefaultMessageTimeToLive",
    "MaxSizeInMegabytes",
    "RequiresDuplicateDetection",
    "DuplicateDetectionHistoryTimeWindow",
    "EnableBatchedOperations",
    "SizeInBytes",
    "FilteringMessagesBeforePublishing",
    "IsAnonymousAccessible",
    "AuthorizationRules",
    "Status",
    "CreatedAt",
    "UpdatedAt",
    "AccessedAt",
    "SupportOrdering",
    "CountDetails",
    "SubscriptionCount",
    "AutoDeleteOnIdle",
    "EnablePartitioning",
    "EntityAvailabilityStatus",
    "EnableSubscriptionPartitioning",
    "EnableExpress",
    "UserMetadata",
    "MaxMessageSizeInKilobytes",
];

/// `SubscriptionDescription` elements, in schema order.
const SUBSCRIPTION: &[&str] = &[
    "LockDuration",
    "RequiresSession",
    "DefaultMessageTimeToLive",
    "DeadLetteringOnMessageExpiration",
    "DeadLetteringOnFilterEvaluationExceptions",
    "MessageCount",
    "MaxDeliveryCount",
    "EnableBatchedOperations",
    "Status",
    "ForwardTo",
    "CreatedAt",
    "UpdatedAt",
    "AccessedAt",
    "CountDetails",
    "ForwardDeadLetteredMessagesTo",
    "AutoDeleteOnIdle",
    "EntityAvailabilityStatus",
    "UserMetadata",
];

/// Which description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DescriptionKind {
    Queue,
    Topic,
    Subscription,
}

impl DescriptionKind {
    fn element(self) -> &'static str {
        match self {
            DescriptionKind::Queue => "QueueDescription",
            DescriptionKind::Topic => "TopicDescription",
            DescriptionKind::Subscription => "SubscriptionDescription",
        }
    }

    fn order(self) -> &'static [&'static str] {
        match self {
            DescriptionKind::Queue => QUEUE,
            DescriptionKind::Topic => TOPIC,
            DescriptionKind::Subscription => SUBSCRIPTION,
        }
    }

    /// The entity kind courier reports.
    pub(crate) fn entity_kind(self) -> EntityKind {
        match self {
            DescriptionKind::Queue => EntityKind::Queue,
            DescriptionKind::Topic => EntityKind::Topic,
            DescriptionKind::Subscription => EntityKind::Subscription,
        }
    }
}

/// One child element: its name, its XML as written, its text when it has only text.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    name: String,
    xml: String,
    text: Option<String>,
}

/// A queue, topic or subscription description.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Description {
    kind: DescriptionKind,
    /// Prefixed namespace declarations in scope at the description (copied elements may
    /// use them, e.g. `i:type`).
    prefixes: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Description {
    /// An empty description (to create an entity with).
    pub(crate) fn new(kind: DescriptionKind) -> Self {
        Description {
            kind,
            prefixes: vec![("i".to_owned(), XSI_NS.to_owned())],
            children: Vec::new(),
        }
    }

    /// Reads the description out of an Atom entry.
    pub(crate) fn parse(kind: DescriptionKind, entry: &str) -> Result<Self> {
        let bad = |why: String| Error::Backend {
            message: format!(
                "Service Bus answered a {} that courier cannot read: {why}",
                kind.element()
            ),
            source: None,
        };
        let doc = roxmltree::Document::parse(entry).map_err(|e| Error::Backend {
            message: format!("Service Bus answered a {} that is not XML", kind.element()),
            source: Some(Box::new(e)),
        })?;
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name((SERVICE_BUS_NS, kind.element())))
            .ok_or_else(|| bad("the description element is missing".into()))?;
        let prefixes = node
            .namespaces()
            .filter_map(|ns| Some((ns.name()?.to_owned(), ns.uri().to_owned())))
            .filter(|(prefix, _)| prefix != "xml")
            .collect();
        let children = node
            .children()
            .filter(|c| c.is_element())
            .map(|c| Element {
                name: c.tag_name().name().to_owned(),
                xml: entry[c.range()].to_owned(),
                text: c
                    .children()
                    .all(|t| t.is_text())
                    .then(|| c.text().unwrap_or_default().to_owned()),
            })
            .collect();
        Ok(Description {
            kind,
            prefixes,
            children,
        })
    }

    /// The text of element `name`, if present and plain text.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.text.as_deref())
    }

    /// Sets element `name` to `text`, adding it when missing.
    pub(crate) fn set(&mut self, name: &str, text: &str) {
        let element = Element {
            name: name.to_owned(),
            xml: format!("<{name}>{}</{name}>", atom::escape(text)),
            text: Some(text.to_owned()),
        };
        match self.children.iter_mut().find(|c| c.name == name) {
            Some(existing) => *existing = element,
            None => self.children.push(element),
        }
    }

    /// The Atom entry of the whole description, elements in schema order (unknown ones
    /// after, in the order they came).
    pub(crate) fn to_entry(&self) -> String {
        let order = self.kind.order();
        let rank = |e: &Element| {
            order
                .iter()
                .position(|n| *n == e.name)
                .unwrap_or(order.len())
        };
        let mut children: Vec<&Element> = self.children.iter().collect();
        children.sort_by_key(|e| rank(e)); // stable: unknown elements keep their order
        let declarations: String = self
            .prefixes
            .iter()
            .map(|(p, uri)| format!(r#" xmlns:{p}="{}""#, atom::escape(uri)))
            .collect();
        let body: String = children.iter().map(|e| e.xml.as_str()).collect();
        let name = self.kind.element();
        atom::entry(&format!(
            r#"<{name} xmlns="{SERVICE_BUS_NS}"{declarations}>{body}</{name}>"#
        ))
    }
}

#[cfg(test)]
mod tests;
