//! Custom properties, typed as "Message Headers and Properties" (Service Bus REST) defines
//! them for HTTP: a header value surrounded with double quotes is a string (the quotes
//! removed, the content taken as is; an RFC 2616 date a `DateTime`), `true`/`false` a
//! Boolean, an integer an `Int64`, a floating-point number a `Double`; anything else is
//! refused by the service. In a batch ("Send Message Batch") they are JSON values.
//!
//! courier attributes are strings. One that is a number in plain form (see
//! [`is_plain_number`]) travels as a number, so that numeric SQL filters compare numbers;
//! every other value travels as a string. Plain form makes the typing reversible: two
//! plain numbers are equal exactly when their texts are.

use serde_json::Value;

/// A custom property value as it travels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropertyValue {
    /// A string (quoted in a header).
    Text(String),
    /// An `Int64`.
    Integer(i64),
    /// A `Double`, kept with its plain text (which is how it is written).
    Decimal(String),
}

/// Whether `text` is a number in plain form: an integer of at most 18 digits without
/// leading zeros (`0`, `-42`), or a decimal of at most 15 digits with no leading zero
/// before its point but `0.`, and no trailing zero after it (`299.98`, `-0.5`). Such texts
/// convert to an `Int64` or a `Double` and back without change; `007`, `1.50`, `1e3` or
/// `+5` stay strings.
pub(crate) fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = all_digits(whole) && (whole == "0" || !whole.starts_with('0'));
    match fraction {
        None => whole_ok && whole.len() <= 18 && text != "-0",
        Some(f) => whole_ok && all_digits(f) && !f.ends_with('0') && whole.len() + f.len() <= 15,
    }
}

impl PropertyValue {
    /// The value an attribute travels as.
    pub(crate) fn of(value: &str) -> Self {
        if is_plain_number(value) {
            if let Ok(n) = value.parse::<i64>() {
                return PropertyValue::Integer(n);
            }
            if value.contains('.') {
                return PropertyValue::Decimal(value.to_owned());
            }
        }
        PropertyValue::Text(value.to_owned())
    }

    /// The header text, or `None` when an HTTP header cannot carry the value as the
    /// service would read it (a character outside printable ASCII).
    pub(crate) fn header(&self) -> Option<String> {
        match self {
            PropertyValue::Text(s) => s
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b))
                .then(|| format!("\"{s}\"")),
            PropertyValue::Integer(n) => Some(n.to_string()),
            PropertyValue::Decimal(text) => Some(text.clone()),
        }
    }

    /// The JSON value of a batch's `UserProperties`.
    pub(crate) fn json(&self) -> Value {
        match self {
            PropertyValue::Text(s) => Value::String(s.clone()),
            PropertyValue::Integer(n) => Value::from(*n),
            PropertyValue::Decimal(text) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(text.clone()), Value::Number),
        }
    }

    /// Bytes it takes on the wire (the header form; the JSON form is no longer).
    pub(crate) fn size(&self) -> usize {
        match self {
            PropertyValue::Text(s) => s.len() + 2,
            PropertyValue::Integer(n) => n.to_string().len(),
            PropertyValue::Decimal(text) => text.len(),
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
    fn plain_numbers_are_numbers_and_everything_else_text() {
        for n in [
            "0",
            "42",
            "-7",
            "123456789012345678",
            "299.98",
            "-0.5",
            "0.001",
        ] {
            assert!(is_plain_number(n), "{n}");
        }
        for s in [
            "",
            "-",
            "-0",
            "007",
            "+5",
            "1e3",
            "1.50",
            "1.",
            ".5",
            "0x10",
            "NaN",
            "inf",
            "1234567890123456789",
            "1234567890.123456",
            " 5",
            "5 ",
            "1,5",
            "--1",
        ] {
            assert!(!is_plain_number(s), "{s:?}");
        }
        assert_eq!(PropertyValue::of("150"), PropertyValue::Integer(150));
        assert_eq!(
            PropertyValue::of("299.98"),
            PropertyValue::Decimal("299.98".into())
        );
        assert_eq!(PropertyValue::of("007"), PropertyValue::Text("007".into()));
    }

    #[test]
    fn headers_are_written_as_the_service_reads_them() {
        // "Message Headers and Properties": quoted → string, content as is; unquoted
        // integers → Int64, floating-point → Double.
        assert_eq!(PropertyValue::of("150").header().as_deref(), Some("150"));
        assert_eq!(
            PropertyValue::of("299.98").header().as_deref(),
            Some("299.98")
        );
        assert_eq!(
            PropertyValue::of("High").header().as_deref(),
            Some("\"High\"")
        );
        let tricky = r#"say "hi" \o/"#;
        assert_eq!(
            PropertyValue::of(tricky).header().as_deref(),
            Some(r#""say "hi" \o/""#),
            "no JSON escaping: the service takes the content as is"
        );
        assert_eq!(read_header(br#""say "hi" \o/""#), tricky);
        assert_eq!(PropertyValue::of("Zürich").header(), None, "not ASCII");
        assert_eq!(
            PropertyValue::of("a\nb").header(),
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
        assert_eq!(PropertyValue::of("150").json(), serde_json::json!(150));
        assert_eq!(
            PropertyValue::of("299.98").json(),
            serde_json::json!(299.98)
        );
        assert_eq!(
            PropertyValue::of("Zürich").json(),
            serde_json::json!("Zürich")
        );
    }
}
