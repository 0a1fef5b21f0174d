//! A subscription's rules: courier's one SQL rule for a filter, or the catch-all `$Default`
//! rule (`1=1`) when there is none. A subscription without any rule receives nothing, so
//! every change creates what is wanted before it deletes what is not.

use courier_core::{EntityKind, ProvisionAction, ProvisionReport, Result};

use super::atom::{self, SERVICE_BUS_NS, XSI_NS};
use super::management;
use crate::rest::RestClient;

/// The rule courier writes for a subscription's filter.
pub(crate) const COURIER_RULE: &str = "courier-filter";
/// The rule a new subscription has, which lets everything through.
pub(crate) const DEFAULT_RULE: &str = "$Default";
const MATCH_ALL: &str = "1=1";

/// The rules of a subscription that courier looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RuleState {
    /// courier's rule, by its SQL (another kind of filter reads as `None` SQL inside).
    pub(crate) courier: Option<Option<String>>,
    pub(crate) default_exists: bool,
}

/// One change, in the order they are made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleChange {
    Create { rule: &'static str, sql: String },
    Update { rule: &'static str, sql: String },
    Delete { rule: &'static str },
}

/// The changes from `state` to the filter `wanted` (`None`: receive everything). What is
/// wanted is created before what is not is deleted: the subscription is never without a
/// rule.
pub(crate) fn plan(wanted: Option<&str>, state: &RuleState) -> Vec<RuleChange> {
    let mut changes = Vec::new();
    match (wanted, &state.courier) {
        (Some(sql), None) => changes.push(RuleChange::Create {
            rule: COURIER_RULE,
            sql: sql.to_owned(),
        }),
        (Some(sql), Some(have)) if have.as_deref() != Some(sql) => {
            changes.push(RuleChange::Update {
                rule: COURIER_RULE,
                sql: sql.to_owned(),
            })
        }
        (None, courier) if !state.default_exists && courier.is_some() => {
            changes.push(RuleChange::Create {
                rule: DEFAULT_RULE,
                sql: MATCH_ALL.to_owned(),
            })
        }
        _ => {}
    }
    match wanted {
        // The catch-all would let everything through beside the filter.
        Some(_) if state.default_exists => changes.push(RuleChange::Delete { rule: DEFAULT_RULE }),
        None if state.courier.is_some() => changes.push(RuleChange::Delete { rule: COURIER_RULE }),
        _ => {}
    }
    changes
}

/// A `RuleDescription` entry with a SQL filter (elements in schema order: Filter, Action,
/// Name; azure-servicebus `MODEL_CLASS_ATTRIBUTES`).
pub(crate) fn rule_entry(name: &str, sql: &str) -> String {
    atom::entry(&format!(
        r#"<RuleDescription xmlns="{SERVICE_BUS_NS}" xmlns:i="{XSI_NS}"><Filter i:type="SqlFilter"><SqlExpression>{}</SqlExpression></Filter><Action i:type="EmptyRuleAction"/><Name>{}</Name></RuleDescription>"#,
        atom::escape(sql),
        atom::escape(name)
    ))
}

/// The SQL of a rule entry's filter; `None` for a filter that is not a SQL filter.
pub(crate) fn sql_of(entry: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(entry).ok()?;
    let filter = doc
        .descendants()
        .find(|n| n.has_tag_name((SERVICE_BUS_NS, "Filter")))?;
    if filter.attribute((XSI_NS, "type")) != Some("SqlFilter") {
        return None;
    }
    filter
        .children()
        .find(|n| n.has_tag_name((SERVICE_BUS_NS, "SqlExpression")))
        .map(|n| n.text().unwrap_or_default().to_owned())
}

/// Reads the subscription's rules, makes the changes, reports them.
pub(crate) async fn ensure(
    rest: &RestClient,
    report: &mut ProvisionReport,
    subscription: &str,
    wanted: Option<&str>,
) -> Result<()> {
    let rules = format!("{subscription}/rules");
    let target = format!("the rules of subscription '{subscription}'");
    let state = RuleState {
        courier: management::get(rest, &format!("{rules}/{COURIER_RULE}"), &target)
            .await?
            .map(|entry| sql_of(&entry)),
        default_exists: management::get(rest, &format!("{rules}/{DEFAULT_RULE}"), &target)
            .await?
            .is_some(),
    };
    let changes = plan(wanted, &state);
    for change in &changes {
        match change {
            RuleChange::Create { rule, sql } => {
                let path = format!("{rules}/{rule}");
                management::put(rest, &path, rule_entry(rule, sql), false, &target).await?
            }
            RuleChange::Update { rule, sql } => {
                let path = format!("{rules}/{rule}");
                management::put(rest, &path, rule_entry(rule, sql), true, &target).await?
            }
            RuleChange::Delete { rule } => {
                management::delete(rest, &format!("{rules}/{rule}"), &target).await?;
            }
        }
    }
    if let Some(action) = action(&changes, &state) {
        report.push(EntityKind::Rule, format!("{rules}/{COURIER_RULE}"), action);
    }
    Ok(())
}

/// What a line of the report says about `changes`; `None` when there is no courier rule
/// to speak of.
fn action(changes: &[RuleChange], state: &RuleState) -> Option<ProvisionAction> {
    let described: Vec<String> = changes
        .iter()
        .map(|c| match c {
            RuleChange::Create { rule, sql } => format!("{rule} created ({sql})"),
            RuleChange::Update { rule, sql } => format!("{rule} SqlExpression -> {sql}"),
            RuleChange::Delete { rule } => format!("{rule} deleted"),
        })
        .collect();
    match changes {
        [] if state.courier.is_some() => Some(ProvisionAction::Unchanged),
        [] => None,
        [RuleChange::Create { rule, .. }, ..] if *rule == COURIER_RULE => {
            Some(ProvisionAction::Created)
        }
        _ => Some(ProvisionAction::Updated(described.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(courier: Option<&str>, default_exists: bool) -> RuleState {
        RuleState {
            courier: courier.map(|s| Some(s.to_owned())),
            default_exists,
        }
    }

    #[test]
    fn a_subscription_is_never_left_without_a_rule() {
        use RuleChange::*;
        // Filter removed: the catch-all first, then courier's rule goes.
        assert_eq!(
            plan(None, &state(Some("a = 1"), false)),
            [
                Create {
                    rule: DEFAULT_RULE,
                    sql: MATCH_ALL.into()
                },
                Delete { rule: COURIER_RULE }
            ]
        );
        // New filter on a new subscription: the rule first, then the catch-all goes.
        assert_eq!(
            plan(Some("a = 1"), &state(None, true)),
            [
                Create {
                    rule: COURIER_RULE,
                    sql: "a = 1".into()
                },
                Delete { rule: DEFAULT_RULE }
            ]
        );
        // Changed filter: replaced in place.
        assert_eq!(
            plan(Some("a = 2"), &state(Some("a = 1"), false)),
            [Update {
                rule: COURIER_RULE,
                sql: "a = 2".into()
            }]
        );
        assert_eq!(plan(Some("a = 1"), &state(Some("a = 1"), false)), []);
        assert_eq!(plan(None, &state(None, true)), []);
        assert_eq!(
            action(&[], &state(Some("a = 1"), false)),
            Some(ProvisionAction::Unchanged)
        );
    }

    #[test]
    fn rule_entries_read_back() {
        let entry = rule_entry(COURIER_RULE, "a = 'x' AND b < 3");
        assert_eq!(sql_of(&entry).as_deref(), Some("a = 'x' AND b < 3"));
        let correlation = entry.replace("SqlFilter", "CorrelationFilter");
        assert_eq!(
            sql_of(&correlation),
            None,
            "another kind of filter is not ours"
        );
    }
}
