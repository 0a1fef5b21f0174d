//! Fault injection: the writer (business insert + outbox row in one transaction) and two
//! relays run as child processes that are killed with SIGKILL at random moments and
//! restarted, over a few thousand orders; the relays also kill themselves between
//! publishing a batch and marking it sent. Then: every committed order's event was
//! published at least once, no event exists for a rolled-back order, duplicates stay
//! within one batch per relay kill, and each ordering key's events were first published
//! in order.

mod common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::TestDb;
use tokio::process::{Child, Command};
use tokio::time::Instant;

const ORDERS: i64 = 3000;
/// The relays' batch size (see the child).
const BATCH: u64 = 50;
/// Per mille of batches after which a relay kills itself before marking them sent.
const SELF_KILL_PER_MILLE: u32 = 30;
/// Random kills at most (keeps the test's time bounded on a slow machine).
const MAX_RANDOM_KILLS: u32 = 400;

struct Children {
    url: String,
    writer: Option<Child>,
    writer_done: bool,
    relays: [Option<Child>; 2],
    writer_kills: u32,
    relay_kills: u32,
    relay_self_kills: u32,
}

impl Children {
    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_outbox-crash-child"))
            .args(args)
            .arg(&self.url)
            .arg(match args[0] {
                "write" => ORDERS.to_string(),
                _ => SELF_KILL_PER_MILLE.to_string(),
            })
            .kill_on_drop(true)
            .spawn()
            .expect("start outbox-crash-child")
    }

    /// Restarts what is not running; counts how each one ended.
    fn reap_and_restart(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            if let Some(status) = w.try_wait().unwrap() {
                assert!(
                    status.success() || status.signal() == Some(9),
                    "the writer failed: {status}"
                );
                self.writer_done = status.success();
                self.writer = None;
            }
        }
        if self.writer.is_none() && !self.writer_done {
            self.writer = Some(self.spawn(&["write"]));
        }
        for i in 0..2 {
            if let Some(r) = self.relays[i].as_mut() {
                if let Some(status) = r.try_wait().unwrap() {
                    assert_eq!(
                        status.signal(),
                        Some(9),
                        "a relay ended by itself: {status}"
                    );
                    self.relay_self_kills += 1;
                    self.relays[i] = None;
                }
            }
            if self.relays[i].is_none() {
                self.relays[i] = Some(self.spawn(&["relay"]));
            }
        }
    }

    /// SIGKILLs one running child chosen at random.
    async fn kill_one(&mut self) {
        let victim = fastrand::usize(0..3);
        let child = match victim {
            0 => self.writer.as_mut(),
            i => self.relays[i - 1].as_mut(),
        };
        if let Some(c) = child {
            if c.try_wait().unwrap().is_none() {
                c.kill().await.unwrap(); // SIGKILL
                match victim {
                    0 => {
                        self.writer_kills += 1;
                        self.writer = None;
                    }
                    i => {
                        self.relay_kills += 1;
                        self.relays[i - 1] = None;
                    }
                }
            }
        }
    }
}

async fn pending(t: &TestDb) -> i64 {
    t.client()
        .await
        .query_one(
            "SELECT count(*) FROM courier.outbox WHERE sent_at IS NULL AND failed_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_writers_and_relays_lose_nothing_and_invent_nothing() {
    let t = TestDb::migrated().await;
    t.client()
        .await
        .batch_execute(
            "CREATE TABLE crash_orders (id bigint PRIMARY KEY);
             CREATE TABLE crash_published (seq bigserial PRIMARY KEY, order_id bigint NOT NULL, ordering_key text NOT NULL)",
        )
        .await
        .unwrap();
    let mut c = Children {
        url: t.url.clone(),
        writer: None,
        writer_done: false,
        relays: [None, None],
        writer_kills: 0,
        relay_kills: 0,
        relay_self_kills: 0,
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    // Kill at random while the writer works.
    while !c.writer_done {
        assert!(
            Instant::now() < deadline,
            "the writer did not finish in time"
        );
        c.reap_and_restart();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(5..60))).await;
        if c.writer_kills + c.relay_kills < MAX_RANDOM_KILLS {
            c.kill_one().await;
        }
    }
    // Then let the relays (still killing themselves now and then) drain the outbox.
    loop {
        assert!(
            Instant::now() < deadline,
            "the relays did not drain the outbox in time"
        );
        c.reap_and_restart();
        if pending(&t).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for r in c.relays.iter_mut().flatten() {
        r.kill().await.unwrap();
    }
    let elapsed = started.elapsed();

    let client = t.client().await;
    let committed: Vec<i64> = client
        .query("SELECT id FROM crash_orders ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rows = client
        .query(
            "SELECT order_id, ordering_key FROM crash_published ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let mut times: HashMap<i64, u64> = HashMap::new();
    let mut first_by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for row in &rows {
        let (id, key): (i64, String) = (row.get(0), row.get(1));
        let n = times.entry(id).or_insert(0);
        if *n == 0 {
            first_by_key.entry(key).or_default().push(id);
        }
        *n += 1;
    }
    let lost: Vec<i64> = committed
        .iter()
        .filter(|id| !times.contains_key(id))
        .copied()
        .collect();
    let invented: Vec<i64> = times
        .keys()
        .filter(|id| committed.binary_search(id).is_err())
        .copied()
        .collect();
    let duplicates: u64 = times.values().map(|n| n - 1).sum();
    let rolled_back = ORDERS - committed.len() as i64;
    let kills = c.relay_kills + c.relay_self_kills;
    eprintln!(
        "outbox crash test: {ORDERS} orders ({} committed, {rolled_back} rolled back), \
         writer SIGKILLed {} times, relays SIGKILLed {} times at random + {} times between \
         publish and mark-sent; {} events published, {} lost, {} for rolled-back orders, \
         {duplicates} duplicates (bound {}); {:.1} s",
        committed.len(),
        c.writer_kills,
        c.relay_kills,
        c.relay_self_kills,
        rows.len(),
        lost.len(),
        invented.len(),
        u64::from(kills) * BATCH,
        elapsed.as_secs_f64(),
    );
    assert!(
        lost.is_empty(),
        "committed orders without an event: {lost:?}"
    );
    assert!(
        invented.is_empty(),
        "events for rolled-back orders: {invented:?}"
    );
    assert!(
        rolled_back >= ORDERS / 10,
        "every tenth order is rolled back"
    );
    assert!(c.writer_kills > 0 && kills > 0, "the test killed nothing");
    assert!(
        duplicates <= u64::from(kills) * BATCH,
        "{duplicates} duplicates: more than one batch per relay kill"
    );
    for (key, ids) in &first_by_key {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {ids:?}"
        );
    }
    t.drop().await;
}
