//! Duplicate detection ("Duplicate detection"): an entity with
//! `RequiresDuplicateDetection` remembers each `MessageId` for
//! `DuplicateDetectionHistoryTimeWindow`; a message whose id was seen in the window is
//! accepted and dropped. Memory is bounded by what arrives within one window.

use std::collections::{HashMap, VecDeque};

use time::OffsetDateTime;

use crate::timespan::TimeSpan;

#[derive(Debug, Default)]
pub(crate) struct Dedup {
    seen: HashMap<String, OffsetDateTime>,
    order: VecDeque<(OffsetDateTime, String)>,
}

impl Dedup {
    /// Whether `message_id` was seen within `window` before `now`; remembers it if not.
    pub(crate) fn is_duplicate(
        &mut self,
        message_id: &str,
        now: OffsetDateTime,
        window: TimeSpan,
    ) -> bool {
        while let Some((at, _)) = self.order.front() {
            if window.after(*at).is_some_and(|end| end > now) {
                break;
            }
            if let Some((at, id)) = self.order.pop_front() {
                if self.seen.get(&id) == Some(&at) {
                    self.seen.remove(&id);
                }
            }
        }
        if self.seen.contains_key(message_id) {
            return true;
        }
        self.seen.insert(message_id.to_owned(), now);
        self.order.push_back((now, message_id.to_owned()));
        false
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_for_the_window_only() {
        let t0 = OffsetDateTime::now_utc();
        let window = TimeSpan::from_secs(20);
        let mut d = Dedup::default();
        assert!(!d.is_duplicate("a", t0, window));
        assert!(d.is_duplicate("a", t0 + time::Duration::seconds(19), window));
        assert!(
            !d.is_duplicate("a", t0 + time::Duration::seconds(21), window),
            "window passed"
        );
        for i in 0..100 {
            d.is_duplicate(&i.to_string(), t0 + time::Duration::seconds(30), window);
        }
        assert!(!d.is_duplicate("x", t0 + time::Duration::seconds(60), window));
        assert_eq!(d.len(), 1, "older ids are forgotten");
    }
}
