//! Durable idempotency (the inbox) on PostgreSQL: [`PostgresIdempotencyStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::worker::{Claim, Context, IdempotencyKey, IdempotencyStore};
use courier_core::{Event, Result};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_postgres::Transaction;

use crate::database::{Connection, Database};
use crate::error::map;

/// The key the pipeline claims for `event` received as `ctx` describes: what a handler
/// passes to [`PostgresIdempotencyStore::complete_in`].
pub fn key_for<T>(ctx: &Context, event: &Event<T>) -> IdempotencyKey {
    IdempotencyKey::new(ctx.source().to_string(), &event.source, &event.id)
}

/// What [`PostgresIdempotencyStore::complete_in`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxRecord {
    /// Recorded as handled in the transaction: commit it.
    Recorded,
    /// Someone already handled this event (committed before this transaction could
    /// record it): roll back, and report success — the event is done.
    AlreadyHandled,
}

/// An [`IdempotencyStore`] in `courier.inbox`, which survives restarts and is shared by
/// every consumer of the database.
///
/// With the worker or the Lambda adapter alone it behaves like the in-memory store across
/// processes (claim with a lease, complete, release). For **exactly-once effects**, a
/// handler that writes to the same database also records the event as handled in its own
/// transaction with [`complete_in`](Self::complete_in): then the effects and the record
/// commit or roll back together, and a redelivery after a crash finds the event done.
///
/// ```no_run
/// use courier_core::worker::{Context, HandlerError};
/// use courier_core::Event;
/// use courier_postgres::{key_for, Database, InboxRecord, PostgresIdempotencyStore};
///
/// async fn reserve_stock(
///     store: &PostgresIdempotencyStore,
///     db: &Database,
///     event: Event<serde_json::Value>,
///     ctx: &Context,
/// ) -> Result<(), HandlerError> {
///     let mut client = db.connect().await.map_err(HandlerError::retry)?;
///     let tx = client.transaction().await.map_err(HandlerError::retry)?;
///     tx.execute("UPDATE stock SET reserved = reserved + 1 WHERE sku = $1", &[&"MUG-RED"])
///         .await
///         .map_err(HandlerError::retry)?;
///     match store.complete_in(&tx, &key_for(ctx, &event)).await.map_err(HandlerError::retry)? {
///         InboxRecord::Recorded => tx.commit().await.map_err(HandlerError::retry)?,
///         InboxRecord::AlreadyHandled => {} // dropping `tx` rolls the duplicate's writes back
///     }
///     Ok(())
/// }
/// ```
pub struct PostgresIdempotencyStore {
    connection: Connection,
    retention: Duration,
    next_purge: Mutex<Instant>,
}

impl fmt::Debug for PostgresIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresIdempotencyStore")
            .field("db", self.connection.database())
            .field("retention", &self.retention)
            .finish()
    }
}

/// How often completed keys past their retention are deleted (by the next `claim`).
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

const CLAIM: &str = "WITH claimed AS (
    INSERT INTO courier.inbox AS i (subscription, event_source, event_id, state, locked_until, updated_at)
    VALUES ($1, $2, $3, 'in_progress', now() + $4::bigint * interval '1 millisecond', now())
    ON CONFLICT (subscription, event_source, event_id) DO UPDATE
        SET state = 'in_progress', locked_until = EXCLUDED.locked_until, updated_at = now()
        WHERE (i.state = 'in_progress' AND i.locked_until <= now())
           OR (i.state = 'completed' AND i.updated_at <= now() - $5::bigint * interval '1 millisecond')
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claimed),
       i.state,
       (extract(epoch FROM i.locked_until - now()) * 1000)::bigint
FROM (SELECT 1) AS one
LEFT JOIN courier.inbox i ON i.subscription = $1 AND i.event_source = $2 AND i.event_id = $3";

const COMPLETE: &str = "INSERT INTO courier.inbox AS i (subscription, event_source, event_id, state, locked_until, updated_at)
    VALUES ($1, $2, $3, 'completed', NULL, now())
    ON CONFLICT (subscription, event_source, event_id) DO UPDATE
        SET state = 'completed', locked_until = NULL, updated_at = now()";

const COMPLETE_IN: &str = "INSERT INTO courier.inbox AS i (subscription, event_source, event_id, state, locked_until, updated_at)
    VALUES ($1, $2, $3, 'completed', NULL, now())
    ON CONFLICT (subscription, event_source, event_id) DO UPDATE
        SET state = 'completed', locked_until = NULL, updated_at = now()
        WHERE i.state <> 'completed' OR i.updated_at <= now() - $4::bigint * interval '1 millisecond'
    RETURNING 1";

const RELEASE: &str = "DELETE FROM courier.inbox
    WHERE subscription = $1 AND event_source = $2 AND event_id = $3 AND state = 'in_progress'";

const PURGE: &str = "DELETE FROM courier.inbox WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM courier.inbox
    WHERE updated_at < now() - $1::bigint * interval '1 millisecond'
      AND (state = 'completed' OR locked_until < now())
    LIMIT 10000))";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PostgresIdempotencyStore {
    /// A store in `db` (migrated with [`migrate`](crate::migrate)) that remembers completed
    /// events for 7 days. It connects at first use and again after losing the connection.
    pub fn new(db: Database) -> Self {
        PostgresIdempotencyStore {
            connection: Connection::new(db),
            retention: Duration::from_secs(7 * 24 * 3600),
            next_purge: Mutex::new(Instant::now()),
        }
    }

    /// How long a completed event is remembered (a redelivery later than this is handled
    /// again). Choose more than the queue's message retention.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// This store behind an `Arc`, as the worker and the pipeline take it.
    pub fn shared(self) -> Arc<dyn IdempotencyStore> {
        Arc::new(self)
    }

    /// Records `key` as handled inside `transaction` (the handler's own, on any connection
    /// to this database): commit the transaction on [`InboxRecord::Recorded`], roll it
    /// back on [`InboxRecord::AlreadyHandled`]. A concurrent handler of the same event
    /// waits here until this transaction ends, then finds it handled (or not, if it rolled
    /// back).
    pub async fn complete_in(
        &self,
        transaction: &Transaction<'_>,
        key: &IdempotencyKey,
    ) -> Result<InboxRecord> {
        let rows = transaction
            .execute(
                COMPLETE_IN,
                &[
                    &key.subscription,
                    &key.event_source,
                    &key.event_id,
                    &millis(self.retention),
                ],
            )
            .await
            .map_err(|e| map(&format!("recording {key} as handled"), e))?;
        Ok(if rows == 1 {
            InboxRecord::Recorded
        } else {
            InboxRecord::AlreadyHandled
        })
    }

    /// Deletes keys past their retention (completed, or claimed by a consumer that died);
    /// returns how many. `claim` does this every ten minutes by itself.
    pub async fn purge_expired(&self) -> Result<u64> {
        let client = self.connection.client().await?;
        let mut total = 0;
        loop {
            let n = client
                .execute(PURGE, &[&millis(self.retention)])
                .await
                .map_err(|e| map("deleting expired idempotency keys", e))?;
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }

    async fn purge_when_due(&self) {
        {
            let mut next = self.next_purge.lock();
            if Instant::now() < *next {
                return;
            }
            *next = Instant::now() + PURGE_INTERVAL;
        }
        if let Err(e) = self.purge_expired().await {
            tracing::warn!(error = %courier_core::display_chain(&e), "could not delete expired idempotency keys");
        }
    }
}

#[async_trait]
impl IdempotencyStore for PostgresIdempotencyStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        self.purge_when_due().await;
        let client = self.connection.client().await?;
        let row = client
            .query_one(
                CLAIM,
                &[
                    &key.subscription,
                    &key.event_source,
                    &key.event_id,
                    &millis(lease),
                    &millis(self.retention),
                ],
            )
            .await
            .map_err(|e| map(&format!("claiming {key}"), e))?;
        let acquired: bool = row.get(0);
        let state: Option<String> = row.get(1);
        let remaining_ms: Option<i64> = row.get(2);
        Ok(match (acquired, state.as_deref()) {
            (true, _) => Claim::Acquired,
            (false, Some("completed")) => Claim::Completed,
            // In progress, or claimed by a transaction that committed after this
            // statement's snapshot was taken.
            _ => Claim::InProgress {
                retry_after: remaining_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis),
            },
        })
    }

    async fn complete(&self, key: &IdempotencyKey) -> Result<()> {
        let client = self.connection.client().await?;
        client
            .execute(
                COMPLETE,
                &[&key.subscription, &key.event_source, &key.event_id],
            )
            .await
            .map_err(|e| map(&format!("completing {key}"), e))?;
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        let client = self.connection.client().await?;
        client
            .execute(
                RELEASE,
                &[&key.subscription, &key.event_source, &key.event_id],
            )
            .await
            .map_err(|e| map(&format!("releasing {key}"), e))?;
        Ok(())
    }
}
