//! `RuleDescription`s: `Filter` (`SqlFilter`, `TrueFilter`, `FalseFilter`,
//! `CorrelationFilter`, by `i:type`), `Action`, `CreatedAt`, `Name` — in that order
//! (azure-servicebus `RuleDescription`, azure-sdk-for-net `RuleDescriptionExtensions`).
//! Key/value lists are `KeyValueOfstringanyType` with an `xsi:type`d `Value`.

use roxmltree::Node;
use time::OffsetDateTime;

use super::xml::{
    element, elements, escape, leaf_text, qualified, xsi_type, SB_NS, XSD_NS, XSI_NS,
};
use crate::failure::Failure;
use crate::http_date;
use crate::properties::Value;
use crate::rule::{Correlation, Rule, RuleFilter, SqlKind};
use crate::timespan::TimeSpan;

/// Children of `node`, each named in `order`, in that order, at most once.
fn ordered<'a, 'i>(
    node: Node<'a, 'i>,
    order: &[&str],
) -> Result<Vec<(usize, Node<'a, 'i>)>, Failure> {
    let mut out: Vec<(usize, Node<'a, 'i>)> = Vec::new();
    for child in elements(node) {
        let name = child.tag_name().name();
        let index = order
            .iter()
            .position(|n| *n == name)
            .filter(|_| child.tag_name().namespace() == Some(SB_NS))
            .ok_or_else(|| {
                Failure::bad_request(format!(
                    "{} is not an element of {}",
                    qualified(child),
                    node.tag_name().name()
                ))
            })?;
        if let Some((last, _)) = out.last() {
            if index <= *last {
                return Err(Failure::bad_request(format!(
                    "{}: {name} is out of order or repeated (order: {})",
                    node.tag_name().name(),
                    order.join(", ")
                )));
            }
        }
        out.push((index, child));
    }
    Ok(out)
}

/// Parses a `RuleDescription` (or a subscription's `DefaultRuleDescription`); the name is
/// the URL's when given, else the body's, else `$Default`.
pub(crate) fn parse_rule(node: Node<'_, '_>, url_name: Option<&str>) -> Result<Rule, Failure> {
    let mut filter = None;
    let mut body_name = None;
    for (index, child) in ordered(node, &["Filter", "Action", "CreatedAt", "Name"])? {
        match index {
            0 => filter = Some(parse_filter(child)?),
            1 => parse_action(child)?,
            2 => {}
            _ => body_name = Some(leaf_text(child)?.trim().to_owned()),
        }
    }
    let name = match (url_name, body_name) {
        (Some(url), Some(body)) if !body.is_empty() && !body.eq_ignore_ascii_case(url) => {
            return Err(Failure::bad_request(format!(
                "the rule is named '{body}' in the body but '{url}' in the address"
            )))
        }
        (Some(url), _) => url.to_owned(),
        (None, Some(body)) if !body.is_empty() => body,
        (None, _) => "$Default".to_owned(),
    };
    Ok(Rule {
        name,
        // A rule without a filter matches everything, as RuleDescription's default.
        filter: filter.unwrap_or_else(RuleFilter::match_all),
        created_at: OffsetDateTime::now_utc(),
    })
}

fn parse_filter(node: Node<'_, '_>) -> Result<RuleFilter, Failure> {
    let kind = xsi_type(node)
        .map(|(_, t)| t)
        .ok_or_else(|| Failure::bad_request("the Filter has no i:type"))?;
    let sql_kind = match kind {
        "SqlFilter" => SqlKind::Sql,
        "TrueFilter" => SqlKind::True,
        "FalseFilter" => SqlKind::False,
        "CorrelationFilter" => return parse_correlation(node),
        other => {
            return Err(Failure::bad_request(format!(
                "'{other}' is not a filter type"
            )))
        }
    };
    let mut expression = None;
    let mut parameters = Vec::new();
    for (index, child) in ordered(
        node,
        &[
            "SqlExpression",
            "CompatibilityLevel",
            "Parameters",
            "RequiresPreprocessing",
        ],
    )? {
        match index {
            0 => expression = Some(leaf_text(child)?),
            1 => {
                let level = leaf_text(child)?;
                if level.trim() != "20" {
                    return Err(Failure::bad_request(format!(
                        "CompatibilityLevel {level} is not supported (20 is)"
                    )));
                }
            }
            2 => parameters = key_values(child)?,
            _ => {}
        }
    }
    let expression = match (expression, sql_kind) {
        (Some(e), _) => e,
        (None, SqlKind::True) => "1=1".to_owned(),
        (None, SqlKind::False) => "1=0".to_owned(),
        (None, SqlKind::Sql) => {
            return Err(Failure::bad_request("a SqlFilter needs a SqlExpression"))
        }
    };
    RuleFilter::sql(sql_kind, &expression, parameters)
        .map_err(|e| Failure::bad_request(format!("the SQL filter '{expression}' is invalid: {e}")))
}

fn parse_correlation(node: Node<'_, '_>) -> Result<RuleFilter, Failure> {
    const ORDER: &[&str] = &[
        "CorrelationId",
        "MessageId",
        "To",
        "ReplyTo",
        "Label",
        "SessionId",
        "ReplyToSessionId",
        "ContentType",
        "Properties",
    ];
    let mut c = Correlation::default();
    for (index, child) in ordered(node, ORDER)? {
        if index == 8 {
            c.properties = key_values(child)?;
            continue;
        }
        let text = Some(leaf_text(child)?);
        let slot = match index {
            0 => &mut c.correlation_id,
            1 => &mut c.message_id,
            2 => &mut c.to,
            3 => &mut c.reply_to,
            4 => &mut c.label,
            5 => &mut c.session_id,
            6 => &mut c.reply_to_session_id,
            _ => &mut c.content_type,
        };
        *slot = text;
    }
    let any_system = [
        &c.correlation_id,
        &c.message_id,
        &c.to,
        &c.reply_to,
        &c.label,
        &c.session_id,
        &c.reply_to_session_id,
        &c.content_type,
    ]
    .iter()
    .any(|v| v.is_some());
    if !any_system && c.properties.is_empty() {
        return Err(Failure::bad_request(
            "a CorrelationFilter needs at least one property to match",
        ));
    }
    Ok(RuleFilter::Correlation(c))
}

fn parse_action(node: Node<'_, '_>) -> Result<(), Failure> {
    match xsi_type(node).map(|(_, t)| t) {
        None | Some("EmptyRuleAction") => Ok(()),
        Some("SqlRuleAction") => Err(Failure::not_modelled("A SqlRuleAction (rule actions)")),
        Some(other) => Err(Failure::bad_request(format!(
            "'{other}' is not a rule action type"
        ))),
    }
}

/// `KeyValueOfstringanyType` entries of `Parameters` / `Properties`.
fn key_values(node: Node<'_, '_>) -> Result<Vec<(String, Value)>, Failure> {
    let mut out = Vec::new();
    for kv in elements(node) {
        if kv.tag_name().name() != "KeyValueOfstringanyType"
            || kv.tag_name().namespace() != Some(SB_NS)
        {
            return Err(Failure::bad_request(format!(
                "{} is not a KeyValueOfstringanyType",
                qualified(kv)
            )));
        }
        let parts = ordered(kv, &["Key", "Value"])?;
        let (Some((0, key)), Some((1, value))) = (parts.first(), parts.get(1)) else {
            return Err(Failure::bad_request(
                "a KeyValueOfstringanyType needs a Key and a Value",
            ));
        };
        let key = leaf_text(*key)?;
        out.push((key.clone(), typed_value(&key, *value)?));
    }
    Ok(out)
}

fn typed_value(key: &str, node: Node<'_, '_>) -> Result<Value, Failure> {
    let text = leaf_text(node)?;
    let (ns, ty) = xsi_type(node).unwrap_or((Some(XSD_NS), "string"));
    let bad = || {
        Failure::bad_request(format!(
            "the value of '{key}' ('{text}') is not a valid {ty}"
        ))
    };
    if ns != Some(XSD_NS) {
        return Err(Failure::bad_request(format!(
            "the value of '{key}' has an unsupported type {ty}"
        )));
    }
    Ok(match ty {
        "string" => Value::Str(text),
        "int" | "long" | "short" | "byte" => Value::Long(text.trim().parse().map_err(|_| bad())?),
        "double" | "float" => Value::Double(text.trim().parse().map_err(|_| bad())?),
        "boolean" => Value::Bool(match text.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad()),
        }),
        "dateTime" => Value::DateTime(
            OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad())?,
        ),
        "duration" => Value::TimeSpan(TimeSpan::parse_iso8601(&text).ok_or_else(bad)?),
        other => {
            return Err(Failure::bad_request(format!(
                "the value of '{key}' has an unsupported type {other}"
            )))
        }
    })
}

fn render_key_values(name: &str, pairs: &[(String, Value)]) -> String {
    let mut out = format!("<{name}>");
    for (k, v) in pairs {
        let (ty, text) = match v {
            Value::Str(s) => ("string", s.clone()),
            Value::Long(n) => (
                if i32::try_from(*n).is_ok() {
                    "int"
                } else {
                    "long"
                },
                n.to_string(),
            ),
            Value::Double(d) => ("double", d.to_string()),
            Value::Bool(b) => ("boolean", b.to_string()),
            Value::DateTime(at) => ("dateTime", http_date::format_xml(*at)),
            Value::TimeSpan(t) => ("duration", t.to_iso8601()),
            Value::Guid(g) => ("string", g.to_string()),
        };
        out.push_str(&format!(
            "<KeyValueOfstringanyType>{}<Value xmlns:d6p1=\"{XSD_NS}\" i:type=\"d6p1:{ty}\">{}</Value></KeyValueOfstringanyType>",
            element("Key", k),
            escape(&text)
        ));
    }
    out.push_str(&format!("</{name}>"));
    out
}

/// The `RuleDescription` element of an answer.
pub(crate) fn render_rule(rule: &Rule) -> String {
    let filter = match &rule.filter {
        RuleFilter::Sql {
            kind,
            expression,
            parameters,
            ..
        } => {
            let ty = match kind {
                SqlKind::Sql => "SqlFilter",
                SqlKind::True => "TrueFilter",
                SqlKind::False => "FalseFilter",
            };
            let params = if parameters.is_empty() {
                String::new()
            } else {
                render_key_values("Parameters", parameters)
            };
            format!(
                "<Filter i:type=\"{ty}\">{}<CompatibilityLevel>20</CompatibilityLevel>{params}</Filter>",
                element("SqlExpression", expression)
            )
        }
        RuleFilter::Correlation(c) => {
            let mut inner = String::new();
            for (name, value) in [
                ("CorrelationId", &c.correlation_id),
                ("MessageId", &c.message_id),
                ("To", &c.to),
                ("ReplyTo", &c.reply_to),
                ("Label", &c.label),
                ("SessionId", &c.session_id),
                ("ReplyToSessionId", &c.reply_to_session_id),
                ("ContentType", &c.content_type),
            ] {
                if let Some(v) = value {
                    inner.push_str(&element(name, v));
                }
            }
            inner.push_str(&render_key_values("Properties", &c.properties));
            format!("<Filter i:type=\"CorrelationFilter\">{inner}</Filter>")
        }
    };
    format!(
        "<RuleDescription xmlns:i=\"{XSI_NS}\" xmlns=\"{SB_NS}\">{filter}<Action i:type=\"EmptyRuleAction\"/>{}{}</RuleDescription>",
        element("CreatedAt", &http_date::format_xml(rule.created_at)),
        element("Name", &rule.name)
    )
}
