//! What provisioning reports, and the desired-versus-actual comparison every backend
//! makes before it changes an entity.

use std::fmt;

/// What happened to one entity during [`Broker::provision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionAction {
    /// It did not exist and was created.
    Created,
    /// It existed as asked.
    Unchanged,
    /// It existed with other settings and was updated; the text says what changed.
    Updated(String),
    /// It existed with other settings that cannot be changed in place; the text says which.
    Differs(String),
}

/// What kind of entity a line of a [`ProvisionReport`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntityKind {
    /// A topic.
    Topic,
    /// A queue.
    Queue,
    /// A subscription (on AWS, the subscription of its queue to the topic).
    Subscription,
    /// A dead-letter queue.
    DeadLetterQueue,
    /// A subscription's filter rule (Service Bus).
    Rule,
}

impl EntityKind {
    /// The name printed in reports, e.g. `dead-letter queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Topic => "topic",
            EntityKind::Queue => "queue",
            EntityKind::Subscription => "subscription",
            EntityKind::DeadLetterQueue => "dead-letter queue",
            EntityKind::Rule => "rule",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a [`ProvisionReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedEntity {
    /// What kind of entity.
    pub kind: EntityKind,
    /// The entity's name as the backend knows it.
    pub name: String,
    /// What was done.
    pub action: ProvisionAction,
}

/// What [`Broker::provision`] did, entity by entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// One entry per entity, in creation order.
    pub entities: Vec<ProvisionedEntity>,
}

impl ProvisionReport {
    /// Records one entity.
    pub fn push(&mut self, kind: EntityKind, name: impl Into<String>, action: ProvisionAction) {
        self.entities.push(ProvisionedEntity {
            kind,
            name: name.into(),
            action,
        });
    }

    /// How many entities got this action (compared by variant).
    pub fn count(&self, action: &ProvisionAction) -> usize {
        self.entities
            .iter()
            .filter(|e| std::mem::discriminant(&e.action) == std::mem::discriminant(action))
            .count()
    }

    /// Whether nothing was created or updated.
    pub fn is_unchanged(&self) -> bool {
        self.entities
            .iter()
            .all(|e| e.action == ProvisionAction::Unchanged)
    }
}

impl fmt::Display for ProvisionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entities {
            let action = match &e.action {
                ProvisionAction::Created => "created".to_owned(),
                ProvisionAction::Unchanged => "unchanged".to_owned(),
                ProvisionAction::Updated(what) => format!("updated ({what})"),
                ProvisionAction::Differs(what) => format!("DIFFERS, left as is ({what})"),
            };
            writeln!(f, "{:<18} {:<40} {action}", e.kind.as_str(), e.name)?;
        }
        Ok(())
    }
}

/// The settings of one entity that differ from what the topology asks for.
///
/// ```
/// use courier_core::{Drift, ProvisionAction};
///
/// let mut drift = Drift::default();
/// drift.compare("max_receive_count", &5, &5);
/// drift.compare("visibility_timeout_secs", &30, &60);
/// assert_eq!(drift.action(), ProvisionAction::Updated("visibility_timeout_secs 30 -> 60".into()));
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    changes: Vec<String>,
}

impl Drift {
    /// Records `name` when the entity's `actual` value differs from the `desired` one.
    pub fn compare<T: PartialEq + fmt::Debug + ?Sized>(
        &mut self,
        name: &str,
        actual: &T,
        desired: &T,
    ) {
        if actual != desired {
            self.changes
                .push(format!("{name} {actual:?} -> {desired:?}"));
        }
    }

    /// Records a difference described in words (e.g. `filter`).
    pub fn note(&mut self, change: impl Into<String>) {
        self.changes.push(change.into());
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The differences, one per setting.
    pub fn changes(&self) -> &[String] {
        &self.changes
    }

    /// `Unchanged`, or `Updated` listing what changed.
    pub fn action(&self) -> ProvisionAction {
        if self.changes.is_empty() {
            ProvisionAction::Unchanged
        } else {
            ProvisionAction::Updated(self.changes.join(", "))
        }
    }
}
