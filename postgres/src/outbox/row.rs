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
    /// Reads a row the relay locked; a column it cannot read (a row another writer or an
    /// operator changed) is an [`Error::InvalidInput`] naming it.
    pub(crate) fn from_row(row: &Row) -> Result<Self> {
        let destination: String = column(row, 1, "destination")?;
        let attributes: Json<serde_json::Value> = column(row, 5, "attributes")?;
        let remaining_delay: Option<i64> = column(row, 9, "delay_ms")?;
        let ttl: Option<i64> = column(row, 10, "time_to_live_ms")?;
        let to_duration = |ms: Option<i64>| {
            ms.and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        };
        let key: Option<String> = column(row, 2, "ordering_key")?;
        Ok(PendingRow {
            id: column(row, 0, "id")?,
            destination: destination.parse(),
            key: key.clone(),
            message: Message {
                body: column(row, 3, "body")?,
                content_type: column(row, 4, "content_type")?,
                attributes: string_map(attributes.0)?,
                message_id: column(row, 6, "message_id")?,
                correlation_id: column(row, 7, "correlation_id")?,
                group_id: key,
                dedup_id: column(row, 8, "dedup_id")?,
                delay: to_duration(remaining_delay),
                time_to_live: to_duration(ttl),
                reply_to: column(row, 11, "reply_to")?,
            },
            attempts: column(row, 12, "attempts")?,
        })
    }
}

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
    name: &str,
) -> Result<T> {
    row.try_get(index).map_err(|e| Error::InvalidInput {
        message: format!("cannot read the outbox row's {name} column"),
        source: Some(Box::new(e)),
    })
}

/// The `attributes` column as message attributes: a JSON object of strings.
fn string_map(value: serde_json::Value) -> Result<BTreeMap<String, String>> {
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    };
    let serde_json::Value::Object(object) = value else {
        return Err(Error::invalid_input(format!(
            "the outbox row's attributes column must be a JSON object of strings, not {}",
            kind(&value)
        )));
    };
    object
        .into_iter()
        .map(|(name, v)| match v {
            serde_json::Value::String(s) => Ok((name, s)),
            other => Err(Error::invalid_input(format!(
                "the outbox row's attributes column must be a JSON object of strings; {name:?} is {}",
                kind(&other)
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_must_be_an_object_of_strings() {
        let ok = string_map(serde_json::json!({"a": "1"})).unwrap();
        assert_eq!(ok, BTreeMap::from([("a".to_owned(), "1".to_owned())]));
        for (value, says) in [
            (serde_json::json!({"a": "1", "n": 2}), "\"n\" is a number"),
            (serde_json::json!(["a"]), "not an array"),
            (serde_json::Value::Null, "not null"),
        ] {
            let e = string_map(value).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
