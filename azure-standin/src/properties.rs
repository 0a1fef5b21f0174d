//! Custom (application) properties and their types, as "Message Headers and Properties"
//! (Service Bus REST reference) defines them for HTTP: each property is one header, and
//! its type is inferred from the text:
//!
//! - surrounded with double quotes: an RFC 2616 date is a `DateTime`, anything else a
//!   `String` (the quotes removed, the content taken as is);
//! - otherwise `true`/`false` (case-sensitive) is a `Boolean`, an integer an `Int64`, a
//!   floating-point number a `Double`, and anything else makes the broker reject the
//!   message.

use time::OffsetDateTime;

use crate::http_date;
use crate::timespan::TimeSpan;

/// A typed value: of a property, or computed by a SQL filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Long(i64),
    Double(f64),
    Bool(bool),
    DateTime(OffsetDateTime),
    TimeSpan(TimeSpan),
    Guid(uuid::Uuid),
}

impl Value {
    /// The .NET type name, for error texts.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "System.String",
            Value::Long(_) => "System.Int64",
            Value::Double(_) => "System.Double",
            Value::Bool(_) => "System.Boolean",
            Value::DateTime(_) => "System.DateTime",
            Value::TimeSpan(_) => "System.TimeSpan",
            Value::Guid(_) => "System.Guid",
        }
    }
}

/// A message's custom properties: names compare case-insensitively (SQL filter syntax:
/// "Property names are case-insensitive"), the first spelling is kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Properties(Vec<(String, Value)>);

impl Properties {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Sets a property, replacing one of the same name (any case).
    pub(crate) fn set(&mut self, name: &str, value: Value) {
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(String, Value)> {
        self.0.iter()
    }

    /// Bytes as the size quota counts them (name and rendered value of each).
    pub(crate) fn size(&self) -> usize {
        self.0
            .iter()
            .map(|(k, v)| k.len() + render_header(v).len())
            .sum()
    }
}

/// Request headers that are HTTP or protocol plumbing, never custom properties ("Any
/// property name that corresponds to the restricted HTTP header (for example, Connection,
/// Expect, and so on), is also excluded"; `x-ms-*` are Azure's request headers).
pub(crate) fn is_plumbing(name: &str) -> bool {
    const HTTP: &[&str] = &[
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "authorization",
        "brokerproperties",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "date",
        "expect",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "keep-alive",
        "origin",
        "pragma",
        "proxy-authorization",
        "proxy-connection",
        "range",
        "referer",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
    ];
    let lower = name.to_ascii_lowercase();
    HTTP.contains(&lower.as_str()) || lower.starts_with("x-ms-")
}

/// The typed value of a custom property header, or why the message is rejected.
pub(crate) fn parse_header(name: &str, raw: &[u8]) -> Result<Value, String> {
    // HTTP field values are ASCII; how the service decodes other bytes is not documented,
    // so the stand-in refuses them rather than guess (UTF-8 and Latin-1 differ).
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(format!("the value of property '{name}' is not ASCII"));
    };
    if !text.is_ascii() {
        return Err(format!(
            "the value of property '{name}' is not ASCII: HTTP headers carry ASCII, and the service's decoding of other bytes is not documented"
        ));
    }
    let text = text.trim_matches([' ', '\t']);
    if let Some(inner) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|_| text.len() >= 2)
    {
        return Ok(match http_date::parse(inner) {
            Some(at) => Value::DateTime(at),
            None => Value::Str(inner.to_owned()),
        });
    }
    match text {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Value::Long(n));
    }
    if is_decimal(text) {
        if let Ok(d) = text.parse::<f64>() {
            if d.is_finite() {
                return Ok(Value::Double(d));
            }
        }
    }
    Err(format!(
        "the value of property '{name}' ({text}) is neither a quoted string, true/false nor a number; quote strings (\"...\")"
    ))
}

/// `[+-]digits[.digits][(e|E)[+-]digits]`: what a floating-point number looks like.
fn is_decimal(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((w, f)) => (w.is_empty() || digits(w)) && digits(f),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// The header text of a value, as the service writes received messages' properties.
pub(crate) fn render_header(value: &Value) -> String {
    match value {
        Value::Str(s) => format!("\"{s}\""),
        Value::Long(n) => n.to_string(),
        Value::Double(d) => format_double(*d),
        Value::Bool(b) => b.to_string(),
        Value::DateTime(at) => format!("\"{}\"", http_date::format(*at)),
        Value::TimeSpan(t) => format_double(t.as_secs_f64()),
        Value::Guid(g) => format!("\"{g}\""),
    }
}

fn format_double(d: f64) -> String {
    let text = d.to_string();
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        // Keep it a Double when read back (an integer would become an Int64).
        format!("{text}.0")
    }
}

/// The typed value of a `UserProperties` entry of a batch (Send Message Batch): JSON
/// strings, numbers and booleans; strings in the RFC 2616 date form are dates, as in
/// headers.
pub(crate) fn from_json(name: &str, value: &serde_json::Value) -> Result<Value, String> {
    match value {
        serde_json::Value::String(s) => Ok(match http_date::parse(s) {
            Some(at) => Value::DateTime(at),
            None => Value::Str(s.clone()),
        }),
        serde_json::Value::Bool(b) => Ok(Value::Bool(*b)),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Value::Long(i)),
            (None, Some(d)) if d.is_finite() => Ok(Value::Double(d)),
            _ => Err(format!("UserProperties '{name}': {n} is out of range")),
        },
        other => Err(format!(
            "UserProperties '{name}' must be a string, number or boolean, not {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(raw: &str) -> Result<Value, String> {
        parse_header("p", raw.as_bytes())
    }

    #[test]
    fn header_values_are_typed_as_documented() {
        // "Message Headers and Properties", section "Message properties".
        assert_eq!(typed("\"High\""), Ok(Value::Str("High".into())));
        assert_eq!(typed("\"12345,ABC\""), Ok(Value::Str("12345,ABC".into())));
        assert_eq!(
            typed("\"a\"b\""),
            Ok(Value::Str("a\"b".into())),
            "content as is"
        );
        assert_eq!(typed("\"\""), Ok(Value::Str(String::new())));
        assert_eq!(
            typed("\"42\""),
            Ok(Value::Str("42".into())),
            "quoted: a string"
        );
        assert_eq!(typed("42"), Ok(Value::Long(42)));
        assert_eq!(typed("-7"), Ok(Value::Long(-7)));
        assert_eq!(typed("299.98"), Ok(Value::Double(299.98)));
        assert_eq!(typed("1e3"), Ok(Value::Double(1000.0)));
        assert_eq!(
            typed("99999999999999999999"),
            Ok(Value::Double(1e20)),
            "not an Int64: a Double"
        );
        assert_eq!(typed("true"), Ok(Value::Bool(true)));
        assert!(
            matches!(
                typed("\"Fri, 04 Mar 2011 08:49:37 GMT\""),
                Ok(Value::DateTime(_))
            ),
            "quoted RFC 2616 date"
        );
        // "Otherwise, the broker rejects the message."
        for bad in [
            "True",
            "High",
            "Windows 7 Ultimate",
            "1,5",
            "NaN",
            "inf",
            "\"",
            "0x10",
        ] {
            assert!(typed(bad).is_err(), "{bad} must be refused");
        }
        assert!(parse_header("city", "\"Zürich\"".as_bytes()).is_err());
    }

    #[test]
    fn values_render_back_in_their_types() {
        for v in [
            Value::Str("x y".into()),
            Value::Long(5),
            Value::Double(2.0),
            Value::Double(0.25),
            Value::Bool(false),
        ] {
            assert_eq!(typed(&render_header(&v)), Ok(v));
        }
    }

    #[test]
    fn batch_user_properties_are_json_typed() {
        // Send Message Batch: "UserProperties" is a JSON object.
        let v = |j: serde_json::Value| from_json("p", &j);
        assert_eq!(v(serde_json::json!("a")), Ok(Value::Str("a".into())));
        assert_eq!(v(serde_json::json!(3)), Ok(Value::Long(3)));
        assert_eq!(v(serde_json::json!(3.5)), Ok(Value::Double(3.5)));
        assert_eq!(v(serde_json::json!(true)), Ok(Value::Bool(true)));
        assert!(v(serde_json::json!(null)).is_err());
        assert!(v(serde_json::json!({"a": 1})).is_err());
    }
}
