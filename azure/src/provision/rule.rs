//! A subscription's rules: courier's one SQL rule ([`sql::rule_sql`]: the filter, if
//! any, and the address a redrive writes), in place of the catch-all `$Default` rule
//! (`1=1`) a new subscription has. A subscription without any rule receives nothing, so
//! every change creates what is wanted before it deletes what is not. A rule of an older
//! courier (a filter without the address clause, or `$Default` alone) is drift, fixed the
//! same way.

use courier_core::{EntityKind, Error, ProvisionAction, ProvisionReport, Result};

use super::atom::{self, SERVICE_BUS_NS, XSI_NS};
use super::management;
use crate::rest::RestClient;
use crate::sql;

/// The rule courier writes on every subscription.
pub(crate) const COURIER_RULE: &str = "courier-filter";
/// The rule a new subscription has, which lets everything through.
pub(crate) const DEFAULT_RULE: &str = "$Default";

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

/// The changes from `state` to courier's rule with the SQL `wanted`. What is wanted is
/// created before what is not is deleted: the subscription is never without a rule.
pub(crate) fn plan(wanted: &str, state: &RuleState) -> Vec<RuleChange> {
    let mut changes = Vec::new();
    match &state.courier {
        None => changes.push(RuleChange::Create {
            rule: COURIER_RULE,
            sql: wanted.to_owned(),
        }),
        Some(have) if have.as_deref() != Some(wanted) => changes.push(RuleChange::Update {
            rule: COURIER_RULE,
            sql: wanted.to_owned(),
        }),
        Some(_) => {}
    }
    // The catch-all would let everything through beside courier's rule, redrives of other
    // subscriptions included.
    if state.default_exists {
        changes.push(RuleChange::Delete { rule: DEFAULT_RULE });
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

/// Refuses unless courier's rule on `topic/subscription` admits messages addressed to it
/// (see [`sql::rule_sql`]): otherwise a message sent to the topic addressed to it could
/// reach its siblings with rules of an older courier, or, refused by every rule, nobody.
pub(crate) async fn check_addressable(
    rest: &RestClient,
    topic: &str,
    subscription: &str,
) -> Result<()> {
    let target = format!("subscription '{topic}/{subscription}'");
    let path = format!("{topic}/subscriptions/{subscription}/rules/{COURIER_RULE}");
    let sql = management::get(rest, &path, &target)
        .await?
        .and_then(|entry| sql_of(&entry));
    match sql {
        Some(sql) if sql::admits_address(&sql, subscription) => Ok(()),
        found => Err(Error::invalid_topology(format!(
            "{target} cannot be sent to alone: its rule '{COURIER_RULE}' ({}) does not admit messages addressed to it; run `courier provision` with its topology first",
            found.as_deref().unwrap_or("missing or not a SQL filter")
        ))),
    }
}

/// Reads the subscription's rules, makes the changes, reports them.
pub(crate) async fn ensure(
    rest: &RestClient,
    report: &mut ProvisionReport,
    subscription: &str,
    wanted: &str,
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
        let open = "courier_to = 's' OR courier_to IS NULL";
        // A new subscription, or one of an older courier that had no filter: courier's
        // rule first, then the catch-all goes.
        assert_eq!(
            plan(open, &state(None, true)),
            [
                Create {
                    rule: COURIER_RULE,
                    sql: open.into()
                },
                Delete { rule: DEFAULT_RULE }
            ]
        );
        // A filter of an older courier, without the address: replaced in place.
        assert_eq!(
            plan(open, &state(Some("a = 1"), false)),
            [Update {
                rule: COURIER_RULE,
                sql: open.into()
            }]
        );
        // Both rules present (a crash between create and delete): the catch-all goes.
        assert_eq!(
            plan(open, &state(Some(open), true)),
            [Delete { rule: DEFAULT_RULE }]
        );
        assert_eq!(plan(open, &state(Some(open), false)), []);
        assert_eq!(
            action(&[], &state(Some(open), false)),
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
