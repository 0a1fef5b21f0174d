//! Exponential backoff with jitter, between a message's attempts and a worker's failed
//! receives.

use std::time::Duration;

/// Exponential backoff between retries: `base * 2^(attempt-1)`, capped at `max`, with
/// "equal jitter" (a random point in the upper half) so that retries of many messages
/// spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Whether to randomise within the upper half of the delay.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay before the next attempt after `attempt` failed attempts (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: false,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
        let j = Backoff { jitter: true, ..b };
        for a in 1..=6 {
            let d = j.delay(a);
            assert!(d >= b.delay(a) / 2 && d <= b.delay(a), "{a}: {d:?}");
        }
    }
}
