//! A fresh database per test on the server `COURIER_TEST_POSTGRES_URL` names
//! (`./scripts/test.sh` starts a throwaway cluster and sets it). Without it the tests fail:
//! they never skip.
#![allow(dead_code, unreachable_pub)]

use courier_postgres::tokio_postgres::NoTls;
use courier_postgres::Database;

pub struct TestDb {
    pub db: Database,
    pub url: String,
    pub name: String,
    admin_url: String,
}

pub fn admin_url() -> String {
    std::env::var("COURIER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("COURIER_TEST_POSTGRES_URL is not set: run ./scripts/test.sh, or start a server with ./scripts/postgres.sh start and export its URL")
    })
}

/// `url` with its database replaced by `name`: URLs (`postgres://…/db?…`) and key=value strings.
pub fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end + 3..];
    let query_at = rest.find('?').unwrap_or(rest.len());
    let path_at = rest[..query_at].find('/').unwrap_or(query_at);
    format!(
        "{}://{}/{}{}",
        &url[..scheme_end],
        &rest[..path_at],
        name,
        &rest[query_at..]
    )
}

impl TestDb {
    /// An empty database of its own.
    pub async fn new() -> TestDb {
        let admin_url = admin_url();
        let name = format!("courier_test_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) = courier_postgres::tokio_postgres::connect(&admin_url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = with_dbname(&admin_url, &name);
        TestDb {
            db: Database::from_url(&url).expect("test URL"),
            url,
            name,
            admin_url,
        }
    }

    /// A database with courier's schema.
    pub async fn migrated() -> TestDb {
        let t = Self::new().await;
        courier_postgres::migrate(&t.db).await.expect("migrate");
        t
    }

    pub async fn client(&self) -> courier_postgres::tokio_postgres::Client {
        self.db
            .connect()
            .await
            .expect("connect to the test database")
    }

    /// Drops the database (what a failed test leaves behind goes with the throwaway cluster).
    pub async fn drop(self) {
        let (client, connection) =
            courier_postgres::tokio_postgres::connect(&self.admin_url, NoTls)
                .await
                .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("drop the test database");
    }
}

#[test]
fn urls_get_another_database() {
    assert_eq!(
        with_dbname("postgres://u@h:5/postgres", "x"),
        "postgres://u@h:5/x"
    );
    assert_eq!(with_dbname("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    assert_eq!(
        with_dbname("postgresql://u:p@h/db?application_name=a", "x"),
        "postgresql://u:p@h/x?application_name=a"
    );
    assert_eq!(with_dbname("host=h user=u", "x"), "host=h user=u dbname=x");
}

/// Decides whether an entry fails: given the message and how often it was offered before.
pub type FailWhen =
    Box<dyn Fn(&courier_core::Message, u32) -> Option<courier_core::Error> + Send + Sync>;

/// A publisher that records what it was asked to publish, in order, and fails entries
/// when `fail` says so (given the message and how many times it was offered before).
pub struct Recorder {
    pub published: parking_lot::Mutex<Vec<(courier_core::Destination, courier_core::Message)>>,
    offered: parking_lot::Mutex<std::collections::HashMap<Vec<u8>, u32>>,
    fail: FailWhen,
    pub delay: std::time::Duration,
}

impl Recorder {
    pub fn new() -> Self {
        Self::failing(|_, _| None)
    }

    pub fn failing(
        fail: impl Fn(&courier_core::Message, u32) -> Option<courier_core::Error>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Recorder {
            published: Default::default(),
            offered: Default::default(),
            fail: Box::new(fail),
            delay: std::time::Duration::ZERO,
        }
    }

    /// The bodies published, as text, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.published
            .lock()
            .iter()
            .map(|(_, m)| String::from_utf8_lossy(&m.body).into_owned())
            .collect()
    }
}

#[async_trait::async_trait]
impl courier_core::Publisher for Recorder {
    async fn publish(
        &self,
        destination: &courier_core::Destination,
        message: courier_core::Message,
    ) -> courier_core::Result<String> {
        let mut r = self.publish_batch(destination, vec![message]).await?;
        r.remove(0)
    }

    async fn publish_batch(
        &self,
        destination: &courier_core::Destination,
        messages: Vec<courier_core::Message>,
    ) -> courier_core::Result<Vec<courier_core::Result<String>>> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let mut out = Vec::new();
        for m in messages {
            let n = {
                let mut offered = self.offered.lock();
                let n = offered.entry(m.body.clone()).or_insert(0);
                *n += 1;
                *n - 1
            };
            match (self.fail)(&m, n) {
                Some(e) => out.push(Err(e)),
                None => {
                    self.published.lock().push((destination.clone(), m));
                    out.push(Ok(format!("m-{n}")));
                }
            }
        }
        Ok(out)
    }
}

/// A relay configuration for tests: polls every 50 ms, backs off 1-5 ms.
pub fn quick() -> courier_postgres::RelayConfig {
    courier_postgres::RelayConfig {
        poll_interval: std::time::Duration::from_millis(50),
        backoff: courier_core::worker::Backoff {
            base: std::time::Duration::from_millis(1),
            max: std::time::Duration::from_millis(5),
            jitter: false,
        },
        ..courier_postgres::RelayConfig::default()
    }
}

/// Writes `bodies` (text) for `destination`, each in its own committed transaction, with
/// the ordering key `key`.
pub async fn enqueue(
    t: &TestDb,
    destination: &courier_core::Destination,
    key: Option<&str>,
    bodies: &[String],
) {
    let mut client = t.client().await;
    for body in bodies {
        let tx = client.transaction().await.unwrap();
        let mut m = courier_core::Message::new(body.clone());
        m.group_id = key.map(str::to_owned);
        courier_postgres::Outbox::enqueue_message(&tx, destination, &m)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}
