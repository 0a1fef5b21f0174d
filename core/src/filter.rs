//! Subscription filters in the SNS filter-policy vocabulary.
//!
//! A filter maps keys to lists of conditions: a message matches when, for every key, at
//! least one of that key's conditions holds. Keys are `type`, `source` and `subject` (the
//! event's CloudEvents attributes) or user attribute names. Conditions:
//!
//! | written as | matches when the attribute |
//! | --- | --- |
//! | `OrderCreated` / `42` | equals the string / the number |
//! | `{prefix: eu-}` | starts with the prefix |
//! | `{anything-but: [a, b]}` / `{anything-but: a}` | is present and none of these |
//! | `{anything-but: {prefix: test-}}` | is present and lacks the prefix |
//! | `{numeric: [">=", 10, "<", 20]}` | is a number within every bound |
//! | `{exists: true}` / `{exists: false}` | is present / absent |

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

use crate::event::attr;

/// A numeric comparison operator of a `numeric` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparison {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "=" => Comparison::Eq,
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            ">=" => Comparison::Ge,
            _ => return None,
        })
    }

    /// The operator as written (`<`, `>=`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Eq => left == right,
            Comparison::Lt => left < right,
            Comparison::Le => left <= right,
            Comparison::Gt => left > right,
            Comparison::Ge => left >= right,
        }
    }
}

/// The number an attribute value is for numeric conditions (`numeric`, a number to
/// equal, a number `anything-but` excludes): the text, spaces around it ignored, read as
/// a finite number (`5`, `-0.5`, `1e3`, `+7`, `007`). Anything else, `inf` and `NaN`
/// included, is no number: numeric conditions never hold for it, and it is never a number
/// `anything-but` excludes. Backends that filter on the broker (Service Bus SQL) use this
/// to decide which values their numeric conditions see.
pub fn numeric_value(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A value an `anything-but` condition excludes: a string, or a number (compared by value).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Excludes this exact string.
    Str(String),
    /// Excludes attributes that are this number.
    Num(f64),
}

impl Literal {
    fn equals(&self, v: &str) -> bool {
        match self {
            Literal::Str(s) => s == v,
            Literal::Num(n) => numeric_value(v) == Some(*n),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Literal::Str(s) => json!(s),
            Literal::Num(n) => json!(n),
        }
    }
}

/// One condition on one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Equals this string.
    Equals(String),
    /// Is a number equal to this one.
    EqualsNumber(f64),
    /// Starts with this prefix.
    Prefix(String),
    /// Is present and equal to none of these.
    AnythingBut(Vec<Literal>),
    /// Is present and does not start with this prefix.
    AnythingButPrefix(String),
    /// Is a number satisfying every bound.
    Numeric(Vec<(Comparison, f64)>),
    /// Is present (`true`) or absent (`false`).
    Exists(bool),
}

impl Condition {
    fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return matches!(self, Condition::Exists(false));
        };
        let number = || numeric_value(v);
        match self {
            Condition::Equals(s) => v == s,
            Condition::EqualsNumber(n) => number() == Some(*n),
            Condition::Prefix(p) => v.starts_with(p.as_str()),
            Condition::AnythingBut(list) => !list.iter().any(|l| l.equals(v)),
            Condition::AnythingButPrefix(p) => !v.starts_with(p.as_str()),
            Condition::Numeric(bounds) => {
                number().is_some_and(|n| bounds.iter().all(|(op, b)| op.holds(n, *b)))
            }
            Condition::Exists(present) => *present,
        }
    }

    fn to_policy(&self) -> Value {
        match self {
            Condition::Equals(s) => json!(s),
            Condition::EqualsNumber(n) => json!(n),
            Condition::Prefix(p) => json!({ "prefix": p }),
            Condition::AnythingBut(list) => {
                json!({ "anything-but": list.iter().map(Literal::to_json).collect::<Vec<_>>() })
            }
            Condition::AnythingButPrefix(p) => json!({ "anything-but": { "prefix": p } }),
            Condition::Numeric(bounds) => {
                let flat: Vec<Value> = bounds
                    .iter()
                    .flat_map(|(op, n)| [json!(op.as_str()), json!(n)])
                    .collect();
                json!({ "numeric": flat })
            }
            Condition::Exists(b) => json!({ "exists": b }),
        }
    }
}

/// A subscription filter: every key must match one of its conditions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// Conditions by the attribute they test (`ce_type` for the key `type`, …).
    pub conditions: BTreeMap<String, Vec<Condition>>,
}

/// Why a filter is not valid; the text names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn err<T>(key: &str, what: impl fmt::Display) -> Result<T, FilterError> {
    Err(FilterError(format!("filter key '{key}': {what}")))
}

fn parse_condition(key: &str, v: &Value) -> Result<Condition, FilterError> {
    match v {
        Value::String(s) => Ok(Condition::Equals(s.clone())),
        Value::Number(n) => Ok(Condition::EqualsNumber(n.as_f64().unwrap_or(f64::NAN))),
        Value::Object(obj) => {
            if obj.len() != 1 {
                return err(
                    key,
                    "a condition object has exactly one of prefix, anything-but, numeric, exists",
                );
            }
            let (op, arg) = obj.iter().next().expect("one entry");
            match (op.as_str(), arg) {
                ("prefix", Value::String(p)) if !p.is_empty() => Ok(Condition::Prefix(p.clone())),
                ("prefix", _) => err(key, "prefix takes a non-empty string"),
                ("exists", Value::Bool(b)) => Ok(Condition::Exists(*b)),
                ("exists", _) => err(key, "exists takes true or false"),
                ("anything-but", Value::String(s)) => {
                    Ok(Condition::AnythingBut(vec![Literal::Str(s.clone())]))
                }
                ("anything-but", Value::Number(n)) => {
                    Ok(Condition::AnythingBut(vec![Literal::Num(
                        n.as_f64().unwrap_or(f64::NAN),
                    )]))
                }
                ("anything-but", Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(Literal::Str(s.clone())),
                        Value::Number(n) => Ok(Literal::Num(n.as_f64().unwrap_or(f64::NAN))),
                        _ => err(key, "anything-but lists strings or numbers"),
                    })
                    .collect::<Result<_, _>>()
                    .map(Condition::AnythingBut),
                ("anything-but", Value::Object(o)) => match o.get("prefix") {
                    Some(Value::String(p)) if o.len() == 1 && !p.is_empty() => {
                        Ok(Condition::AnythingButPrefix(p.clone()))
                    }
                    _ => err(key, "anything-but takes a value, a list, or {prefix: ...}"),
                },
                ("anything-but", _) => {
                    err(key, "anything-but takes a value, a list, or {prefix: ...}")
                }
                ("numeric", Value::Array(items)) => parse_numeric(key, items),
                ("numeric", _) => err(key, "numeric takes a list like [\">=\", 10, \"<\", 20]"),
                (other, _) => err(
                    key,
                    format!(
                    "unknown condition '{other}' (expected prefix, anything-but, numeric, exists)"
                ),
                ),
            }
        }
        Value::Bool(_) => err(
            key,
            "a boolean is not a value to match; use {exists: true} or a string",
        ),
        Value::Null => err(key, "null is not a value to match"),
        Value::Array(_) => err(key, "conditions do not nest"),
    }
}

fn parse_numeric(key: &str, items: &[Value]) -> Result<Condition, FilterError> {
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return err(key, "numeric takes one or two (operator, number) pairs");
    }
    let mut bounds = Vec::new();
    for pair in items.chunks(2) {
        let op = pair[0]
            .as_str()
            .and_then(Comparison::parse)
            .ok_or_else(|| {
                FilterError(format!(
                    "filter key '{key}': numeric operator {} is not one of =, <, <=, >, >=",
                    pair[0]
                ))
            })?;
        let n = pair[1].as_f64().ok_or_else(|| {
            FilterError(format!(
                "filter key '{key}': numeric bound {} is not a number",
                pair[1]
            ))
        })?;
        bounds.push((op, n));
    }
    Ok(Condition::Numeric(bounds))
}

impl Filter {
    /// Parses a filter policy as written in a topology file.
    pub fn from_policy(policy: &BTreeMap<String, Value>) -> Result<Self, FilterError> {
        if policy.is_empty() {
            return Err(FilterError(
                "filter is empty; omit it to receive everything".into(),
            ));
        }
        let mut conditions = BTreeMap::new();
        for (key, value) in policy {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return err(key, "attribute names use letters, digits, '_', '-' and '.'");
            }
            if attr::is_reserved(key) {
                return err(
                    key,
                    "is reserved; filter on type, source or subject instead",
                );
            }
            let Value::Array(items) = value else {
                return err(key, "takes a list of conditions, e.g. [OrderCreated]");
            };
            if items.is_empty() {
                return err(key, "the list of conditions is empty");
            }
            let parsed = items
                .iter()
                .map(|v| parse_condition(key, v))
                .collect::<Result<Vec<_>, _>>()?;
            conditions.insert(attr::for_filter_key(key), parsed);
        }
        Ok(Filter { conditions })
    }

    /// Whether a message with these attributes passes the filter.
    pub fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        self.conditions.iter().all(|(name, conds)| {
            let value = attributes.get(name).map(String::as_str);
            conds.iter().any(|c| c.matches(value))
        })
    }

    /// The filter as an SNS filter policy (attribute scope), keyed by attribute name.
    pub fn to_sns_policy(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .conditions
            .iter()
            .map(|(k, conds)| {
                (
                    k.clone(),
                    Value::Array(conds.iter().map(Condition::to_policy).collect()),
                )
            })
            .collect();
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(v: Value) -> Result<Filter, FilterError> {
        let map: BTreeMap<String, Value> = serde_json::from_value(v).unwrap();
        Filter::from_policy(&map)
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_and_within_or() {
        let f =
            filter(json!({"type": ["OrderCreated", "OrderPaid"], "region": [{"prefix": "eu-"}]}))
                .unwrap();
        assert!(f.matches(&attrs(&[("ce_type", "OrderPaid"), ("region", "eu-west")])));
        assert!(!f.matches(&attrs(&[("ce_type", "OrderPaid"), ("region", "us-east")])));
        assert!(!f.matches(&attrs(&[
            ("ce_type", "OrderShipped"),
            ("region", "eu-west")
        ])));
        assert!(!f.matches(&attrs(&[("ce_type", "OrderPaid")])));
    }

    #[test]
    fn anything_but_numeric_exists() {
        let f = filter(json!({"source": [{"anything-but": ["/test"]}]})).unwrap();
        assert!(f.matches(&attrs(&[("ce_source", "/shop")])));
        assert!(!f.matches(&attrs(&[("ce_source", "/test")])));
        assert!(!f.matches(&attrs(&[])), "anything-but needs the attribute");

        let f = filter(json!({"amount": [{"numeric": [">=", 10, "<", 20]}, 99]})).unwrap();
        assert!(f.matches(&attrs(&[("amount", "10")])));
        assert!(f.matches(&attrs(&[("amount", "99.0")])));
        assert!(!f.matches(&attrs(&[("amount", "20")])));
        assert!(!f.matches(&attrs(&[("amount", "ten")])));

        let f = filter(json!({"vip": [{"exists": false}]})).unwrap();
        assert!(f.matches(&attrs(&[])));
        assert!(!f.matches(&attrs(&[("vip", "yes")])));

        let f = filter(json!({"retries": [{"anything-but": [0, "none"]}]})).unwrap();
        assert!(f.matches(&attrs(&[("retries", "2")])));
        assert!(
            !f.matches(&attrs(&[("retries", "0.0")])),
            "numbers compare by value"
        );
        assert!(!f.matches(&attrs(&[("retries", "none")])));
        assert_eq!(
            f.to_sns_policy(),
            json!({"retries": [{"anything-but": [0.0, "none"]}]})
        );

        let f = filter(json!({"env": [{"anything-but": {"prefix": "test"}}]})).unwrap();
        assert!(f.matches(&attrs(&[("env", "prod")])));
        assert!(!f.matches(&attrs(&[("env", "test-1")])));
    }

    /// A number is finite: `inf` and `NaN` are text to numeric conditions, as SNS reads
    /// only finite numbers as `Number` attributes ("Amazon SNS message filtering").
    #[test]
    fn numbers_are_finite() {
        for (text, n) in [("5", Some(5.0)), (" +5 ", Some(5.0)), ("1e3", Some(1e3))] {
            assert_eq!(numeric_value(text), n, "{text:?}");
        }
        for text in ["inf", "-infinity", "NaN", "", "5x"] {
            assert_eq!(numeric_value(text), None, "{text:?}");
        }
        let f = filter(json!({"n": [{"numeric": [">", 0]}]})).unwrap();
        assert!(!f.matches(&attrs(&[("n", "inf")])));
        let f = filter(json!({"n": [{"anything-but": [0]}]})).unwrap();
        assert!(f.matches(&attrs(&[("n", "NaN")])));
    }

    #[test]
    fn policy_round_trips_to_sns_shape() {
        let f = filter(json!({"type": ["OrderCreated"], "n": [{"numeric": [">", 1]}]})).unwrap();
        assert_eq!(
            f.to_sns_policy(),
            json!({"ce_type": ["OrderCreated"], "n": [{"numeric": [">", 1.0]}]})
        );
    }

    #[test]
    fn bad_filters_name_the_key_and_problem() {
        for (policy, expected) in [
            (
                json!({"type": "OrderCreated"}),
                "filter key 'type': takes a list",
            ),
            (json!({"type": []}), "list of conditions is empty"),
            (
                json!({"x": [{"suffix": "a"}]}),
                "unknown condition 'suffix'",
            ),
            (
                json!({"x": [{"numeric": ["~", 1]}]}),
                "numeric operator \"~\"",
            ),
            (
                json!({"x": [{"numeric": [">", "a"]}]}),
                "bound \"a\" is not a number",
            ),
            (
                json!({"x": [{"exists": "yes"}]}),
                "exists takes true or false",
            ),
            (json!({"ce_type": ["a"]}), "is reserved"),
            (json!({"a b": ["a"]}), "attribute names use"),
            (json!({}), "filter is empty"),
        ] {
            let e = filter(policy.clone()).unwrap_err().to_string();
            assert!(e.contains(expected), "{policy}: {e}");
        }
    }
}
