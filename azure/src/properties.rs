//! Custom properties, typed as "Message Headers and Properties" (Service Bus REST) defines
//! them for HTTP: a header value surrounded with double quotes is a string (the quotes
//! removed, the content taken as is; an RFC 2616 date a `DateTime`), `true`/`false` a
//! Boolean, an integer an `Int64`, a floating-point number a `Double`; anything else is
//! refused by the service. In a batch ("Send Message Batch") they are JSON values.
//!
//! courier attributes are strings, and every one travels as a string property under its
//! own name, so string conditions (equality, `LIKE`, `NOT IN` strings) always compare
//! strings. An attribute whose value is a number for numeric conditions
//! ([`numeric_value`]) also travels as a `Double` under [`numeric_name`] (the *numeric
//! shadow*), which numeric conditions read: Service Bus SQL has no conversion between
//! strings and numbers ("Subscription Rule SQL Filter Syntax"), so a condition never
//! meets a value of the other type, and on a value that is no number a numeric condition
//! meets a missing property (unknown). Receivers remove the shadows.

use courier_core::filter::numeric_value;
use serde_json::Value;

/// The prefix of the numeric shadow properties; attribute names may not start with it.
pub(crate) const NUMERIC_PREFIX: &str = "courier_num_";

/// The name of the numeric shadow of attribute `attribute`.
pub(crate) fn numeric_name(attribute: &str) -> String {
    format!("{NUMERIC_PREFIX}{attribute}")
}

/// Whether a property name is a numeric shadow (any case: HTTP folds header names).
pub(crate) fn is_numeric_shadow(name: &str) -> bool {
    name.len() >= NUMERIC_PREFIX.len()
        && name.as_bytes()[..NUMERIC_PREFIX.len()].eq_ignore_ascii_case(NUMERIC_PREFIX.as_bytes())
}

/// A custom property value as it travels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropertyValue {
    /// A string (quoted in a header).
    Text(String),
    /// A `Double` (a numeric shadow).
    Number(f64),
}

/// The properties an attribute travels as: its text under its name, and its numeric
/// shadow when it is a number.
pub(crate) fn attribute_properties(name: &str, value: &str) -> Vec<(String, PropertyValue)> {
    let mut out = vec![(name.to_owned(), PropertyValue::Text(value.to_owned()))];
    if let Some(n) = numeric_value(value) {
        out.push((numeric_name(name), PropertyValue::Number(n)));
    }
    out
}

/// A `Double` as text that reads back as exactly this number and as a `Double`, never an
/// `Int64`: Rust's shortest round-trip form, without exponent, with a point.
fn double_text(n: f64) -> String {
    let text = n.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

impl PropertyValue {
    /// The header text, or `None` when an HTTP header cannot carry the value as the
    /// service would read it (a character outside printable ASCII).
    pub(crate) fn header(&self) -> Option<String> {
        match self {
            PropertyValue::Text(s) => s
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b))
                .then(|| format!("\"{s}\"")),
            PropertyValue::Number(n) => Some(double_text(*n)),
        }
    }

    /// The JSON value of a batch's `UserProperties`.
    pub(crate) fn json(&self) -> Value {
        match self {
            PropertyValue::Text(s) => Value::String(s.clone()),
            // Finite by construction; serde_json writes a float with a point (`5.0`).
            PropertyValue::Number(n) => {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
    }

    /// Bytes it takes on the wire (the header form; the JSON form is no longer).
    pub(crate) fn size(&self) -> usize {
        match self {
            PropertyValue::Text(s) => s.len() + 2,
            PropertyValue::Number(n) => double_text(*n).len(),
        }
    }
}

/// The value of a received custom property header, as text: a quoted value's content as
/// is, anything else (a number, `true`) as written. Bytes that are not UTF-8 are read as
/// Latin-1, as HTTP/1.1 historically defines header bytes.
pub(crate) fn read_header(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    let trimmed = text.trim_matches([' ', '\t']);
    match trimmed.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if trimmed.len() >= 2 => inner.to_owned(),
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_is_a_string_and_numbers_have_a_double_shadow() {
        assert_eq!(
            attribute_properties("amount", "150"),
            vec![
                ("amount".to_owned(), PropertyValue::Text("150".into())),
                (
                    "courier_num_amount".to_owned(),
                    PropertyValue::Number(150.0)
                ),
            ]
        );
        for (text, n) in [("007", 7.0), ("1.50", 1.5), (" -3 ", -3.0), ("1e3", 1000.0)] {
            assert_eq!(
                attribute_properties("k", text)[1].1,
                PropertyValue::Number(n),
                "{text:?}"
            );
        }
        for text in ["eu", "", "inf", "NaN", "0x10", "1,5"] {
            assert_eq!(attribute_properties("k", text).len(), 1, "{text:?}");
        }
        assert!(is_numeric_shadow("Courier_Num_x") && !is_numeric_shadow("courier_nu"));
    }

    #[test]
    fn headers_are_written_as_the_service_reads_them() {
        // "Message Headers and Properties": quoted → string, content as is; unquoted
        // floating-point → Double (with a point, so never read as an Int64).
        assert_eq!(
            PropertyValue::Text("150".into()).header().as_deref(),
            Some("\"150\"")
        );
        assert_eq!(
            PropertyValue::Number(150.0).header().as_deref(),
            Some("150.0")
        );
        assert_eq!(
            PropertyValue::Number(-0.25).header().as_deref(),
            Some("-0.25")
        );
        assert_eq!(
            PropertyValue::Number(1e20).header().as_deref(),
            Some("100000000000000000000.0")
        );
        let tricky = r#"say "hi" \o/"#;
        assert_eq!(
            PropertyValue::Text(tricky.into()).header().as_deref(),
            Some(r#""say "hi" \o/""#),
            "no JSON escaping: the service takes the content as is"
        );
        assert_eq!(read_header(br#""say "hi" \o/""#), tricky);
        assert_eq!(
            PropertyValue::Text("Zürich".into()).header(),
            None,
            "not ASCII"
        );
        assert_eq!(
            PropertyValue::Text("a\nb".into()).header(),
            None,
            "a control character"
        );
        assert_eq!(read_header(b"42"), "42");
        assert_eq!(read_header(b" \"\" "), "");
        assert_eq!(read_header("\"Zürich\"".as_bytes()), "Zürich");
        assert_eq!(read_header(b"\"Z\xfcrich\""), "Zürich", "Latin-1 bytes");
    }

    #[test]
    fn batches_carry_json_values_of_the_same_types() {
        assert_eq!(PropertyValue::Number(150.0).json().to_string(), "150.0");
        assert_eq!(
            PropertyValue::Number(299.98).json(),
            serde_json::json!(299.98)
        );
        assert_eq!(
            PropertyValue::Text("Zürich".into()).json(),
            serde_json::json!("Zürich")
        );
    }
}
