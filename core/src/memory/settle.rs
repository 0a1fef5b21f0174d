//! Settlement of in-memory deliveries.

use std::time::Duration;

use async_trait::async_trait;

use crate::delivery::Settle;
use crate::error::{Error, Result};
use crate::message::Message;

use super::{Key, MemoryBroker};

/// The receipt of one in-memory delivery.
pub(crate) struct MemorySettle {
    broker: MemoryBroker,
    key: Key,
    dlq: bool,
    seq: u64,
    token: u64,
}

impl MemorySettle {
    pub(crate) fn new(broker: MemoryBroker, key: Key, dlq: bool, seq: u64, token: u64) -> Self {
        MemorySettle {
            broker,
            key,
            dlq,
            seq,
            token,
        }
    }

    fn lock_lost(&self, why: &str) -> Error {
        Error::LockLost {
            message: format!("message {} of {:?}: {why}", self.seq, self.key),
            source: None,
        }
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&self) -> Result<()> {
        let mut state = self.broker.lock();
        let q = state.queue_mut(&self.key, self.dlq)?;
        q.held(self.seq, self.token)
            .map_err(|why| self.lock_lost(why))?;
        q.messages.remove(&self.seq);
        // The next message of a FIFO group may be free now.
        q.notify.notify_waiters();
        Ok(())
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        let mut state = self.broker.lock();
        let q = state.queue_mut(&self.key, self.dlq)?;
        let stored = q
            .held(self.seq, self.token)
            .map_err(|why| self.lock_lost(why))?;
        stored.visible_at = crate::duration::deadline_after(after);
        stored.token = None;
        q.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, _message: &Message, reason: &str) -> Result<()> {
        let mut state = self.broker.lock();
        let q = state.queue_mut(&self.key, self.dlq)?;
        if q.dlq.is_none() {
            return Err(Error::unsupported(
                "dead-lettering a message that is already in a dead-letter queue",
            ));
        }
        q.held(self.seq, self.token)
            .map_err(|why| self.lock_lost(why))?;
        if let Some(stored) = q.messages.remove(&self.seq) {
            q.dead_letter(stored, reason.to_owned());
        }
        Ok(())
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        let mut state = self.broker.lock();
        let q = state.queue_mut(&self.key, self.dlq)?;
        let stored = q
            .held(self.seq, self.token)
            .map_err(|why| self.lock_lost(why))?;
        stored.visible_at = crate::duration::deadline_after(by);
        Ok(())
    }
}
