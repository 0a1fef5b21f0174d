//! A message as a row of `courier.outbox`, and back.

use std::collections::BTreeMap;
use std::time::Duration;

use courier_core::{Destination, Error, Message, Result};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

pub(crate) const INSERT: &str = "INSERT INTO courier.outbox
    (destination, ordering_key, body, content_type, attributes, message_id, correlation_id,
     dedup_id, delay_ms, time_to_live_ms, reply_to)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING id";

/// The columns of a new row.
pub(crate) struct NewRow<'a> {
    destination: String,
    message: &'a Message,
    attributes: Json<&'a BTreeMap<String, String>>,
    delay_ms: Option<i64>,
    time_to_live_ms: Option<i64>,
}

fn millis(d: Option<Duration>, what: &str) -> Result<Option<i64>> {
    d.map(|d| {
        i64::try_from(d.as_millis())
            .map_err(|_| Error::invalid_input(format!("the message's {what} of {d:?} is too long")))
    })
    .transpose()
}

impl<'a> NewRow<'a> {
    pub(crate) fn from_message(destination: &Destination, message: &'a Message) -> Result<Self> {
        Ok(NewRow {
            destination: destination.to_string(),
            message,
            attributes: Json(&message.attributes),
            delay_ms: millis(message.delay, "delay")?,
            time_to_live_ms: millis(message.time_to_live, "time to live")?,
        })
    }

    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        let m = self.message;
        [
            &self.destination,
            &m.group_id,
            &m.body,
            &m.content_type,
            &self.attributes,
            &m.message_id,
            &m.correlation_id,
            &m.dedup_id,
            &self.delay_ms,
            &self.time_to_live_ms,
            &m.reply_to,
        ]
    }
}

/// The columns [`PendingRow::from_row`] reads, in order; the delay is what is left of it.
pub(crate) const PENDING_COLUMNS: &str = "o.id, o.destination, o.ordering_key, o.body,
    o.content_type, o.attributes, o.message_id, o.correlation_id, o.dedup_id,
    GREATEST(o.delay_ms - (extract(epoch FROM now() - o.enqueued_at) * 1000)::bigint, 0),
    o.time_to_live_ms, o.reply_to, o.attempts";

/// A pending row read by the relay.
#[derive(Debug)]
pub(crate) struct PendingRow {
    pub(crate) id: i64,
    /// The destination, or why the stored text is not one.
    pub(crate) destination: Result<Destination>,
    /// The ordering key (the message's `group_id`), kept apart from the message, which is
    /// moved out to be published.
    pub(crate) key: Option<String>,
    pub(crate) message: Message,
    pub(crate) attempts: i32,
}

impl PendingRow {
    pub(crate) fn from_row(row: &Row) -> std::result::Result<Self, tokio_postgres::Error> {
        let destination: String = row.try_get(1)?;
        let attributes: Json<BTreeMap<String, String>> = row.try_get(5)?;
        let remaining_delay: Option<i64> = row.try_get(9)?;
        let ttl: Option<i64> = row.try_get(10)?;
        let to_duration = |ms: Option<i64>| {
            ms.and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        };
        let key: Option<String> = row.try_get(2)?;
        Ok(PendingRow {
            id: row.try_get(0)?,
            destination: destination.parse(),
            key: key.clone(),
            message: Message {
                body: row.try_get(3)?,
                content_type: row.try_get(4)?,
                attributes: attributes.0,
                message_id: row.try_get(6)?,
                correlation_id: row.try_get(7)?,
                group_id: key,
                dedup_id: row.try_get(8)?,
                delay: to_duration(remaining_delay),
                time_to_live: to_duration(ttl),
                reply_to: row.try_get(11)?,
            },
            attempts: row.try_get(12)?,
        })
    }
}
