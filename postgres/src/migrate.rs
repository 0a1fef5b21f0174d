//! The schema `courier`, created and upgraded by versioned migrations shipped with the
//! crate (`migrations/NNNN_name.sql`), recorded in `courier.schema_migrations`.

use courier_core::{Error, Result};

use crate::database::Database;
use crate::error::map;

/// One schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its version: applied in ascending order, each once.
    pub version: i32,
    /// A short name.
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

/// Every migration this crate ships, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "outbox",
        sql: include_str!("../migrations/0001_outbox.sql"),
    },
    Migration {
        version: 2,
        name: "inbox",
        sql: include_str!("../migrations/0002_inbox.sql"),
    },
];

/// Any number that is the same in every process: serializes concurrent migrators.
const MIGRATION_LOCK: i64 = 0x636f_7572_6965_7201; // "courier\x01"

const PREPARE: &str = "CREATE SCHEMA IF NOT EXISTS courier;
CREATE TABLE IF NOT EXISTS courier.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);";

/// Brings the database's `courier` schema up to date; returns the versions it applied
/// (none when it was current). Safe to run concurrently and repeatedly: one transaction
/// under an advisory lock, so a failed migration leaves nothing half done.
///
/// Refuses a database that has a version this crate does not know (a newer courier
/// migrated it) or whose applied migration differs from the shipped one.
pub async fn migrate(db: &Database) -> Result<Vec<i32>> {
    migrate_with(db, MIGRATIONS).await
}

pub(crate) async fn migrate_with(db: &Database, migrations: &[Migration]) -> Result<Vec<i32>> {
    let mut client = db.connect().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| map("starting the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| map("waiting for the migration lock", e))?;
    tx.batch_execute(PREPARE)
        .await
        .map_err(|e| map("creating courier.schema_migrations", e))?;
    let applied = tx
        .query(
            "SELECT version, name, checksum FROM courier.schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(|e| map("reading courier.schema_migrations", e))?;
    let mut done = Vec::new();
    for row in &applied {
        let (version, name, checksum): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
        let Some(known) = migrations.iter().find(|m| m.version == version) else {
            return Err(Error::invalid_config(format!(
                "the database has courier migration {version} ({name}), which this build does not know: a newer courier migrated it"
            )));
        };
        let shipped: String = tx
            .query_one("SELECT md5($1)", &[&known.sql])
            .await
            .map_err(|e| map("checking a migration", e))?
            .get(0);
        if shipped != checksum {
            return Err(Error::invalid_config(format!(
                "courier migration {version} ({name}) applied to the database differs from the one this build ships"
            )));
        }
        done.push(version);
    }
    let mut newly = Vec::new();
    for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch_execute(m.sql).await.map_err(|e| {
            map(
                &format!("applying courier migration {} ({})", m.version, m.name),
                e,
            )
        })?;
        tx.execute(
            "INSERT INTO courier.schema_migrations (version, name, checksum) VALUES ($1, $2, md5($3))",
            &[&m.version, &m.name, &m.sql],
        )
        .await
        .map_err(|e| map("recording a migration", e))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied courier migration"
        );
        newly.push(m.version);
    }
    tx.commit()
        .await
        .map_err(|e| map("committing the migration", e))?;
    Ok(newly)
}
