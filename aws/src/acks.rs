//! Acks batched into DeleteMessageBatch calls of up to 10, without a background task.
//!
//! Acks of a busy worker arrive a few at a time. Each ack joins the open window of its
//! queue (opening one if there is none) and waits at most [`ACK_LINGER`] for companions;
//! the ack that fills a window to 10, or the first one to wake when the window closes,
//! takes it and makes the call for all of them; every ack then reads its own answer.
//! Nothing runs in the background, so the batcher works on whatever runtime the acks run
//! on, for as long as the broker lives.
//!
//! Each entry is answered from the call's result lists
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html>:
//! "check for batch errors even when the call returns an HTTP status code of 200"); an
//! entry in neither list is an error, never taken as deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, DeleteMessageBatchRequestEntry};
use courier_core::batch::Slots;
use courier_core::{display_chain, Error, Result};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::entities::QueueInfo;
use crate::error::{self, EntryFailure};

/// Longest an ack waits for others to share its DeleteMessageBatch call.
pub(crate) const ACK_LINGER: Duration = Duration::from_millis(5);
/// Most entries of one DeleteMessageBatch.
const MAX_ENTRIES: usize = 10;

/// The acks waiting to be deleted together, per queue URL.
pub(crate) struct AckBatcher {
    sqs: aws_sdk_sqs::Client,
    windows: Mutex<HashMap<String, Window>>,
    next_window: AtomicU64,
}

/// Acks of one queue that will share one call.
struct Window {
    id: u64,
    queue: Arc<QueueInfo>,
    closes_at: Instant,
    acks: Vec<PendingAck>,
}

struct PendingAck {
    receipt: String,
    answer: oneshot::Sender<Result<()>>,
}

/// What joining a window gave an ack.
struct Joined {
    window: u64,
    closes_at: Instant,
    /// The window, when this ack filled it: this ack sends it now.
    full: Option<Window>,
}

impl AckBatcher {
    pub(crate) fn new(sqs: aws_sdk_sqs::Client) -> Self {
        AckBatcher {
            sqs,
            windows: Mutex::default(),
            next_window: AtomicU64::new(0),
        }
    }

    /// Deletes the message with `receipt` from `queue`, batched with concurrent acks.
    pub(crate) async fn delete(&self, queue: &Arc<QueueInfo>, receipt: &str) -> Result<()> {
        let (answer, mut reply) = oneshot::channel();
        let joined = self.join(queue, receipt, answer);
        if let Some(window) = joined.full {
            self.send(window).await;
        } else {
            tokio::select! {
                biased;
                // Another ack took the window and answered.
                r = &mut reply => return answered(r),
                _ = tokio::time::sleep_until(joined.closes_at) => {}
            }
            if let Some(window) = self.take(&queue.url, joined.window) {
                self.send(window).await;
            }
        }
        answered(reply.await)
    }

    fn join(
        &self,
        queue: &Arc<QueueInfo>,
        receipt: &str,
        answer: oneshot::Sender<Result<()>>,
    ) -> Joined {
        let mut windows = self.windows.lock();
        let window = windows.entry(queue.url.clone()).or_insert_with(|| Window {
            id: self.next_window.fetch_add(1, Ordering::Relaxed),
            queue: queue.clone(),
            closes_at: Instant::now() + ACK_LINGER,
            acks: Vec::with_capacity(MAX_ENTRIES),
        });
        window.acks.push(PendingAck {
            receipt: receipt.to_owned(),
            answer,
        });
        let (id, closes_at, full) = (
            window.id,
            window.closes_at,
            window.acks.len() >= MAX_ENTRIES,
        );
        Joined {
            window: id,
            closes_at,
            full: if full {
                windows.remove(&queue.url)
            } else {
                None
            },
        }
    }

    /// The window `id` of the queue at `url`, unless another ack took it already.
    fn take(&self, url: &str, id: u64) -> Option<Window> {
        let mut windows = self.windows.lock();
        match windows.get(url) {
            Some(w) if w.id == id => windows.remove(url),
            _ => None,
        }
    }

    /// One DeleteMessageBatch for the window's acks; answers each of them.
    async fn send(&self, window: Window) {
        let what = window.queue.describe();
        let entries: Vec<DeleteMessageBatchRequestEntry> = window
            .acks
            .iter()
            .enumerate()
            .map(|(i, ack)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&ack.receipt)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let result = self
            .sqs
            .delete_message_batch()
            .queue_url(&window.queue.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| error::map("DeleteMessageBatch", &what, e));
        if let Err(e) = &result {
            tracing::warn!(error = %display_chain(e), "acks failed; their messages will be delivered again");
        }
        let answers = answers(window.acks.len(), &what, result);
        for (ack, answer) in window.acks.into_iter().zip(answers) {
            // An ack whose caller stopped waiting needs no answer.
            let _ = ack.answer.send(answer);
        }
    }
}

fn answered(r: std::result::Result<Result<()>, oneshot::error::RecvError>) -> Result<()> {
    r.unwrap_or_else(|_| {
        Err(Error::transient(
            "the DeleteMessageBatch call carrying this ack was abandoned by its caller; the message may or may not have been deleted",
        ))
    })
}

/// One answer per entry of a DeleteMessageBatch of `n` entries (ids `0..n`).
fn answers(n: usize, what: &str, result: Result<DeleteMessageBatchOutput>) -> Vec<Result<()>> {
    let mut slots = Slots::new(n);
    match result {
        Ok(out) => {
            for ok in out.successful {
                if let Ok(i) = ok.id.parse() {
                    slots.fill(i, Ok(()));
                }
            }
            for failed in out.failed {
                if let Ok(i) = failed.id.parse() {
                    slots.fill(i, Err(entry_error(failed, what)));
                }
            }
        }
        Err(e) => slots.fail_all(&(0..n).collect::<Vec<_>>(), e),
    }
    slots.into_results(&format!("DeleteMessageBatch on {what}"))
}

/// A failed entry: a receipt handle that no longer holds the message is `LockLost`
/// (DeleteMessage's `ReceiptHandleIsInvalid`); the rest by code.
fn entry_error(failed: BatchResultErrorEntry, what: &str) -> Error {
    let failure = EntryFailure {
        code: failed.code,
        message: failed.message,
        sender_fault: failed.sender_fault,
    };
    if failure.code == "ReceiptHandleIsInvalid" {
        return Error::LockLost {
            message: format!("DeleteMessageBatch entry on {what}"),
            source: Some(Box::new(failure)),
        };
    }
    failure.into_error("DeleteMessageBatch", what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::DeleteMessageBatchResultEntry;

    fn output(ok: &[&str], failed: &[(&str, &str)]) -> DeleteMessageBatchOutput {
        let mut out = DeleteMessageBatchOutput::builder();
        for id in ok {
            out = out.successful(
                DeleteMessageBatchResultEntry::builder()
                    .id(*id)
                    .build()
                    .unwrap(),
            );
        }
        for (id, code) in failed {
            out = out.failed(
                BatchResultErrorEntry::builder()
                    .id(*id)
                    .code(*code)
                    .sender_fault(false)
                    .message("why")
                    .build()
                    .unwrap(),
            );
        }
        out.build().unwrap()
    }

    #[test]
    fn every_entry_is_answered_and_a_missing_one_is_an_error() {
        let got = answers(
            4,
            "queue 'a'",
            Ok(output(
                &["0"],
                &[("1", "ReceiptHandleIsInvalid"), ("2", "InternalError")],
            )),
        );
        assert!(got[0].is_ok());
        assert!(
            matches!(got[1], Err(Error::LockLost { .. })),
            "{:?}",
            got[1]
        );
        assert!(got[2].as_ref().unwrap_err().is_transient(), "{:?}", got[2]);
        let missing = got[3].as_ref().expect_err("left out of both lists");
        assert!(
            missing.to_string().contains("left this entry out"),
            "{missing}"
        );
    }

    #[test]
    fn a_failed_call_is_one_shared_error() {
        let got = answers(
            2,
            "queue 'a'",
            Err(Error::transient("DeleteMessageBatch on queue 'a'")),
        );
        let (Err(Error::Shared(a)), Err(Error::Shared(b))) = (&got[0], &got[1]) else {
            panic!("{got:?}");
        };
        assert!(Arc::ptr_eq(a, b) && a.is_transient());
    }
}
