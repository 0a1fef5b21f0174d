//! Service Bus SQL filters: courier [`Filter`]s translated to SQL ("Subscription Rule SQL
//! Filter Syntax"), the same text Terraform's `modules/topology` writes. The SQL evaluator
//! lives in the stand-in (`courier-azure-standin`).
//!
//! Service Bus compares values with their types, without converting strings to numbers.
//! courier sends an attribute that is a number in plain form as a number and everything
//! else as a string (see [`crate::wire`]), so the translation writes each literal with the
//! type the same text would travel as: `5` and `"5"` become `5`, `"eu"` becomes `'eu'`.
//! A prefix escapes `%`, `_` and the escape character itself, with `ESCAPE '\'` when it
//! needs to.
//!
//! # Addressing one subscription
//!
//! Service Bus cannot send to a subscription: a message goes to its topic, and every
//! subscription whose rules match gets a copy. A redrive must reach one subscription only,
//! so the rule courier provisions on every subscription ([`rule_sql`]) also reads the
//! application property [`ADDRESS_PROPERTY`]: a message without it is judged by the
//! filter as before; a message addressed to this subscription is admitted whatever the
//! filter says (it is put back where it was, as SQS and memory do); a message addressed to
//! another subscription is refused. `property IS NULL` is true when the property does not
//! exist ("Subscription Rule SQL Filter Syntax", `IS [NOT] NULL` semantics).
//!
//! Subscriptions that courier did not provision have no such clause: they receive the
//! redriven messages of their siblings like any other message on the topic.

use courier_core::filter::{Condition, Filter, Literal};

use crate::properties::is_plain_number;

/// The application property naming the one subscription a message is for (set only by
/// a redrive; receivers remove it). The system property `To` is documented for such
/// routing, but AMQP clients (JMS among them) set it to the entity they send to, which
/// would make every courier subscription refuse their messages.
pub const ADDRESS_PROPERTY: &str = "courier_to";

/// The escape character of `LIKE` patterns ("property LIKE 'ABC\%' ESCAPE '\'").
const LIKE_ESCAPE: char = '\\';

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn number(n: f64) -> String {
    // Rust prints the shortest text that reads back as `n`, never with an exponent, as
    // Terraform's jsonencode does.
    format!("{n}")
}

/// A string literal, or a number when the text is one in plain form (then it travels as
/// a number and only a number can equal it).
fn text_literal(s: &str) -> String {
    if is_plain_number(s) {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// `LIKE 'prefix%'`, the prefix's wildcards escaped.
fn like_prefix(prefix: &str) -> String {
    let needs_escape = prefix.contains(['%', '_', LIKE_ESCAPE]);
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if needs_escape && matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    if needs_escape {
        format!("LIKE {} ESCAPE '{LIKE_ESCAPE}'", quote(&pattern))
    } else {
        format!("LIKE {}", quote(&pattern))
    }
}

fn name(attr: &str) -> String {
    let plain = attr
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        attr.to_owned()
    } else {
        format!("[{attr}]")
    }
}

fn condition(p: &str, c: &Condition) -> String {
    match c {
        Condition::Equals(s) => format!("{p} = {}", text_literal(s)),
        Condition::EqualsNumber(n) => format!("{p} = {}", number(*n)),
        Condition::Prefix(x) => format!("{p} {}", like_prefix(x)),
        Condition::AnythingBut(list) => format!(
            "{p} NOT IN ({})",
            list.iter()
                .map(|l| match l {
                    Literal::Str(s) => text_literal(s),
                    Literal::Num(n) => number(*n),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Condition::AnythingButPrefix(x) => format!("{p} NOT {}", like_prefix(x)),
        Condition::Numeric(bounds) => format!(
            "({})",
            bounds
                .iter()
                .map(|(op, n)| format!("{p} {} {}", op.as_str(), number(*n)))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        Condition::Exists(true) => format!("EXISTS({p})"),
        Condition::Exists(false) => format!("NOT EXISTS({p})"),
    }
}

/// The type a condition compares an attribute with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    Number,
    Text,
}

fn literal_type(text: &str) -> Compared {
    if is_plain_number(text) {
        Compared::Number
    } else {
        Compared::Text
    }
}

fn compared(c: &Condition) -> Vec<Compared> {
    match c {
        Condition::Equals(s) => vec![literal_type(s)],
        Condition::EqualsNumber(_) | Condition::Numeric(_) => vec![Compared::Number],
        Condition::Prefix(_) | Condition::AnythingButPrefix(_) => vec![Compared::Text],
        Condition::AnythingBut(list) => list
            .iter()
            .map(|l| match l {
                Literal::Str(s) => literal_type(s),
                Literal::Num(_) => Compared::Number,
            })
            .collect(),
        Condition::Exists(_) => Vec::new(),
    }
}

/// Refuses a filter that compares one attribute with both numbers and strings: Service
/// Bus never compares a number with a string (the filter fails to evaluate), so one of
/// the two would fail for every message that has the attribute.
pub fn check(filter: &Filter) -> Result<(), String> {
    for (attr, conditions) in &filter.conditions {
        let types: Vec<Compared> = conditions.iter().flat_map(compared).collect();
        if types.contains(&Compared::Number) && types.contains(&Compared::Text) {
            return Err(format!(
                "the conditions on '{attr}' compare it with numbers and with strings; Service Bus compares values of one type (a value that is a number in plain form travels as a number), so keep each attribute's conditions to one type"
            ));
        }
    }
    Ok(())
}

/// The SQL filter for a courier filter: keys AND-ed, a key's conditions OR-ed.
pub fn to_sql(filter: &Filter) -> String {
    filter
        .conditions
        .iter()
        .map(|(attr, conditions)| {
            let p = name(attr);
            let parts: Vec<String> = conditions.iter().map(|c| condition(&p, c)).collect();
            format!("({})", parts.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The address a subscription is known by in [`ADDRESS_PROPERTY`]: its name in lower
/// case, because Service Bus entity names are case-insensitive while SQL string equality
/// is not (a redrive named `Orders/Inventory` must still reach `inventory`).
pub fn address(subscription: &str) -> String {
    subscription.to_ascii_lowercase()
}

/// The SQL of the one rule courier provisions on `subscription`: admitted when addressed to
/// it, or when not addressed at all and `filter` (if any) matches. The address is tested
/// first, so a redriven message never reaches the filter of any subscription.
pub fn rule_sql(filter: Option<&Filter>, subscription: &str) -> String {
    let to_this = format!("{ADDRESS_PROPERTY} = {}", quote(&address(subscription)));
    match filter.map(to_sql).filter(|sql| !sql.is_empty()) {
        Some(sql) => format!("{to_this} OR ({ADDRESS_PROPERTY} IS NULL AND {sql})"),
        None => format!("{to_this} OR {ADDRESS_PROPERTY} IS NULL"),
    }
}

/// Whether a rule's SQL admits messages addressed to `subscription` as [`rule_sql`] writes
/// it.
pub fn admits_address(sql: &str, subscription: &str) -> bool {
    let to_this = format!("{ADDRESS_PROPERTY} = {} OR ", quote(&address(subscription)));
    sql.starts_with(&to_this)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(policy: serde_json::Value) -> String {
        to_sql(&Filter::from_policy(&serde_json::from_value(policy).unwrap()).unwrap())
    }

    #[test]
    fn every_condition_translates() {
        assert_eq!(
            sql(serde_json::json!({
                "type": ["OrderCreated", "OrderPaid"], "region": [{"prefix": "eu-"}],
                "amount": [{"numeric": [">=", 100, "<", 1000]}, 5],
                "source": [{"anything-but": ["/test", "/qa's"]}], "gift-wrap": [{"exists": false}]
            })),
            "((amount >= 100 AND amount < 1000) OR amount = 5) AND (ce_source NOT IN ('/test', '/qa''s')) AND (ce_type = 'OrderCreated' OR ce_type = 'OrderPaid') AND (NOT EXISTS([gift-wrap])) AND (region LIKE 'eu-%')"
        );
    }

    #[test]
    fn literals_have_the_type_their_text_travels_as() {
        // A plain number travels as an Int64/Double ("Message Headers and Properties"),
        // and Service Bus never equates a string with a number: the literal must be one.
        assert_eq!(
            sql(
                serde_json::json!({"code": ["42", "007", 1.5], "n": [{"anything-but": ["3", 4, "x"]}]})
            ),
            "(code = 42 OR code = '007' OR code = 1.5) AND (n NOT IN (3, 4, 'x'))"
        );
    }

    #[test]
    fn prefixes_escape_like_wildcards() {
        // "Subscription Rule SQL Filter Syntax": `property LIKE 'ABC\%' ESCAPE '\'`.
        assert_eq!(
            sql(serde_json::json!({"env": [{"anything-but": {"prefix": "test_"}}]})),
            r"(env NOT LIKE 'test\_%' ESCAPE '\')"
        );
        assert_eq!(
            sql(serde_json::json!({"p": [{"prefix": r"50%\off_'"}]})),
            r"(p LIKE '50\%\\off\_''%' ESCAPE '\')"
        );
    }

    /// The translation, evaluated by the stand-in's evaluator (which follows "Subscription
    /// Rule SQL Filter Syntax": typed comparisons, unknown for missing properties) on
    /// properties typed as courier sends them, selects what courier's own matching selects
    /// for values of the type the conditions compare with; a value of the other type
    /// fails the filter (the subscription dead-letters it), never matches wrongly.
    #[test]
    fn sql_on_typed_properties_selects_what_courier_selects() {
        use courier_azure_standin::sql::{PropertyValue as Typed, SqlFilter};
        use std::collections::BTreeMap;

        use crate::properties::PropertyValue;

        let typed = |v: &str| match PropertyValue::of(v) {
            PropertyValue::Integer(n) => Typed::Int(n),
            PropertyValue::Decimal(d) => Typed::Double(d.parse().unwrap()),
            PropertyValue::Text(s) => Typed::String(s),
        };
        let policies = [
            serde_json::json!({"k": [{"numeric": [">=", 100, "<", 1000]}, 5]}),
            serde_json::json!({"k": ["42", 1.5]}),
            serde_json::json!({"k": ["007", "x"]}),
            serde_json::json!({"k": [{"anything-but": {"prefix": "test_"}}]}),
            serde_json::json!({"k": [{"prefix": "50%"}]}),
            serde_json::json!({"k": [{"anything-but": [3, 4.5]}]}),
            serde_json::json!({"k": [{"anything-but": ["/test", "/qa's"]}]}),
            serde_json::json!({"k": [{"exists": true}]}),
            serde_json::json!({"k": [{"exists": false}]}),
        ];
        let values = [
            "150", "5", "1000", "99.5", "42", "1.5", "3", "4.5", "-0.25", "007", "x", "tests-eu",
            "test_1", "50%off", "500", "/test", "/qa's", "1.50",
        ];
        for policy in policies {
            let filter =
                Filter::from_policy(&serde_json::from_value(policy.clone()).unwrap()).unwrap();
            check(&filter).unwrap();
            let sql = SqlFilter::parse(&to_sql(&filter)).unwrap();
            let types: Vec<Compared> = filter.conditions["k"].iter().flat_map(compared).collect();
            for value in values {
                let evaluated = sql.evaluate_properties(&[("k", typed(value))]);
                let courier = filter.matches(&BTreeMap::from([("k".to_owned(), value.to_owned())]));
                if types.iter().all(|t| *t == literal_type(value)) {
                    assert_eq!(evaluated, Ok(Some(courier)), "{policy} on {value:?}");
                } else {
                    assert!(evaluated.is_err(), "{policy} on {value:?}: {evaluated:?}");
                }
            }
            let absent = sql.evaluate_properties(&[]);
            let courier = filter.matches(&BTreeMap::new());
            assert_eq!(
                absent.map(|v| v == Some(true)),
                Ok(courier),
                "{policy} without k"
            );
        }
        let mixed = serde_json::json!({"code": ["42", "007"]});
        let e = check(&Filter::from_policy(&serde_json::from_value(mixed).unwrap()).unwrap());
        assert!(e.unwrap_err().contains("'code'"));
    }

    /// A redrive reaches its one subscription: "Subscription Rule SQL Filter Syntax"
    /// (`property IS NULL` is true for a property that does not exist; a missing user
    /// property is unknown in a comparison), evaluated by the stand-in's evaluator.
    #[test]
    fn rules_admit_their_address_and_refuse_others() {
        use courier_azure_standin::sql::{PropertyValue as Typed, SqlFilter};

        let filter = Filter::from_policy(
            &serde_json::from_value(serde_json::json!({"type": ["OrderCreated"]})).unwrap(),
        )
        .unwrap();
        let filtered = rule_sql(Some(&filter), "Inventory");
        assert_eq!(
            filtered,
            "courier_to = 'inventory' OR (courier_to IS NULL AND (ce_type = 'OrderCreated'))"
        );
        let open = rule_sql(None, "audit");
        assert_eq!(open, "courier_to = 'audit' OR courier_to IS NULL");
        assert!(admits_address(&filtered, "INVENTORY") && admits_address(&open, "audit"));
        assert!(!admits_address(&filtered, "audit") && !admits_address(&to_sql(&filter), "x"));

        let text = |s: &str| Typed::String(s.to_owned());
        let matching = ("ce_type", text("OrderCreated"));
        let other_type = ("ce_type", text("OrderPaid"));
        // (what, the message's properties, admitted by inventory, admitted by audit)
        type Case<'a> = (&'a str, Vec<(&'a str, Typed)>, bool, bool);
        let cases: [Case; 6] = [
            ("unaddressed, matching", vec![matching.clone()], true, true),
            (
                "unaddressed, not matching",
                vec![other_type.clone()],
                false,
                true,
            ),
            (
                "to inventory, not matching",
                vec![other_type.clone(), ("courier_to", text("inventory"))],
                true,
                false,
            ),
            (
                "to inventory",
                vec![matching.clone(), ("courier_to", text("inventory"))],
                true,
                false,
            ),
            (
                "to audit",
                vec![matching.clone(), ("courier_to", text("audit"))],
                false,
                true,
            ),
            (
                "to someone else",
                vec![matching, ("courier_to", text("shipping"))],
                false,
                false,
            ),
        ];
        let inventory = SqlFilter::parse(&filtered).unwrap();
        let audit = SqlFilter::parse(&open).unwrap();
        for (what, properties, to_inventory, to_audit) in cases {
            let got = |f: &SqlFilter| f.evaluate_properties(&properties).unwrap() == Some(true);
            assert_eq!(got(&inventory), to_inventory, "inventory: {what}");
            assert_eq!(got(&audit), to_audit, "audit: {what}");
        }
    }
}
