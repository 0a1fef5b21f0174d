//! .NET `TimeSpan` as Service Bus uses it: 100-nanosecond ticks in an `i64`, written as
//! an ISO 8601 / `xs:duration` in Atom descriptions (`PT1M`, `P10675199DT2H48M5.4775807S`)
//! and as seconds (a double) in `BrokerProperties.TimeToLive`.

use std::fmt;

use time::OffsetDateTime;

const TICKS_PER_SECOND: i64 = 10_000_000;

/// A duration in ticks (never negative here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimeSpan(i64);

impl TimeSpan {
    /// `TimeSpan.MaxValue`: Service Bus's "forever" for time to live and auto-delete.
    pub(crate) const MAX: TimeSpan = TimeSpan(i64::MAX);

    pub(crate) const fn from_secs(secs: i64) -> TimeSpan {
        TimeSpan(secs * TICKS_PER_SECOND)
    }

    /// Whole and fractional seconds, as `BrokerProperties.TimeToLive` carries them.
    pub(crate) fn as_secs_f64(self) -> f64 {
        self.0 as f64 / TICKS_PER_SECOND as f64
    }

    /// From seconds (`BrokerProperties.TimeToLive`): positive, finite and within a
    /// `TimeSpan`, or `None` (the service cannot represent it either).
    pub(crate) fn from_secs_f64(secs: f64) -> Option<TimeSpan> {
        let ticks = secs * TICKS_PER_SECOND as f64;
        // i64::MAX as f64 rounds up to 2^63, so the comparison is strict.
        (secs.is_finite() && secs > 0.0 && ticks < i64::MAX as f64)
            .then(|| TimeSpan((ticks as i64).max(1)))
    }

    /// `at + self`, or `None` past the calendar's end (a time that never comes).
    pub(crate) fn after(self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        let secs = self.0 / TICKS_PER_SECOND;
        let nanos = (self.0 % TICKS_PER_SECOND) * 100;
        at.checked_add(time::Duration::new(secs, nanos as i32))
    }

    /// Parses an `xs:duration` the way .NET's `XmlConvert.ToTimeSpan` reads it: `PnDTnHnMnS`
    /// with optional years (365 days) and months (30 days) and fractional seconds up to
    /// seven digits; `None` when malformed, negative or out of range.
    pub(crate) fn parse_iso8601(text: &str) -> Option<TimeSpan> {
        let rest = text.trim().strip_prefix('P')?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut ticks: i64 = 0;
        let mut any = false;
        for (part, units) in [
            (
                date,
                &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('D', 86_400)][..],
            ),
            (time.unwrap_or(""), &[('H', 3_600), ('M', 60), ('S', 1)][..]),
        ] {
            let mut unit_index = 0;
            let mut number = String::new();
            for c in part.chars() {
                if c.is_ascii_digit() || c == '.' {
                    number.push(c);
                    continue;
                }
                // Units must come in order, each at most once.
                let offset = units[unit_index..].iter().position(|(u, _)| *u == c)?;
                unit_index += offset;
                let seconds = units[unit_index].1;
                unit_index += 1;
                ticks = ticks.checked_add(component(&number, seconds, c == 'S')?)?;
                number.clear();
                any = true;
            }
            if !number.is_empty() {
                return None;
            }
        }
        any.then_some(TimeSpan(ticks))
    }

    /// The `xs:duration` form Service Bus writes: `PT1M`, `P14D`, `PT0.5S`, and for
    /// `TimeSpan.MaxValue` exactly `P10675199DT2H48M5.4775807S`.
    pub(crate) fn to_iso8601(self) -> String {
        let total_secs = self.0 / TICKS_PER_SECOND;
        let fraction = self.0 % TICKS_PER_SECOND;
        let (days, rem) = (total_secs / 86_400, total_secs % 86_400);
        let (hours, minutes, seconds) = (rem / 3_600, rem % 3_600 / 60, rem % 60);
        let mut out = String::from("P");
        if days > 0 {
            out.push_str(&format!("{days}D"));
        }
        if hours > 0 || minutes > 0 || seconds > 0 || fraction > 0 || days == 0 {
            out.push('T');
            if hours > 0 {
                out.push_str(&format!("{hours}H"));
            }
            if minutes > 0 {
                out.push_str(&format!("{minutes}M"));
            }
            if seconds > 0 || fraction > 0 || (hours == 0 && minutes == 0) {
                out.push_str(&seconds.to_string());
                if fraction > 0 {
                    let digits = format!("{fraction:07}");
                    out.push('.');
                    out.push_str(digits.trim_end_matches('0'));
                }
                out.push('S');
            }
        }
        out
    }
}

/// Ticks of one `n<unit>` component; fractions only on seconds, at most 7 digits.
fn component(number: &str, unit_seconds: i64, fractional_allowed: bool) -> Option<i64> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) if fractional_allowed && !f.is_empty() && f.len() <= 7 => (w, f),
        Some(_) => return None,
        None => (number, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let whole_ticks = whole
        .checked_mul(unit_seconds)?
        .checked_mul(TICKS_PER_SECOND)?;
    let fraction_ticks = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<7}").parse::<i64>().ok()?
    };
    whole_ticks.checked_add(fraction_ticks)
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_as_service_bus_does() {
        // The service's "forever" (Create Queue defaults, azure-sdk-for-js test fixtures).
        let max = TimeSpan::parse_iso8601("P10675199DT2H48M5.4775807S").unwrap();
        assert_eq!(max, TimeSpan::MAX);
        assert_eq!(max.to_iso8601(), "P10675199DT2H48M5.4775807S");
        for (text, secs) in [
            ("PT1M", 60),
            ("PT30S", 30),
            ("PT1M30S", 90),
            ("P14D", 14 * 86_400),
            ("P1DT1S", 86_401),
            ("PT10M", 600),
        ] {
            let t = TimeSpan::parse_iso8601(text).unwrap();
            assert_eq!(t, TimeSpan::from_secs(secs), "{text}");
            assert_eq!(t.to_iso8601(), text);
        }
        assert_eq!(TimeSpan::from_secs(0).to_iso8601(), "PT0S");
        assert_eq!(
            TimeSpan::parse_iso8601("PT0.5S").unwrap().to_iso8601(),
            "PT0.5S"
        );
        // azure-servicebus (Python) writes the maximum rounded to six digits.
        let py = TimeSpan::parse_iso8601("P10675199DT2H48M5.477580S").unwrap();
        assert!(py < TimeSpan::MAX);
        for bad in [
            "",
            "P",
            "PT",
            "30S",
            "PT1.5M",
            "PT-1S",
            "PT1S1M",
            "PTS",
            "PT0.12345678S",
            "P99999999999999D",
            "PT1H1H",
        ] {
            assert_eq!(TimeSpan::parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn seconds_out_of_range_are_refused_not_panicking() {
        // courier issue 10, item 11: a TimeToLive of 1e300 panicked the old stand-in.
        for bad in [1e300, f64::INFINITY, f64::NAN, 0.0, -1.0, 9.3e11] {
            assert_eq!(TimeSpan::from_secs_f64(bad), None, "{bad}");
        }
        assert_eq!(TimeSpan::from_secs_f64(90.0), Some(TimeSpan::from_secs(90)));
        let at = OffsetDateTime::now_utc();
        assert_eq!(TimeSpan::MAX.after(at), None, "beyond the calendar: never");
    }
}
