//! courier-azure-standin: a local stand-in of the Azure Service Bus REST protocol, for
//! tests and for running the demo without Azure. **It is a test double of the documented
//! protocol, not Azure Service Bus**: it speaks plain HTTP on loopback, keeps everything in
//! memory, and models one Standard-tier namespace:
//!
//! - runtime: send (single and JSON batch), peek-lock, receive-and-delete, complete,
//!   unlock, renew; custom properties typed as "Message Headers and Properties" defines;
//!   `BrokerProperties` dates in the RFC 2616 `GMT` form; 256 KB messages (403 beyond);
//!   410 for a missing entity;
//! - semantics: lock duration, delivery counts, `MaxDeliveryCount` → `$DeadLetterQueue`
//!   (`MaxDeliveryCountExceeded`), expiry (dead-lettered with `TTLExpiredException` when
//!   `DeadLetteringOnMessageExpiration`), scheduled messages, duplicate detection,
//!   topic fan-out through SQL, true/false and correlation filters with the service's
//!   typing (filter errors dead-lettered with `DeadLetteringOnFilterEvaluationExceptions`);
//!   the dead-letter reason is delivered as the application properties
//!   `DeadLetterReason` / `DeadLetterErrorDescription`;
//! - management: Atom entries and feeds for queues, topics, subscriptions and rules,
//!   descriptions read with an XML parser in the schema's order;
//! - SAS: tokens checked as Microsoft documents (signature over `sr` as sent, scope by
//!   prefix, expiry, key name, namespace).
//!
//! Not modelled (refused with 501, never ignored): auto-forwarding, rule actions, entity
//! authorization rules, entity statuses other than Active. Absent: sessions (REST cannot
//! receive them), AMQP, deferral, transactions. See the README's Azure section.

#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod atom;
mod failure;
mod http;
mod http_date;
mod management;
mod message;
mod messaging;
mod properties;
mod rule;
mod sas;
pub mod sql;
mod store;
mod timespan;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use courier_core::Secret;

/// The namespace the stand-in pretends to be.
pub const NAMESPACE: &str = "courier-standin";
/// The key name of its one SAS rule.
pub const KEY_NAME: &str = "RootManageSharedAccessKey";

/// How often expired locks and messages are swept (so memory stays bounded even for
/// entities nobody reads).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);

/// How to start a stand-in.
#[derive(Debug, Clone)]
pub struct Options {
    key: Option<Secret>,
    first_sequence_number: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: None,
            first_sequence_number: 1,
        }
    }
}

impl Options {
    /// The SAS key of `RootManageSharedAccessKey` (default: a fresh random one).
    pub fn key(mut self, key: Secret) -> Self {
        self.key = Some(key);
        self
    }

    /// The first sequence number of every entity (default 1). Real namespaces hand out
    /// 64-bit sequence numbers well above 2^31 (partitioned entities carry the partition
    /// in the high bits); set this high to test clients against such numbers.
    pub fn first_sequence_number(mut self, n: i64) -> Self {
        self.first_sequence_number = n;
        self
    }
}

/// A running stand-in.
pub struct StandIn {
    addr: SocketAddr,
    key: Secret,
    service: Arc<http::Service>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("addr", &self.addr)
            .field("key", &self.key)
            .finish()
    }
}

impl StandIn {
    /// Starts serving on `listen` (port 0: any free port) with a fresh random key.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(listen, Options::default()).await
    }

    /// Starts serving on `listen` with this key.
    pub async fn start_with_key(listen: SocketAddr, key: Secret) -> std::io::Result<Self> {
        Self::start_with(listen, Options::default().key(key)).await
    }

    /// Starts serving on `listen` with these options.
    pub async fn start_with(listen: SocketAddr, options: Options) -> std::io::Result<Self> {
        let key = options.key.unwrap_or_else(|| {
            Secret::new(
                base64::engine::general_purpose::STANDARD
                    .encode(uuid::Uuid::new_v4().as_bytes().repeat(2)),
            )
        });
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let host = format!("{NAMESPACE}.servicebus.windows.net");
        let service = Arc::new(http::Service {
            store: store::Store::new(options.first_sequence_number),
            authority: sas::Authority::new(host.clone(), KEY_NAME.to_owned(), key.clone()),
            host,
        });
        let app = http::router(service.clone());
        let serve = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Service Bus stand-in stopped");
            }
        });
        let swept = service.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
            loop {
                tick.tick().await;
                swept.store.maintain(time::OffsetDateTime::now_utc());
            }
        });
        Ok(StandIn {
            addr,
            key,
            service,
            tasks: vec![serve, housekeeping],
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint to configure (`[azure] endpoint`, `COURIER_AZURE_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The host it answers for: `courier-standin.servicebus.windows.net`.
    pub fn namespace_host(&self) -> &str {
        &self.service.host
    }

    /// Its connection string (a secret: it carries the key).
    pub fn connection_string(&self) -> Secret {
        Secret::new(format!(
            "Endpoint=sb://{NAMESPACE}.servicebus.windows.net/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={}",
            self.key.expose()
        ))
    }

    /// Message locks currently held (expired ones are forgotten within a quarter second).
    pub fn held_locks(&self) -> usize {
        self.service.store.lock_count()
    }

    /// The first sequence number each entity hands out.
    pub fn first_sequence_number(&self) -> i64 {
        self.service.store.first_sequence_number()
    }

    /// Serves until the server task ends (it does not, unless the listener fails).
    pub async fn wait(mut self) {
        if let Some(serve) = self.tasks.first_mut() {
            let _ = serve.await;
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
