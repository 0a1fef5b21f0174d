//! The transactional outbox: [`Outbox::enqueue`] writes a message into `courier.outbox`
//! inside the caller's transaction; the [`Relay`] publishes it once that transaction has
//! committed.
//!
//! Guarantees, and what they rest on:
//! - **Nothing published for a rolled-back transaction, nothing lost for a committed one**:
//!   the row is part of the transaction; the relay only sees committed rows and marks a
//!   row sent only after the broker accepted it.
//! - **At least once**: a relay killed between publishing and marking sent publishes that
//!   batch again (at most that batch: rows are marked sent at the end of every batch).
//! - **No double publishing in the normal case with several relays**: a relay locks its
//!   batch with `FOR UPDATE SKIP LOCKED` for the length of the batch; the others skip it.
//! - **Order per ordering key** (the message's `group_id`): rows of one key are published
//!   in id order, one per `publish_batch` call, and a row waits while an earlier row of its
//!   key is pending (in another relay's batch, or backing off after a failure). Rows
//!   are numbered when inserted, so writers of one key must be serialized (as they are
//!   when they update the same aggregate row) for id order to be their commit order.

mod batch;
mod relay;
mod row;
mod trace;

use courier_core::{Destination, Event, Message, Result};
use serde::Serialize;
use tokio_postgres::Transaction;

pub use relay::{Relay, RelayConfig, RelayReport, RelayStats};

use crate::error::map;

/// The channel the outbox's trigger notifies on commit.
pub(crate) const CHANNEL: &str = "courier_outbox";

/// Writes messages into the outbox. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbox;

impl Outbox {
    /// Encodes `event` (as [`Event::to_message`] does for a direct publish) and writes it
    /// for `destination` in `transaction`; returns the row's id. It is published once the
    /// transaction commits, never if it rolls back.
    pub async fn enqueue<T: Serialize>(
        transaction: &Transaction<'_>,
        destination: &Destination,
        event: &Event<T>,
    ) -> Result<i64> {
        Self::enqueue_message(transaction, destination, &event.to_message()?).await
    }

    /// Writes `message` for `destination` in `transaction`; returns the row's id. Its
    /// `group_id` is the ordering key. With the `otel` feature, a message without a
    /// `traceparent` gets the current OpenTelemetry context's, so that consumers link to
    /// the span that enqueued it, not to the relay that published it later.
    pub async fn enqueue_message(
        transaction: &Transaction<'_>,
        destination: &Destination,
        message: &Message,
    ) -> Result<i64> {
        let message = trace::with_current_context(message);
        let row = row::NewRow::from_message(destination, &message)?;
        let id = transaction
            .query_one(row::INSERT, &row.params())
            .await
            .map_err(|e| map(&format!("writing to the outbox for {destination}"), e))?
            .get(0);
        Ok(id)
    }
}
