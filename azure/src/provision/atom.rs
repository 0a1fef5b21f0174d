//! Pieces of the management API's Atom XML: namespaces, escaping, ISO 8601 durations.

/// The namespace of Service Bus descriptions.
pub(crate) const SERVICE_BUS_NS: &str =
    "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
/// The namespace of `CountDetails`' counts.
pub(crate) const SERVICE_BUS_COUNTS_NS: &str =
    "http://schemas.microsoft.com/netservices/2011/06/servicebus";
/// The XML Schema instance namespace (`i:type`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The Atom namespace.
pub(crate) const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// Text escaped for element content or an attribute value.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An Atom entry around `content` (a description element).
pub(crate) fn entry(content: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><entry xmlns="{ATOM_NS}"><content type="application/xml">{content}</content></entry>"#
    )
}

/// `PT30S` for 30 seconds (an ISO 8601 duration, as `LockDuration` is written).
pub(crate) fn duration(secs: u64) -> String {
    format!("PT{secs}S")
}

/// Seconds of an ISO 8601 duration like `PT1M30S`, `P1DT1S`, `PT0.5S`.
pub(crate) fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim().strip_prefix('P')?;
    let (days, time) = s.split_once('T').unwrap_or((s, ""));
    let mut secs = 0.0;
    for (part, units) in [
        (
            days,
            [('D', 86_400.0), ('W', 604_800.0), ('Y', 31_536_000.0)],
        ),
        (time, [('H', 3_600.0), ('M', 60.0), ('S', 1.0)]),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                secs += number.parse::<f64>().ok()? * unit;
                number.clear();
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write() {
        assert_eq!(duration(30), "PT30S");
        assert_eq!(parse_duration("PT1M30S"), Some(90.0));
        assert_eq!(parse_duration("P1DT1S"), Some(86_401.0));
        assert_eq!(
            parse_duration("P10675199DT2H48M5.4775807S").map(|s| s > 9.2e11),
            Some(true)
        );
        assert_eq!(parse_duration("30S"), None);
        assert_eq!(parse_duration("PT30"), None);
        assert_eq!(escape("a<b & 'c'"), "a&lt;b &amp; &apos;c&apos;");
    }
}
