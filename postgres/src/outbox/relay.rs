//! The relay: publishes committed outbox rows, batch after batch, waking on `NOTIFY`.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::worker::Backoff;
use courier_core::{display_chain, Destination, Error, Message, Publisher, Result};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_postgres::Client;

use super::batch::{relay_batch, BatchOutcome};
use super::CHANNEL;
use crate::database::Database;
use crate::error::map;

/// Settings of a [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Most rows one batch locks and publishes (at least 1).
    pub batch_size: usize,
    /// How long to wait for more work when `NOTIFY` does not come (or without it).
    pub poll_interval: Duration,
    /// Wake on `LISTEN courier_outbox` (turn it off behind a pooler in transaction mode,
    /// where `LISTEN` does not work; the relay then polls).
    pub listen: bool,
    /// Longest one `publish_batch` call may take; after it, its rows count as failed (they
    /// may have been published: they are published again, never lost). It also sets the
    /// session's idle-in-transaction timeout (3 times it, at least 1 s) and how long a
    /// batch keeps starting rounds (the rest of its rows wait for the next batch).
    pub publish_timeout: Duration,
    /// Attempts before a row that fails permanently (not transiently) is given up (kept
    /// with `failed_at` and its error). Transient failures are retried without limit.
    pub max_attempts: i32,
    /// Delay before a failed row is tried again.
    pub backoff: Backoff,
    /// How long sent rows are kept before they are deleted.
    pub retention: Duration,
    /// How often sent rows past their retention are deleted.
    pub cleanup_interval: Duration,
}

impl RelayConfig {
    /// The relay session's `idle_in_transaction_session_timeout`: three publish timeouts,
    /// at least a second, at most PostgreSQL's limit (`i32::MAX` ms). The server ends a transaction idle that long (a relay stuck
    /// mid-batch), releasing its rows to another relay.
    pub(crate) fn session_timeout(&self) -> Duration {
        self.publish_timeout.saturating_mul(3).clamp(
            Duration::from_secs(1),
            Duration::from_millis(i32::MAX as u64),
        )
    }

    /// How long after locking its rows a batch may start another round of publishing:
    /// its last round (at most one `publish_timeout`) then ends at least one
    /// `publish_timeout` before [`session_timeout`](Self::session_timeout), with time left to
    /// mark the rows sent. No statement runs while a batch publishes, so a batch longer
    /// than the session timeout would lose its session and publish everything again.
    pub(crate) fn batch_deadline(&self) -> Duration {
        self.session_timeout()
            .saturating_sub(self.publish_timeout.saturating_mul(2))
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 100,
            poll_interval: Duration::from_secs(2),
            listen: true,
            publish_timeout: Duration::from_secs(30),
            max_attempts: 10,
            backoff: Backoff::default(),
            retention: Duration::from_secs(7 * 24 * 3600),
            cleanup_interval: Duration::from_secs(600),
        }
    }
}

/// Counters of a running relay; cheap to clone, shared with it.
#[derive(Debug, Clone, Default)]
pub struct RelayStats {
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    published: AtomicU64,
    retried: AtomicU64,
    gave_up: AtomicU64,
    cleaned: AtomicU64,
    errors: AtomicU64,
}

impl RelayStats {
    /// The counters now.
    pub fn snapshot(&self) -> RelayReport {
        let c = &self.counters;
        RelayReport {
            batches: c.batches.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
            cleaned: c.cleaned.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    fn record(&self, b: &BatchOutcome) {
        let c = &self.counters;
        c.batches.fetch_add(1, Ordering::Relaxed);
        c.published.fetch_add(b.published, Ordering::Relaxed);
        c.retried.fetch_add(b.retried, Ordering::Relaxed);
        c.gave_up.fetch_add(b.gave_up, Ordering::Relaxed);
    }
}

/// What a relay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Batches that found rows.
    pub batches: u64,
    /// Rows published and marked sent.
    pub published: u64,
    /// Failed attempts that will be retried.
    pub retried: u64,
    /// Rows given up (kept with `failed_at`).
    pub gave_up: u64,
    /// Sent rows deleted after their retention.
    pub cleaned: u64,
    /// Database errors it recovered from (by reconnecting).
    pub errors: u64,
}

impl fmt::Display for RelayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} published in {} batches, {} retried, {} given up, {} cleaned, {} errors",
            self.published, self.batches, self.retried, self.gave_up, self.cleaned, self.errors
        )
    }
}

/// Publishes the outbox's committed rows through a [`Publisher`] (any `Broker`).
///
/// Several relays may run against one database: each locks its own batch. Stop one with
/// its shutdown future; it finishes the batch in hand first.
///
/// ```no_run
/// use std::sync::Arc;
/// use courier_core::{MemoryBroker, Topology};
/// use courier_postgres::{Database, Relay};
///
/// # async fn example() -> courier_core::Result<()> {
/// let broker = Arc::new(MemoryBroker::with_topology(&Topology::example()).await?);
/// let relay = Relay::new(Database::from_url("postgres://app@127.0.0.1/shop")?, broker);
/// let report = relay.run(courier_core::worker::shutdown_signal()).await?;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
pub struct Relay {
    db: Database,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    stats: RelayStats,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("db", &self.db)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Forwards to a publisher behind an `Arc`, so that `Arc<dyn Broker>` and any other
/// publisher become one `Arc<dyn Publisher>`.
struct Forward<P: ?Sized>(Arc<P>);

#[async_trait]
impl<P: Publisher + ?Sized> Publisher for Forward<P> {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        self.0.publish(destination, message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        self.0.publish_batch(destination, messages).await
    }
}

/// The relay's connection: its client and what wakes it.
struct Session {
    client: Client,
    wake: Arc<Notify>,
}

impl Relay {
    /// A relay from `db` to `publisher`, with the default [`RelayConfig`].
    pub fn new<P: Publisher + ?Sized + 'static>(db: Database, publisher: Arc<P>) -> Self {
        Relay {
            db,
            publisher: Arc::new(Forward(publisher)),
            config: RelayConfig::default(),
            stats: RelayStats::default(),
        }
    }

    /// Replaces its settings (`batch_size` at least 1).
    pub fn config(mut self, mut config: RelayConfig) -> Self {
        config.batch_size = config.batch_size.max(1);
        self.config = config;
        self
    }

    /// Its counters, to watch it while it runs.
    pub fn stats(&self) -> RelayStats {
        self.stats.clone()
    }

    /// Publishes until `shutdown` completes; database and broker failures are logged and
    /// retried (reconnecting), never fatal.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<RelayReport> {
        self.work(shutdown, false).await
    }

    /// Publishes until no row is pending (rows backing off after a failure included), or
    /// until `shutdown` completes.
    pub async fn drain(&self, shutdown: impl Future<Output = ()> + Send) -> Result<RelayReport> {
        self.work(shutdown, true).await
    }

    async fn work(
        &self,
        shutdown: impl Future<Output = ()> + Send,
        until_empty: bool,
    ) -> Result<RelayReport> {
        tokio::pin!(shutdown);
        let mut session: Option<Session> = None;
        let mut failures = 0u32;
        let mut next_cleanup = Instant::now();
        loop {
            let s = match session.as_mut().filter(|s| !s.client.is_closed()) {
                Some(s) => s,
                None => match self.open().await {
                    Ok(s) => session.insert(s),
                    Err(e) => {
                        failures += 1;
                        if self.pause_after_error(&e, failures, &mut shutdown).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let step = self.step(s, until_empty, &mut next_cleanup).await;
            let idle = match step {
                Ok(Step::More) => false,
                Ok(Step::Idle) => true,
                Ok(Step::Drained) => break,
                Err(e) => {
                    session = None;
                    failures += 1;
                    if self.pause_after_error(&e, failures, &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            failures = 0;
            let wake = s.wake.clone();
            let stop = if idle {
                tokio::select! {
                    () = &mut shutdown => true,
                    () = wake.notified() => false,
                    () = tokio::time::sleep(self.config.poll_interval) => false,
                }
            } else {
                futures_util::FutureExt::now_or_never(&mut shutdown).is_some()
            };
            if stop {
                break;
            }
        }
        Ok(self.stats.snapshot())
    }

    /// One batch, and the clean-up when it is due.
    async fn step(
        &self,
        s: &mut Session,
        until_empty: bool,
        next_cleanup: &mut Instant,
    ) -> Result<Step> {
        let outcome = relay_batch(&mut s.client, &*self.publisher, &self.config).await?;
        if outcome.selected > 0 {
            self.stats.record(&outcome);
        }
        // Due even when the relay never runs out of work.
        if Instant::now() >= *next_cleanup {
            let cleaned = clean_sent(&s.client, self.config.retention).await?;
            self.stats
                .counters
                .cleaned
                .fetch_add(cleaned, Ordering::Relaxed);
            *next_cleanup = Instant::now() + self.config.cleanup_interval;
        }
        if outcome.selected >= self.config.batch_size {
            return Ok(Step::More);
        }
        if until_empty && outcome.selected == 0 && pending(&s.client).await? == 0 {
            return Ok(Step::Drained);
        }
        Ok(if outcome.selected > 0 {
            Step::More
        } else {
            Step::Idle
        })
    }

    async fn open(&self) -> Result<Session> {
        let (client, wake) = if self.config.listen {
            self.db.connect_listening(CHANNEL).await?
        } else {
            (self.db.connect().await?, Arc::new(Notify::new()))
        };
        // A relay that hangs mid-batch (not killed, just stuck) must not hold its rows
        // forever: the server ends the transaction, and another relay takes them.
        let timeout_ms = self.config.session_timeout().as_millis();
        client
            .batch_execute(&format!(
                "SET idle_in_transaction_session_timeout = {timeout_ms}"
            ))
            .await
            .map_err(|e| map("configuring the relay's session", e))?;
        tracing::info!(db = %self.db, listen = self.config.listen, "outbox relay connected");
        Ok(Session { client, wake })
    }

    /// Logs `e` and waits before the next try; `true` when shutdown came meanwhile.
    async fn pause_after_error(
        &self,
        e: &Error,
        failures: u32,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        self.stats.counters.errors.fetch_add(1, Ordering::Relaxed);
        let after = Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(30),
            jitter: true,
        }
        .delay(failures);
        tracing::warn!(error = %display_chain(e), ?after, "outbox relay failed; trying again");
        tokio::select! {
            () = shutdown => true,
            () = tokio::time::sleep(after) => false,
        }
    }
}

enum Step {
    /// There may be more to publish now.
    More,
    /// Nothing available: wait for a notification or the poll interval.
    Idle,
    /// Nothing pending at all (only with `until_empty`).
    Drained,
}

/// Deletes sent rows older than `retention`, a bounded chunk at a time.
async fn clean_sent(client: &Client, retention: Duration) -> Result<u64> {
    const CHUNK: i64 = 10_000;
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let n = client
            .execute(
                "DELETE FROM courier.outbox WHERE id IN (
                    SELECT id FROM courier.outbox
                    WHERE sent_at < now() - $1::bigint * interval '1 millisecond'
                    LIMIT $2)",
                &[&retention_ms, &CHUNK],
            )
            .await
            .map_err(|e| map("deleting sent outbox rows past their retention", e))?;
        total += n;
        if n < CHUNK as u64 {
            if total > 0 {
                tracing::info!(deleted = total, "cleaned sent outbox rows");
            }
            return Ok(total);
        }
    }
}

/// Rows neither sent nor given up.
async fn pending(client: &Client) -> Result<i64> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM courier.outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            &[],
        )
        .await
        .map_err(|e| map("counting pending outbox rows", e))?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stops_starting_rounds_a_publish_timeout_before_its_session_ends() {
        for (publish_ms, session_ms, deadline_ms) in
            [(400, 1200, 400), (100, 1000, 800), (30_000, 90_000, 30_000)]
        {
            let config = RelayConfig {
                publish_timeout: Duration::from_millis(publish_ms),
                ..RelayConfig::default()
            };
            assert_eq!(config.session_timeout().as_millis(), session_ms);
            assert_eq!(config.batch_deadline().as_millis(), deadline_ms);
        }
        let forever = RelayConfig {
            publish_timeout: Duration::MAX,
            ..RelayConfig::default()
        };
        assert_eq!(forever.session_timeout().as_millis(), i32::MAX as u128);
        assert_eq!(forever.batch_deadline(), Duration::ZERO);
    }
}
