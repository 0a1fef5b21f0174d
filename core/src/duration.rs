//! Durations as brokers count them, and deadlines that never overflow.

use std::time::Duration;

use tokio::time::Instant;

/// Whole seconds, rounded up: brokers that count in seconds must never deliver early or
/// release a lock before it was asked for.
pub fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// About thirty years: a deadline this far away is "never" for any broker.
pub const FOREVER: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + after`, saturating at [`FOREVER`] from now instead of overflowing `Instant`
/// (a huge wait or time to live must not panic).
pub fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after.min(FOREVER))
        .unwrap_or_else(|| now + Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_and_saturates() {
        assert_eq!(whole_seconds_up(Duration::from_millis(1000)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
        assert_eq!(whole_seconds_up(Duration::MAX), u64::MAX);
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(365 * 24 * 3600));
    }
}
