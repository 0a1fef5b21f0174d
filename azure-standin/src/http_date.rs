//! Dates as the REST protocol writes them. "Message Headers and Properties": `DateTime`
//! headers are formatted as RFC 2616 defines them, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
//! Atom descriptions use `xs:dateTime` (RFC 3339, `2018-10-09T19:56:34.903Z`).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const RFC1123: &[time::format_description::FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// `Sun, 06 Nov 1994 08:49:37 GMT` (always UTC).
pub(crate) fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(RFC1123)
        .unwrap_or_default()
}

/// Reads the RFC 1123 form with the literal `GMT` zone (RFC 2616's preferred form, the one
/// the documentation shows); other forms are refused.
pub(crate) fn parse(text: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(text.trim(), RFC1123)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// `xs:dateTime` in UTC with milliseconds, as Atom descriptions carry it.
pub(crate) fn format_xml(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let at = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_form_round_trips_and_others_are_refused() {
        // "Message Headers and Properties": "Sun, 06 Nov 1994 08:49:37 GMT".
        let t = parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t.unix_timestamp(), 784_111_777);
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "Sun, 06 Nov 1994 08:49:37",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(format_xml(t), "1994-11-06T08:49:37Z");
    }
}
