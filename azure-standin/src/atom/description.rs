//! Queue, topic and subscription descriptions: parsed strictly from a request (known
//! elements of the schema, in order, once each, typed values), validated against the
//! service's limits, and written back in full with defaults and runtime counts.

use roxmltree::Node;

use super::schema::{self, Order, Type};
use super::xml::{self, elements, leaf_text, SB_NS};
use crate::failure::Failure;
use crate::rule::Rule;
use crate::store::{Kind, Settings};
use crate::timespan::TimeSpan;

/// A settable element's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Duration(TimeSpan),
    Int(i64),
    Bool(bool),
    Text(String),
}

/// What a client set in a description (elements it left out take the service defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Description {
    fields: Vec<(&'static str, Field)>,
    /// A subscription's `DefaultRuleDescription` (applied at creation).
    pub(crate) default_rule: Option<Rule>,
}

impl Description {
    pub(crate) fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    fn duration(&self, name: &str, default: TimeSpan) -> TimeSpan {
        match self.get(name) {
            Some(Field::Duration(d)) => *d,
            _ => default,
        }
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        match self.get(name) {
            Some(Field::Int(n)) => *n,
            _ => default,
        }
    }

    fn bool(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Some(Field::Bool(b)) => *b,
            _ => default,
        }
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Field::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The behaviour this description asks for, with the service's defaults.
    pub(crate) fn settings(&self, kind: Kind) -> Settings {
        Settings {
            lock_duration: self.duration("LockDuration", TimeSpan::from_secs(60)),
            max_delivery_count: u32::try_from(self.int("MaxDeliveryCount", 10)).unwrap_or(10),
            default_message_ttl: self.duration("DefaultMessageTimeToLive", TimeSpan::MAX),
            dead_letter_on_expiry: self.bool("DeadLetteringOnMessageExpiration", false),
            // The service's default is true (SubscriptionDescription).
            dead_letter_on_filter_errors: self
                .bool("DeadLetteringOnFilterEvaluationExceptions", true),
            requires_duplicate_detection: kind != Kind::Subscription
                && self.bool("RequiresDuplicateDetection", false),
            duplicate_detection_window: self.duration(
                "DuplicateDetectionHistoryTimeWindow",
                TimeSpan::from_secs(600),
            ),
            requires_session: self.bool("RequiresSession", false),
            max_size_bytes: usize::try_from(self.int("MaxSizeInMegabytes", 1024))
                .unwrap_or(1024)
                .saturating_mul(1024 * 1024),
            auto_delete_on_idle: self.duration("AutoDeleteOnIdle", TimeSpan::MAX),
        }
    }

    /// The answer's value of a settable element, default included; `None` when the
    /// service leaves it out.
    pub(crate) fn answer(&self, kind: Kind, name: &str) -> Option<String> {
        if let Some(field) = self.get(name) {
            return Some(match field {
                Field::Duration(d) => d.to_iso8601(),
                Field::Int(n) => n.to_string(),
                Field::Bool(b) => b.to_string(),
                Field::Text(t) => t.clone(),
            });
        }
        let default = match (name, kind) {
            ("LockDuration", _) => "PT1M",
            ("MaxSizeInMegabytes", _) => "1024",
            ("DefaultMessageTimeToLive" | "AutoDeleteOnIdle", _) => "P10675199DT2H48M5.4775807S",
            ("DuplicateDetectionHistoryTimeWindow", _) => "PT10M",
            ("MaxDeliveryCount", _) => "10",
            ("DeadLetteringOnFilterEvaluationExceptions", _) => "true",
            ("EnableBatchedOperations" | "SupportOrdering", _) => "true",
            ("Status", _) => "Active",
            (
                "RequiresDuplicateDetection"
                | "RequiresSession"
                | "DeadLetteringOnMessageExpiration"
                | "IsAnonymousAccessible"
                | "EnablePartitioning"
                | "EnableExpress"
                | "FilteringMessagesBeforePublishing"
                | "EnableSubscriptionPartitioning",
                _,
            ) => "false",
            _ => return None,
        };
        Some(default.to_owned())
    }
}

/// Parses a description element of `kind` (the `content`'s single child).
pub(crate) fn parse(kind: Kind, node: Node<'_, '_>) -> Result<Description, Failure> {
    let expected = schema::description_name(kind);
    if node.tag_name().name() != expected {
        return Err(Failure::bad_request(format!(
            "a {expected} is expected here, not {}",
            node.tag_name().name()
        )));
    }
    let mut description = Description::default();
    let mut order = Order::default();
    let mut previous: Option<&str> = None;
    for child in elements(node) {
        let name = child.tag_name().name();
        let element = schema::elements(kind)
            .iter()
            .find(|e| e.name == name && child.tag_name().namespace() == Some(SB_NS))
            .ok_or_else(|| {
                Failure::bad_request(format!(
                    "{} is not an element of {expected}",
                    xml::qualified(child)
                ))
            })?;
        order
            .admit(element, previous)
            .map_err(|e| Failure::bad_request(format!("{expected}: {e}")))?;
        previous = Some(element.name);
        let field = match element.ty {
            Type::ReadOnly => continue,
            Type::Rules => {
                if elements(child).next().is_some() {
                    return Err(Failure::not_modelled("AuthorizationRules on an entity"));
                }
                continue;
            }
            Type::RuleDescription => {
                description.default_rule = Some(super::rule::parse_rule(child, None)?);
                continue;
            }
            ty => typed(element.name, ty, &leaf_text(child)?)?,
        };
        description.fields.push((element.name, field));
    }
    validate(kind, &description)?;
    Ok(description)
}

fn typed(name: &str, ty: Type, text: &str) -> Result<Field, Failure> {
    let text = text.trim();
    let bad = |what: &str| Failure::bad_request(format!("{name}: '{text}' is not {what}"));
    Ok(match ty {
        Type::Duration => Field::Duration(
            TimeSpan::parse_iso8601(text).ok_or_else(|| bad("an ISO 8601 duration"))?,
        ),
        Type::Int => Field::Int(text.parse().map_err(|_| bad("an integer"))?),
        Type::Bool => Field::Bool(match text {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
        _ => Field::Text(text.to_owned()),
    })
}

/// The service's limits ("Service Bus Resource Manager exceptions", quotas).
fn validate(kind: Kind, d: &Description) -> Result<(), Failure> {
    let s = d.settings(kind);
    let secs = |t: TimeSpan| t.as_secs_f64();
    if d.get("LockDuration").is_some() {
        if secs(s.lock_duration) > 300.0 {
            return Err(Failure::bad_request(
                "The supplied lock time exceeds the allowed maximum of '5' minutes.",
            ));
        }
        if secs(s.lock_duration) < 5.0 {
            return Err(Failure::bad_request(
                "The supplied lock time is below the allowed minimum of '5' seconds.",
            ));
        }
    }
    if d.get("MaxDeliveryCount").is_some()
        && !(1..=i64::from(i32::MAX)).contains(&d.int("MaxDeliveryCount", 10))
    {
        return Err(Failure::bad_request("MaxDeliveryCount must be at least 1."));
    }
    let size = d.int("MaxSizeInMegabytes", 1024);
    if ![1024, 2048, 3072, 4096, 5120].contains(&size) {
        return Err(Failure::bad_request(format!(
            "The specified value {size} is invalid. The property 'MaxSizeInMegabytes', must be one of the following values: 1024;2048;3072;4096;5120."
        )));
    }
    let window = secs(s.duplicate_detection_window);
    if d.get("DuplicateDetectionHistoryTimeWindow").is_some()
        && !(20.0..=7.0 * 86_400.0).contains(&window)
    {
        return Err(Failure::bad_request(
            "DuplicateDetectionHistoryTimeWindow must be between 20 seconds and 7 days.",
        ));
    }
    if secs(s.default_message_ttl) < 1.0 {
        return Err(Failure::bad_request(
            "DefaultMessageTimeToLive must be at least 1 second.",
        ));
    }
    if d.duration("AutoDeleteOnIdle", TimeSpan::MAX) < TimeSpan::from_secs(300) {
        return Err(Failure::bad_request(
            "AutoDeleteOnIdle must be at least 5 minutes.",
        ));
    }
    for element in ["ForwardTo", "ForwardDeadLetteredMessagesTo"] {
        if d.text(element).is_some_and(|t| !t.is_empty()) {
            return Err(Failure::not_modelled(format!(
                "{element} (auto-forwarding)"
            )));
        }
    }
    for element in ["FilteringMessagesBeforePublishing", "IsAnonymousAccessible"] {
        if d.bool(element, false) {
            return Err(Failure::not_modelled(format!("{element} = true")));
        }
    }
    if d.text("Status").is_some_and(|s| s != "Active") {
        return Err(Failure::not_modelled("An entity status other than Active"));
    }
    if d.get("MaxMessageSizeInKilobytes").is_some() {
        return Err(Failure::bad_request(
            "MaxMessageSizeInKilobytes can only be set in the Premium tier; this namespace is Standard.",
        ));
    }
    Ok(())
}

/// What can no longer change once an entity exists ("Service Bus Resource Manager
/// exceptions": RequiresSession, RequiresDuplicateDetection, partitioning).
pub(crate) fn check_update(
    kind: Kind,
    old: &Description,
    new: &Description,
) -> Result<(), Failure> {
    let entity = match kind {
        Kind::Queue => "Queue",
        Kind::Topic => "Topic",
        Kind::Subscription => "Subscription",
    };
    for (name, default) in [
        ("RequiresSession", Some("false")),
        ("RequiresDuplicateDetection", Some("false")),
        ("EnablePartitioning", Some("false")),
    ] {
        let before = old.answer(kind, name).or(default.map(str::to_owned));
        let after = new.answer(kind, name).or(default.map(str::to_owned));
        if before != after {
            return Err(Failure::bad_request(format!(
                "The value for the '{name}' property of an existing {entity} can't be changed."
            )));
        }
    }
    Ok(())
}
