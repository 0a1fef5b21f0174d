//! Service Bus SQL filters: courier [`Filter`]s translated to SQL ("Subscription Rule SQL
//! Filter Syntax"), the same text Terraform's `modules/topology` writes. The SQL evaluator
//! lives in the stand-in (`courier-azure-standin`).
//!
//! Service Bus compares values with their types, without converting strings to numbers.
//! courier sends every attribute as a string property under its name, and one that is a
//! number ([`numeric_value`](courier_core::filter::numeric_value)) also as a `Double`
//! under `courier_num_<name>`. So string conditions (exact
//! strings, prefixes, strings `anything-but` excludes) read the string property, numeric
//! ones (ranges, exact numbers, numbers `anything-but` excludes) the numeric shadow: a
//! condition never meets a value of the other type, and a numeric condition on a value
//! that is no number meets a missing property. Unknown (a missing property) is only ever
//! where courier's matching says false, and never under a `NOT`, so the rule selects what
//! `Filter::matches` selects. A prefix escapes `%`, `_` and the escape character itself,
//! with `ESCAPE '\'` when it needs to.
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

use crate::properties::numeric_name;

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

/// A property name as SQL reads it: bracketed unless a plain identifier.
fn name(property: &str) -> String {
    let plain = property
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && property
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        property.to_owned()
    } else {
        format!("[{property}]")
    }
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

/// `anything-but` values: present, not one of the strings, and either no number or not
/// one of the numbers (a value that is no number equals no number).
fn anything_but(text: &str, numeric: &str, literals: &[Literal]) -> String {
    let strings: Vec<String> = literals
        .iter()
        .filter_map(|l| match l {
            Literal::Str(s) => Some(quote(s)),
            Literal::Num(_) => None,
        })
        .collect();
    let numbers: Vec<String> = literals
        .iter()
        .filter_map(|l| match l {
            Literal::Num(n) => Some(number(*n)),
            Literal::Str(_) => None,
        })
        .collect();
    let not_a_number = || {
        format!(
            "({numeric} IS NULL OR {numeric} NOT IN ({}))",
            list(&numbers)
        )
    };
    match (strings.is_empty(), numbers.is_empty()) {
        (false, true) => format!("{text} NOT IN ({})", list(&strings)),
        (true, _) => format!("({text} IS NOT NULL AND {})", not_a_number()),
        (false, false) => format!(
            "({text} NOT IN ({}) AND {})",
            list(&strings),
            not_a_number()
        ),
    }
}

/// One condition; `text` is the attribute's string property, `numeric` its shadow.
fn condition(text: &str, numeric: &str, c: &Condition) -> String {
    match c {
        Condition::Equals(s) => format!("{text} = {}", quote(s)),
        Condition::EqualsNumber(n) => format!("{numeric} = {}", number(*n)),
        Condition::Prefix(x) => format!("{text} {}", like_prefix(x)),
        Condition::AnythingBut(literals) => anything_but(text, numeric, literals),
        Condition::AnythingButPrefix(x) => format!("{text} NOT {}", like_prefix(x)),
        Condition::Numeric(bounds) => format!(
            "({})",
            bounds
                .iter()
                .map(|(op, n)| format!("{numeric} {} {}", op.as_str(), number(*n)))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        Condition::Exists(true) => format!("EXISTS({text})"),
        Condition::Exists(false) => format!("NOT EXISTS({text})"),
    }
}

/// The SQL filter for a courier filter: keys AND-ed, a key's conditions OR-ed.
pub fn to_sql(filter: &Filter) -> String {
    filter
        .conditions
        .iter()
        .map(|(attr, conditions)| {
            let text = name(attr);
            let numeric = name(&numeric_name(attr));
            let parts: Vec<String> = conditions
                .iter()
                .map(|c| condition(&text, &numeric, c))
                .collect();
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
            "((courier_num_amount >= 100 AND courier_num_amount < 1000) OR courier_num_amount = 5) AND (ce_source NOT IN ('/test', '/qa''s')) AND (ce_type = 'OrderCreated' OR ce_type = 'OrderPaid') AND (NOT EXISTS([gift-wrap])) AND (region LIKE 'eu-%')"
        );
    }

    #[test]
    fn strings_read_the_text_and_numbers_the_numeric_shadow() {
        // "Subscription Rule SQL Filter Syntax": no conversion between strings and numbers,
        // so a string literal only ever meets the string property and a number only ever
        // the Double shadow (`IS NULL` when the value is no number).
        assert_eq!(
            sql(serde_json::json!({"code": ["42", "007", 1.5], "n": [{"anything-but": ["3", 4, "x"]}]})),
            "(code = '42' OR code = '007' OR courier_num_code = 1.5) AND ((n NOT IN ('3', 'x') AND (courier_num_n IS NULL OR courier_num_n NOT IN (4))))"
        );
        assert_eq!(
            sql(serde_json::json!({"gift-wrap": [{"anything-but": [5, 10]}]})),
            "(([gift-wrap] IS NOT NULL AND ([courier_num_gift-wrap] IS NULL OR [courier_num_gift-wrap] NOT IN (5, 10))))"
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
    /// Rule SQL Filter Syntax": typed comparisons with no string/number conversion, an
    /// evaluation error for a mismatch, unknown for a missing property) on the properties
    /// courier sends, selects exactly what courier's own matching selects, for every value
    /// (numbers in any form, numbers next to strings, near-numbers), and never fails to
    /// evaluate.
    #[test]
    fn sql_on_sent_properties_selects_what_courier_selects() {
        use courier_azure_standin::sql::{PropertyValue as Typed, SqlFilter};
        use std::collections::BTreeMap;

        use crate::properties::{attribute_properties, PropertyValue};

        let sent = |value: &str| -> Vec<(String, Typed)> {
            attribute_properties("k", value)
                .into_iter()
                .map(|(name, v)| match v {
                    PropertyValue::Text(s) => (name, Typed::String(s)),
                    PropertyValue::Number(n) => (name, Typed::Double(n)),
                })
                .collect()
        };
        let policies = [
            serde_json::json!({"k": [{"numeric": [">=", 100, "<", 1000]}, 5]}),
            serde_json::json!({"k": [{"numeric": ["=", 10]}]}),
            serde_json::json!({"k": ["42", 1.5]}),
            serde_json::json!({"k": ["007", "x"]}),
            serde_json::json!({"k": ["5", 5]}),
            serde_json::json!({"k": [{"anything-but": {"prefix": "test_"}}]}),
            serde_json::json!({"k": [{"anything-but": {"prefix": "te"}}]}),
            serde_json::json!({"k": [{"prefix": "50%"}]}),
            serde_json::json!({"k": [{"prefix": "5"}]}),
            serde_json::json!({"k": [{"anything-but": [3, 4.5]}]}),
            serde_json::json!({"k": [{"anything-but": 5}]}),
            serde_json::json!({"k": [{"anything-but": ["/test", "/qa's"]}]}),
            serde_json::json!({"k": [{"anything-but": ["5", 10, "eu"]}]}),
            serde_json::json!({"k": [{"exists": true}]}),
            serde_json::json!({"k": [{"exists": false}]}),
            serde_json::json!({"k": [{"prefix": "e"}, {"numeric": ["<", 0]}]}),
        ];
        let values = [
            "150", "5", "55", "5.0", "05", "+5", " 5", "5e0", "1000", "99.5", "42", "1.5", "3",
            "4.5", "-0.25", "-3", "0", "-0", "007", "x", "eu", "tests-eu", "test_1", "te",
            "50%off", "500", "/test", "/qa's", "1.50", "10", "1e1", "inf", "-inf", "NaN", "",
        ];
        for policy in policies {
            let filter =
                Filter::from_policy(&serde_json::from_value(policy.clone()).unwrap()).unwrap();
            let sql = SqlFilter::parse(&to_sql(&filter)).unwrap();
            for value in values {
                let properties = sent(value);
                let borrowed: Vec<(&str, Typed)> = properties
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.clone()))
                    .collect();
                let evaluated = sql.evaluate_properties(&borrowed);
                let courier = filter.matches(&BTreeMap::from([("k".to_owned(), value.to_owned())]));
                assert_eq!(
                    evaluated.map(|v| v == Some(true)),
                    Ok(courier),
                    "{policy} on {value:?}"
                );
            }
            let absent = sql.evaluate_properties(&[]);
            let courier = filter.matches(&BTreeMap::new());
            assert_eq!(
                absent.map(|v| v == Some(true)),
                Ok(courier),
                "{policy} without k"
            );
        }
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
