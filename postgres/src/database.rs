//! Where the database is, and connections to it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use courier_core::{Error, Result, Secret};
use futures_util::future::poll_fn;
use tokio::sync::Notify;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use crate::error::map;

/// A PostgreSQL database: its connection settings, with the password kept out of
/// `Debug`, `Display`, logs and errors. Cheap to clone.
///
/// ```
/// use courier_postgres::Database;
///
/// let db = Database::from_url("postgres://app:s3cr3t@db.internal:5432/shop")?;
/// assert_eq!(db.to_string(), "postgres://app@db.internal:5432/shop");
/// assert!(!format!("{db:?}").contains("s3cr3t"));
/// # Ok::<(), courier_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    config: Arc<Config>,
}

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// Parses a connection URL (`postgres://user:password@host:port/dbname?…`) or a
    /// `key=value` string, as libpq does.
    ///
    /// Refuses `sslmode=require`: this crate connects without TLS.
    pub fn from_url(url: &str) -> Result<Self> {
        let mut config = Config::from_str(url).map_err(|e| Error::InvalidConfig {
            // The driver's parse errors name the option, never its value.
            message: "the PostgreSQL URL does not parse".into(),
            source: Some(Box::new(e)),
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(Error::invalid_config(
                "the PostgreSQL URL asks for sslmode=require, but courier-postgres connects without TLS (use a local socket, a TLS-terminating proxy, or sslmode=prefer/disable)",
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("courier");
        }
        Ok(Database {
            config: Arc::new(config),
        })
    }

    /// [`Database::from_url`] for a URL held as a [`Secret`] (as the config holds it).
    pub fn from_secret(url: &Secret) -> Result<Self> {
        Self::from_url(url.expose())
    }

    /// The driver's settings (its `Debug` redacts the password).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens a connection; its I/O runs on a spawned task until the client is dropped.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| map(&format!("connecting to {self}"), e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// Opens a connection that listens on `channel`: every notification (and the end of the
    /// connection) wakes the returned [`Notify`].
    pub(crate) async fn connect_listening(&self, channel: &str) -> Result<(Client, Arc<Notify>)> {
        let (client, mut connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| map(&format!("connecting to {self}"), e))?;
        let wake = Arc::new(Notify::new());
        let woken = wake.clone();
        tokio::spawn(async move {
            while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => woken.notify_one(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "PostgreSQL connection ended");
                        break;
                    }
                }
            }
            // The listener sees the closed client and reconnects.
            woken.notify_one();
        });
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(|e| map(&format!("LISTEN {channel}"), e))?;
        Ok((client, wake))
    }
}

impl fmt::Display for Database {
    /// `postgres://user@host:port/dbname`, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.write_str("postgres://")?;
        if let Some(user) = c.get_user() {
            write!(f, "{user}@")?;
        }
        match c.get_hosts().first() {
            Some(Host::Tcp(host)) => f.write_str(host)?,
            #[cfg(unix)]
            Some(Host::Unix(path)) => write!(f, "[{}]", path.display())?,
            None => f.write_str("localhost")?,
        }
        if let Some(port) = c.get_ports().first() {
            write!(f, ":{port}")?;
        }
        if let Some(db) = c.get_dbname() {
            write!(f, "/{db}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Database").field(&self.to_string()).finish()
    }
}

/// One connection, made again when it was lost: for the stores, whose methods take `&self`
/// and run concurrently (the driver pipelines their statements on the one connection).
pub(crate) struct Connection {
    db: Database,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl Connection {
    pub(crate) fn new(db: Database) -> Self {
        Connection {
            db,
            client: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    /// The open client, connecting first when there is none or it was closed.
    pub(crate) async fn client(&self) -> Result<Arc<Client>> {
        let mut held = self.client.lock().await;
        if let Some(c) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let client = Arc::new(self.db.connect().await?);
        *held = Some(client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let db = Database::from_url("postgres://app:pa55word@127.0.0.1:5433/shop").unwrap();
        assert_eq!(db.to_string(), "postgres://app@127.0.0.1:5433/shop");
        let shown = format!("{db:?} {db} {:?}", db.config());
        assert!(!shown.contains("pa55word"), "{shown}");
        let kv = Database::from_url("host=h user=u password=pa55word dbname=d").unwrap();
        assert!(!format!("{kv:?} {kv}").contains("pa55word"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for bad in [
            "postgres://app:pa55word@host:notaport/db",
            "host=h password=pa55word bogus_option=1",
        ] {
            let e = Database::from_url(bad).unwrap_err();
            let text = courier_core::display_chain(&e);
            assert!(text.contains("does not parse"), "{text}");
            assert!(!text.contains("pa55word"), "{text}");
        }
        let e = Database::from_url("postgres://app:pa55word@host/db?sslmode=require")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sslmode=require") && !e.contains("pa55word"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_and_hides_the_password() {
        // Port 1 on loopback: nothing listens there.
        let db = Database::from_url("postgres://app:pa55word@127.0.0.1:1/db").unwrap();
        let e = db.connect().await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        let text = format!("{e:?} {e:#?}");
        assert!(text.contains("127.0.0.1:1"), "{text}");
        assert!(!text.contains("pa55word"), "{text}");
    }
}
