//! What every backend's batch publish shares: splitting a batch by count and bytes, and
//! one result slot per entry, so that no entry's outcome is lost or invented.

use std::sync::Arc;

use crate::error::{Error, Result};

/// Splits `entries` (each with its index in the caller's batch) into batches of at most
/// `max_entries` entries and `max_bytes` bytes as `size` counts them, keeping their order.
///
/// An entry larger than `max_bytes` on its own gets a batch of its own (the caller has
/// checked sizes; the backend then refuses that one entry).
pub fn split<T>(
    entries: Vec<(usize, T)>,
    max_entries: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = Vec::new();
    let mut bytes = 0;
    for (i, entry) in entries {
        let s = size(&entry);
        match out.last_mut() {
            Some(last) if last.len() < max_entries.max(1) && bytes + s <= max_bytes => {
                bytes += s;
                last.push((i, entry));
            }
            _ => {
                bytes = s;
                out.push(vec![(i, entry)]);
            }
        }
    }
    out
}

/// One result per entry of a batch, filled as answers arrive in any order.
#[derive(Debug)]
pub struct Slots<T> {
    slots: Vec<Option<Result<T>>>,
}

impl<T> Slots<T> {
    /// `n` empty slots.
    pub fn new(n: usize) -> Self {
        Slots {
            slots: (0..n).map(|_| None).collect(),
        }
    }

    /// Records the result of entry `index` (an index the batch does not have is ignored:
    /// the backend answered for an entry that was never sent).
    pub fn fill(&mut self, index: usize, result: Result<T>) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(result);
        }
    }

    /// Records one failure, shared, for every entry of `indexes`.
    pub fn fail_all(&mut self, indexes: &[usize], error: Error) {
        let shared: Arc<Error> = error.into_shared();
        for &i in indexes {
            self.fill(i, Err(Error::Shared(shared.clone())));
        }
    }

    /// The results, in order. An entry the backend's answer left out is an error saying
    /// so: it may or may not have been sent, and the caller must not assume either.
    pub fn into_results(self, what: &str) -> Vec<Result<T>> {
        self.slots
            .into_iter()
            .map(|s| {
                s.unwrap_or_else(|| {
                    Err(Error::backend(format!(
                        "{what}: the batch answer left this entry out (it may or may not have been sent)"
                    )))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_count_and_bytes_and_order() {
        let entries: Vec<(usize, usize)> = (0..25).map(|i| (i, 10)).collect();
        let batches = split(entries, 10, 1000, |s| *s);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        let sizes = vec![(0, 60), (1, 50), (2, 40), (3, 200)];
        let batches = split(sizes, 10, 100, |s| *s);
        let ids: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(ids, [vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn slots_share_one_failure_and_name_what_is_missing() {
        let mut slots: Slots<String> = Slots::new(4);
        slots.fill(0, Ok("m-0".into()));
        slots.fail_all(&[1, 2], Error::transient("SendMessageBatch on queue 'a'"));
        slots.fill(9, Ok("never sent".into()));
        let results = slots.into_results("queue 'a'");
        assert_eq!(results[0].as_ref().unwrap(), "m-0");
        let (Err(Error::Shared(a)), Err(Error::Shared(b))) = (&results[1], &results[2]) else {
            panic!("{results:?}");
        };
        assert!(Arc::ptr_eq(a, b), "one failure, shared");
        assert!(results[1].as_ref().unwrap_err().is_transient());
        let missing = results[3].as_ref().unwrap_err().to_string();
        assert!(missing.contains("left this entry out"), "{missing}");
    }
}
