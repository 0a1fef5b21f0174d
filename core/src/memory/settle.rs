//! Settlement of in-memory deliveries: through the delivery's own queue, never the map.

use std::time::Duration;

use async_trait::async_trait;

use super::QueueRef;
use crate::delivery::Settle;
use crate::error::{Error, Result};
use crate::message::Message;

/// The receipt of one in-memory delivery.
pub(crate) struct MemorySettle {
    queue: QueueRef,
    seq: u64,
    token: u64,
}

impl MemorySettle {
    pub(crate) fn new(queue: QueueRef, seq: u64, token: u64) -> Self {
        MemorySettle { queue, seq, token }
    }

    fn lock_lost(&self, queue: &str, why: &str) -> Error {
        Error::LockLost {
            message: format!("message {} of {queue}: {why}", self.seq),
            source: None,
        }
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&self) -> Result<()> {
        let mut q = self.queue.lock();
        if let Err(why) = q.held(self.seq, self.token) {
            return Err(self.lock_lost(&q.name, why));
        }
        q.messages.remove(&self.seq);
        // The next message of a FIFO group may be free now.
        if q.settings.fifo {
            q.notify.notify_waiters();
        }
        Ok(())
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        let mut q = self.queue.lock();
        let name = q.name.clone();
        let stored = q
            .held(self.seq, self.token)
            .map_err(|why| self.lock_lost(&name, why))?;
        stored.visible_at = crate::duration::deadline_after(after);
        stored.token = None;
        q.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, _message: &Message, reason: &str) -> Result<()> {
        let mut q = self.queue.lock();
        if q.dlq.is_none() {
            return Err(Error::unsupported(
                "dead-lettering a message that is already in a dead-letter queue",
            ));
        }
        if let Err(why) = q.held(self.seq, self.token) {
            return Err(self.lock_lost(&q.name, why));
        }
        if let Some(stored) = q.messages.remove(&self.seq) {
            q.dead_letter(stored, reason.to_owned());
        }
        Ok(())
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        let mut q = self.queue.lock();
        let name = q.name.clone();
        let stored = q
            .held(self.seq, self.token)
            .map_err(|why| self.lock_lost(&name, why))?;
        stored.visible_at = crate::duration::deadline_after(by);
        Ok(())
    }
}
