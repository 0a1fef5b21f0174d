//! Dates as Service Bus REST writes them: RFC 1123 / RFC 2616 (`Sun, 06 Nov 1994 08:49:37
//! GMT`, "Message Headers and Properties": "DateTime headers are formatted as defined by
//! RFC2616"). Reading also accepts the numeric-zone form (`… +0000`) older peers wrote.

use time::format_description::well_known::Rfc2822;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const GMT: &[time::format_description::BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// `Sun, 06 Nov 1994 08:49:37 GMT` (whole seconds, UTC).
pub(crate) fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(GMT)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 GMT".to_owned())
}

/// An RFC 1123 date in the `GMT` form, or the RFC 2822 form with a numeric zone.
pub(crate) fn parse(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = PrimitiveDateTime::parse(text, GMT) {
        return Some(at.assume_utc());
    }
    OffsetDateTime::parse(text, &Rfc2822).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_gmt_form_and_reads_both() {
        // "Message Headers and Properties": "Sun, 06 Nov 1994 08:49:37 GMT".
        let at = parse("Sun, 06 Nov 1994 08:49:37 GMT").expect("the documented form");
        assert_eq!(at.unix_timestamp(), 784_111_777);
        assert_eq!(format(at), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 +0000"), Some(at));
        assert_eq!(parse("Sun, 06 Nov 1994 10:49:37 +0200"), Some(at));
        assert_eq!(parse("1994-11-06T08:49:37Z"), None);
        assert_eq!(parse(""), None);
    }
}
