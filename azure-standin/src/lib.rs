//! courier-azure-standin: a local stand-in of the Service Bus REST protocol, for tests
//! and for running the demo without Azure. **It is a test double of the documented protocol, not Azure Service
//! Bus**: it speaks HTTP on loopback, keeps everything in memory, and implements what
//! courier and the REST crate use:
//!
//! - data plane: send (`POST {entity}/messages`, single or a JSON batch), peek-lock
//!   (`POST …/messages/head?timeout=N` → 201 with `Location` and `BrokerProperties`, or
//!   204), receive-and-delete (`DELETE …/messages/head`), complete / unlock / renew
//!   (`DELETE` / `PUT` / `POST` on the lock URI → 200, 404 for an unknown lock);
//! - management: `PUT` / `GET` / `DELETE` of queues, topics, subscriptions and rules as
//!   Atom XML, `If-Match: *` to update, 409 when it exists, 404 when it does not;
//! - SAS: every request's token is checked (key name, expiry, HMAC-SHA256 signature, and
//!   that the token's resource covers the request) → 401 otherwise;
//! - semantics: lock duration (5 s – 5 min) with expiry and renewal, delivery counts,
//!   `MaxDeliveryCount` → `$DeadLetterQueue`, topic fan-out through SQL-filter rules (a new
//!   subscription has the `$Default` 1=1 rule), time to live, scheduled enqueue, duplicate
//!   detection on `MessageId` for entities that ask for it (10-minute window).
//!
//! Known gaps against the service: expired messages are dropped rather than
//! dead-lettered, sessions and the AMQP protocol are absent, and message sizes are not
//! limited here (courier checks them before sending).
//! Queue semantics come from courier's in-memory broker.

#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod atom;
mod routes;
mod sas;
pub mod sql;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use courier_core::Secret;

use state::StandInState;

/// The namespace the stand-in pretends to be.
pub const NAMESPACE: &str = "courier-standin";
/// The key name of its one SAS rule.
pub const KEY_NAME: &str = "RootManageSharedAccessKey";

/// A running stand-in.
pub struct StandIn {
    addr: SocketAddr,
    key: Secret,
    task: tokio::task::JoinHandle<()>,
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
        let key = Secret::new(
            base64::engine::general_purpose::STANDARD
                .encode(uuid::Uuid::new_v4().as_bytes().repeat(2)),
        );
        Self::start_with_key(listen, key).await
    }

    /// Starts serving on `listen` with this key.
    pub async fn start_with_key(listen: SocketAddr, key: Secret) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(StandInState::new(
            NAMESPACE.to_owned(),
            KEY_NAME.to_owned(),
            key.clone(),
        ));
        let app = routes::router(state);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Service Bus stand-in stopped");
            }
        });
        Ok(StandIn { addr, key, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint to configure (`[azure] endpoint`, `COURIER_AZURE_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its connection string (a secret: it carries the key).
    pub fn connection_string(&self) -> Secret {
        Secret::new(format!(
            "Endpoint=sb://{NAMESPACE}.servicebus.windows.net/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={}",
            self.key.expose()
        ))
    }

    /// Serves until the task ends (it does not, unless the listener fails).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
