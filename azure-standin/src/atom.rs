//! Atom XML entity descriptions of the Service Bus management REST API (the subset courier
//! writes and reads: queues, topics, subscriptions, rules).

/// The namespace of Service Bus descriptions.
const SB_NS: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An Atom entry wrapping a description element with these children, in order (Service
/// Bus reads the children in its schema's order).
pub(crate) fn entry(description: &str, children: &[(&str, String)]) -> String {
    let body: String = children
        .iter()
        .map(|(k, v)| format!("<{k}>{}</{k}>", escape(v)))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><{description} xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="{SB_NS}">{body}</{description}></content></entry>"#
    )
}

/// A rule entry with a SQL filter.
pub(crate) fn rule_entry(sql: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><RuleDescription xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="{SB_NS}"><Filter i:type="SqlFilter"><SqlExpression>{}</SqlExpression></Filter><Action i:type="EmptyRuleAction"/></RuleDescription></content></entry>"#,
        escape(sql)
    )
}

/// The text of the first `<tag>…</tag>` (namespace prefixes ignored), unescaped.
pub(crate) fn value(xml: &str, tag: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>')?;
        let head = &rest[..end];
        let name = head
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        let local = name.rsplit(':').next().unwrap_or(name);
        if local == tag && !head.ends_with('/') {
            let after = &rest[end + 1..];
            let close = after.find("</")?;
            return Some(unescape(&after[..close]));
        }
    }
    None
}

/// Whether the document contains a `<tag` element.
pub(crate) fn has(xml: &str, tag: &str) -> bool {
    xml.contains(&format!("<{tag} "))
        || xml.contains(&format!("<{tag}>"))
        || xml.contains(&format!(":{tag} "))
}

/// `PT30S` for 30 seconds (ISO 8601 duration, whole seconds).
pub(crate) fn duration(secs: u64) -> String {
    format!("PT{secs}S")
}

/// Seconds of an ISO 8601 duration like `PT1M30S`, `PT30S`, `P1D`, `PT0.5S`.
pub(crate) fn parse_duration(s: &str) -> Option<f64> {
    let s = s.strip_prefix('P')?;
    let (days, time) = match s.split_once('T') {
        Some((d, t)) => (d, t),
        None => (s, ""),
    };
    let mut secs = 0.0;
    let mut num = String::new();
    for (part, units) in [
        (days, [('D', 86400.0), ('W', 604800.0), ('Y', 31_536_000.0)]),
        (time, [('H', 3600.0), ('M', 60.0), ('S', 1.0)]),
    ] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                secs += num.parse::<f64>().ok()? * unit;
                num.clear();
            }
        }
    }
    num.is_empty().then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back() {
        let xml = entry(
            "QueueDescription",
            &[
                ("LockDuration", duration(30)),
                ("MaxDeliveryCount", "5".into()),
            ],
        );
        assert_eq!(value(&xml, "LockDuration").as_deref(), Some("PT30S"));
        assert_eq!(value(&xml, "MaxDeliveryCount").as_deref(), Some("5"));
        assert!(has(&xml, "QueueDescription"));
        let rule = rule_entry("a = 'x' AND b < 3");
        assert_eq!(
            value(&rule, "SqlExpression").as_deref(),
            Some("a = 'x' AND b < 3")
        );
        assert_eq!(parse_duration("PT1M30S"), Some(90.0));
        assert_eq!(parse_duration("P1DT1S"), Some(86401.0));
        assert_eq!(parse_duration("30S"), None);
    }
}
