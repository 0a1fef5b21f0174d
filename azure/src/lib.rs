//! courier-azure: courier's backend for Azure Service Bus, over its REST protocol
//! (`azure_messaging_servicebus` + `azure_core`, rustls). No HTTP server: the local
//! stand-in of the protocol for tests is its own crate, `courier-azure-standin`.
//!
//! | courier | Service Bus |
//! | --- | --- |
//! | topic, queue | topic, queue |
//! | subscription | subscription with one SQL rule translated from the filter ([`sql`]) |
//! | dead-letter queue | the entity's `$DeadLetterQueue`, after `MaxDeliveryCount` = `max_receive_count` deliveries |
//! | receive | peek-lock (`POST …/messages/head`) |
//! | ack / nack(0) / extend | complete / unlock / renew lock (for the entity's lock duration) |
//! | delay, time to live | `ScheduledEnqueueTimeUtc`, `TimeToLive` |
//!
//! What the REST protocol cannot do is declared in [`Broker::capabilities`] and refused
//! with `Unsupported`: dead-lettering on request, nack with a delay, FIFO (sessions cannot
//! be received over REST). Lock durations are Service Bus's 5 s to 5 min: provisioning
//! clamps the topology's visibility timeout into that range.
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod atom;
mod client;
pub mod connection;
mod provision;
mod receive;
mod send;
pub mod sql;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::config::AzureConfig;
use courier_core::{
    Broker, Capabilities, Consumer, Delivery, Destination, Error, Message, ProvisionReport,
    Publisher, Result, Source, Topology,
};

pub use connection::ConnectionString;

/// Longest delay accepted (Service Bus schedules without a documented limit).
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longest a single REST call may take beyond its long-poll wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The Service Bus broker. Cheap to clone.
#[derive(Clone)]
pub struct AzureBroker {
    pub(crate) http: Arc<dyn azure_core::HttpClient>,
    pub(crate) conn: ConnectionString,
}

impl std::fmt::Debug for AzureBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBroker")
            .field("connection", &self.conn)
            .finish()
    }
}

impl AzureBroker {
    /// Connects with the config's connection string (and endpoint override, if any).
    pub fn connect(config: &AzureConfig) -> Result<Self> {
        let text = config.connection_string.as_ref().ok_or_else(|| {
            Error::invalid_config("provider 'azure' needs a connection string: set [azure] connection_string in courier.toml or COURIER_AZURE_CONNECTION_STRING")
        })?;
        let conn = ConnectionString::parse(text.expose())?;
        Self::new(conn, config.endpoint.as_deref())
    }

    /// A broker for this connection; `endpoint` sends every request to another base URL
    /// (e.g. the stand-in's `http://127.0.0.1:PORT`).
    pub fn new(conn: ConnectionString, endpoint: Option<&str>) -> Result<Self> {
        let http =
            connection::routed_client(&conn, endpoint, REQUEST_TIMEOUT + Duration::from_secs(60))?;
        Ok(AzureBroker { http, conn })
    }
}

#[async_trait]
impl Publisher for AzureBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        send::one(self, destination, &message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        send::batch(self, destination, messages).await
    }
}

#[async_trait]
impl Consumer for AzureBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        receive::receive(self, source, max, wait).await
    }
}

#[async_trait]
impl Broker for AzureBroker {
    fn name(&self) -> &str {
        "azure"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new(wire::MAX_MESSAGE_SIZE);
        c.max_delay = Some(MAX_DELAY);
        c.time_to_live = true;
        c.extend = true;
        c
    }

    async fn provision(&self, topology: &Topology) -> Result<ProvisionReport> {
        provision::provision(self, topology).await
    }
}
