//! One batch of the relay: lock pending rows, publish them in order per key, record what
//! happened, commit.

use std::collections::{HashMap, HashSet};

use courier_core::duration::deadline_after;
use courier_core::{display_chain, Destination, Error, Message, Publisher, Result};
use futures_util::future::join_all;
use tokio::time::Instant;
use tokio_postgres::Client;

use super::relay::RelayConfig;
use super::row::{PendingRow, PENDING_COLUMNS};
use crate::error::map;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchOutcome {
    /// Rows locked for this batch (0: nothing was available).
    pub(crate) selected: usize,
    /// Rows published and marked sent.
    pub(crate) published: u64,
    /// Rows that failed and will be tried again after a backoff.
    pub(crate) retried: u64,
    /// Rows that failed for good (kept with their error, never published).
    pub(crate) gave_up: u64,
}

/// Locks up to `$1` available rows, oldest first, skipping rows other relays hold and
/// rows whose key has an earlier row backing off (they cannot go before it, and must not
/// fill the batch while other keys wait); then keeps those no earlier pending row of the
/// same key outside this batch precedes (one another relay holds).
fn select_sql() -> String {
    format!(
        "WITH batch AS (
            SELECT c.id FROM courier.outbox c
            WHERE c.sent_at IS NULL AND c.failed_at IS NULL AND c.available_at <= now()
              AND (c.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM courier.outbox w
                  WHERE w.ordering_key = c.ordering_key AND w.id < c.id
                    AND w.sent_at IS NULL AND w.failed_at IS NULL AND w.available_at > now()))
            ORDER BY c.id
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        SELECT {PENDING_COLUMNS}
        FROM courier.outbox o JOIN batch b ON b.id = o.id
        WHERE o.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM courier.outbox p
            WHERE p.ordering_key = o.ordering_key AND p.id < o.id
              AND p.sent_at IS NULL AND p.failed_at IS NULL
              AND p.id NOT IN (SELECT id FROM batch))
        ORDER BY o.id"
    )
}

const MARK_SENT: &str = "UPDATE courier.outbox
    SET sent_at = now(), attempts = attempts + 1, last_error = NULL
    WHERE id = ANY($1)";

const MARK_FAILED: &str = "UPDATE courier.outbox AS o
    SET attempts = o.attempts + 1, last_error = f.error,
        available_at = now() + f.delay_ms * interval '1 millisecond',
        failed_at = CASE WHEN f.give_up THEN now() END
    FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bool[]) AS f(id, error, delay_ms, give_up)
    WHERE o.id = f.id";

/// A row that was not published this time.
struct Failure {
    id: i64,
    error: String,
    give_up: bool,
    attempts: i32,
}

/// Runs one batch in one transaction. The rows stay locked while they are published, so
/// a relay killed here leaves them pending (published again later: that batch at most).
pub(crate) async fn relay_batch(
    client: &mut Client,
    publisher: &dyn Publisher,
    config: &RelayConfig,
) -> Result<BatchOutcome> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| map("starting an outbox batch", e))?;
    let limit = i64::try_from(config.batch_size).unwrap_or(i64::MAX);
    let rows = tx
        .query(&select_sql(), &[&limit])
        .await
        .map_err(|e| map("locking pending outbox rows", e))?;
    // From the last statement: the session's idle timeout counts from there.
    let deadline = deadline_after(config.batch_deadline());
    let (mut pending, unreadable) = decode(&rows)?;
    let mut outcome = BatchOutcome {
        selected: rows.len(),
        ..BatchOutcome::default()
    };
    if rows.is_empty() {
        tx.commit()
            .await
            .map_err(|e| map("ending an empty outbox batch", e))?;
        return Ok(outcome);
    }
    let (sent, mut failures) = publish_in_order(&mut pending, publisher, config, deadline).await;
    failures.extend(unreadable);
    tx.execute(MARK_SENT, &[&sent])
        .await
        .map_err(|e| map("marking outbox rows sent", e))?;
    if !failures.is_empty() {
        record_failures(&tx, &failures, config).await?;
    }
    tx.commit()
        .await
        .map_err(|e| map("committing an outbox batch", e))?;
    outcome.published = sent.len() as u64;
    outcome.gave_up = failures.iter().filter(|f| f.give_up).count() as u64;
    outcome.retried = failures.len() as u64 - outcome.gave_up;
    Ok(outcome)
}

/// Decodes each row on its own: one that cannot be read (an operator's `UPDATE`, another
/// writer) is given up alone, its error naming the problem, and the others go out.
fn decode(rows: &[tokio_postgres::Row]) -> Result<(Vec<PendingRow>, Vec<Failure>)> {
    let mut pending = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        match PendingRow::from_row(row) {
            Ok(p) => pending.push(p),
            Err(e) => unreadable.push(Failure {
                id: row
                    .try_get(0)
                    .map_err(|e| map("reading the id of an outbox row", e))?,
                error: display_chain(&e),
                give_up: true,
                attempts: row.try_get(12).unwrap_or(0),
            }),
        }
    }
    Ok((pending, unreadable))
}

async fn record_failures(
    tx: &tokio_postgres::Transaction<'_>,
    failures: &[Failure],
    config: &RelayConfig,
) -> Result<()> {
    let ids: Vec<i64> = failures.iter().map(|f| f.id).collect();
    let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
    let delays: Vec<i64> = failures
        .iter()
        .map(|f| {
            let attempt = u32::try_from(f.attempts).unwrap_or(0).saturating_add(1);
            i64::try_from(config.backoff.delay(attempt).as_millis()).unwrap_or(i64::MAX)
        })
        .collect();
    let give_up: Vec<bool> = failures.iter().map(|f| f.give_up).collect();
    for f in failures {
        if f.give_up {
            tracing::error!(outbox_id = f.id, error = %f.error, "giving up on an outbox message; it stays in courier.outbox with failed_at set");
        } else {
            tracing::warn!(outbox_id = f.id, error = %f.error, "publishing an outbox message failed; retrying later");
        }
    }
    tx.execute(MARK_FAILED, &[&ids, &errors, &delays, &give_up])
        .await
        .map_err(|e| map("recording failed outbox rows", e))?;
    Ok(())
}

/// Round `k` holds the `k`th row of every ordering key (and, in round 0, every row without
/// one): a key never has two rows in one `publish_batch` call, whose entries a backend may
/// send concurrently.
fn rounds(rows: &[PendingRow]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let k = match row.key.as_deref() {
            Some(key) => {
                let n = seen.entry(key).or_insert(0);
                *n += 1;
                *n - 1
            }
            None => 0,
        };
        if rounds.len() <= k {
            rounds.resize_with(k + 1, Vec::new);
        }
        rounds[k].push(i);
    }
    rounds
}

/// Publishes the rows round by round, each round one `publish_batch` per destination (all
/// at once); once a row of a key fails, the key's later rows wait for the next batch.
/// No round starts after `deadline`: the rows of the rounds left stay pending, for the
/// next batch (neither sent nor failed). Returns the ids sent and the failures.
async fn publish_in_order(
    rows: &mut [PendingRow],
    publisher: &dyn Publisher,
    config: &RelayConfig,
    deadline: Instant,
) -> (Vec<i64>, Vec<Failure>) {
    let mut sent = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    let mut blocked: HashSet<String> = HashSet::new();
    for (n, round) in rounds(rows).into_iter().enumerate() {
        if n > 0 && Instant::now() >= deadline {
            tracing::debug!(
                rounds_done = n,
                "outbox batch deadline reached; the rest stays pending for the next batch"
            );
            break;
        }
        let mut calls: Vec<(Destination, Vec<usize>, Vec<Message>)> = Vec::new();
        for i in round {
            let row = &mut rows[i];
            if row.key.as_ref().is_some_and(|k| blocked.contains(k)) {
                continue;
            }
            let destination = match &row.destination {
                Ok(d) => d.clone(),
                Err(e) => {
                    failures.push(failure(row, e, true));
                    continue;
                }
            };
            let message = std::mem::take(&mut row.message);
            match calls.iter_mut().find(|(d, _, _)| *d == destination) {
                Some((_, entries, messages)) => {
                    entries.push(i);
                    messages.push(message);
                }
                None => calls.push((destination, vec![i], vec![message])),
            }
        }
        let results =
            join_all(calls.into_iter().map(|(d, entries, messages)| {
                publish_call(publisher, d, entries, messages, config)
            }))
            .await;
        for (i, result) in results.into_iter().flatten() {
            let row = &rows[i];
            match result {
                Ok(()) => sent.push(row.id),
                Err(e) => {
                    if let Some(key) = &row.key {
                        blocked.insert(key.clone());
                    }
                    let give_up =
                        !e.is_transient() && row.attempts.saturating_add(1) >= config.max_attempts;
                    failures.push(failure(row, &e, give_up));
                }
            }
        }
    }
    (sent, failures)
}

fn failure(row: &PendingRow, e: &Error, give_up: bool) -> Failure {
    Failure {
        id: row.id,
        error: display_chain(e),
        give_up,
        attempts: row.attempts,
    }
}

/// One `publish_batch` call with the relay's timeout; one result per entry.
async fn publish_call(
    publisher: &dyn Publisher,
    destination: Destination,
    entries: Vec<usize>,
    messages: Vec<Message>,
    config: &RelayConfig,
) -> Vec<(usize, Result<()>)> {
    let n = entries.len();
    let call = publisher.publish_batch(&destination, messages);
    let results: Vec<Result<()>> = match tokio::time::timeout(config.publish_timeout, call).await {
        Ok(Ok(results)) if results.len() == n => results.into_iter().map(|r| r.map(drop)).collect(),
        Ok(Ok(results)) => shared(
            n,
            Error::backend(format!(
                "publish_batch to {destination} answered {} results for {n} messages",
                results.len()
            )),
        ),
        Ok(Err(e)) => shared(n, e),
        Err(_) => shared(
            n,
            Error::Timeout {
                what: format!("publish_batch of {n} outbox messages to {destination}"),
                after: config.publish_timeout,
            },
        ),
    };
    entries.into_iter().zip(results).collect()
}

fn shared(n: usize, e: Error) -> Vec<Result<()>> {
    let e = e.into_shared();
    (0..n).map(|_| Err(Error::Shared(e.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, key: Option<&str>) -> PendingRow {
        PendingRow {
            id,
            destination: Ok(Destination::topic("t")),
            key: key.map(str::to_owned),
            message: Message::default(),
            attempts: 0,
        }
    }

    #[test]
    fn a_key_has_at_most_one_row_per_round_in_id_order() {
        let rows = [
            row(1, Some("a")),
            row(2, None),
            row(3, Some("a")),
            row(4, Some("b")),
            row(5, Some("a")),
            row(6, None),
        ];
        assert_eq!(rounds(&rows), [vec![0, 1, 3, 5], vec![2], vec![4]]);
    }
}
