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
