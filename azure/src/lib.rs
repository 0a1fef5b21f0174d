//! courier-azure: courier's backend for Azure Service Bus, over its documented REST
//! protocol, called directly with `reqwest` (rustls) and courier's own SAS signing. No
//! HTTP server: the local stand-in of the protocol for tests is its own crate,
//! `courier-azure-standin`.
//!
//! | courier | Service Bus REST |
//! | --- | --- |
//! | topic, queue | topic, queue |
//! | subscription | subscription with one SQL rule: the filter translated ([`sql`]), and the address of a redrive |
//! | dead-letter queue | the entity's `$DeadLetterQueue`, after `MaxDeliveryCount` = `max_receive_count` deliveries |
//! | publish / publish_batch | "Send Message" / "Send Message Batch" (`POST …/messages`) |
//! | receive | "Peek-Lock Message" (`POST …/messages/head?timeout=N`), long-polled |
//! | ack / nack(0) / extend | "Delete Message" / "Unlock Message" / "Renew-Lock for a Message" on the lock URI |
//! | attributes | string custom properties, plus a Double `courier_num_<name>` for each number, which numeric SQL conditions read ([`wire`], [`sql`]) |
//! | delay, time to live | `ScheduledEnqueueTimeUtc` (RFC 1123 `GMT`), `TimeToLive` |
//!
//! What the REST protocol cannot do is declared in [`Broker::capabilities`] and refused
//! with `Unsupported`: dead-lettering on request, nack with a delay, FIFO (sessions cannot
//! be received over REST). Lock durations are Service Bus's 5 s to 5 min: provisioning
//! clamps the topology's visibility timeout into that range.
//!
//! Why not the `azure_messaging_servicebus` crate (0.21): it reads bodies as UTF-8 text
//! (a gzip body fails the whole receive), types `EnqueuedSequenceNumber` as 32 bits (a
//! real namespace's 64-bit numbers fail a peek-lock and leave the message locked), returns
//! 401/410 as `Ok`, sets no timeout, and has no batch send, management or dead-letter
//! reason; every call courier makes is a few lines of documented REST.
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod broker_properties;
pub mod connection;
mod error;
mod http_date;
mod operations;
mod properties;
mod provision;
mod receive;
mod rest;
mod send;
mod settle;
pub mod sql;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::config::AzureConfig;
use courier_core::request::ReplyQueue;
use courier_core::{
    Broker, Capabilities, Consumer, Delivery, Depth, Destination, Error, Message, ProvisionReport,
    Publisher, Result, Source, Topology,
};

pub use connection::ConnectionString;
pub use error::ServiceBusError;
pub use rest::Timeouts;

use rest::RestClient;

/// Longest delay accepted (Service Bus schedules without a documented limit).
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The Service Bus broker. Cheap to clone.
#[derive(Clone)]
pub struct AzureBroker {
    rest: Arc<RestClient>,
    addressable: Arc<operations::Addressable>,
}

impl std::fmt::Debug for AzureBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBroker")
            .field("connection", self.rest.connection())
            .field("endpoint", &self.rest.base_url())
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
        let rest = RestClient::new(
            conn,
            config.endpoint.as_deref(),
            config.allow_insecure_endpoint,
            Timeouts::from_config(config)?,
        )?;
        Ok(AzureBroker {
            rest: Arc::new(rest),
            addressable: Arc::default(),
        })
    }

    /// A broker for this connection; `endpoint` sends every request to another base URL
    /// (e.g. the stand-in's `http://127.0.0.1:PORT`). Plain `http://` is accepted on
    /// loopback only (see [`AzureConfig::allow_insecure_endpoint`]).
    pub fn new(conn: ConnectionString, endpoint: Option<&str>) -> Result<Self> {
        Self::with_timeouts(conn, endpoint, Timeouts::default())
    }

    /// [`AzureBroker::new`] with these timeouts instead of the defaults.
    pub fn with_timeouts(
        conn: ConnectionString,
        endpoint: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        Ok(AzureBroker {
            rest: Arc::new(RestClient::new(conn, endpoint, false, timeouts)?),
            addressable: Arc::default(),
        })
    }
}

#[async_trait]
impl Publisher for AzureBroker {
    async fn publish(&self, destination: &Destination, message: Message) -> Result<String> {
        send::one(&self.rest, destination, &message).await
    }

    async fn publish_batch(
        &self,
        destination: &Destination,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<String>>> {
        send::batch(&self.rest, destination, messages).await
    }
}

#[async_trait]
impl Consumer for AzureBroker {
    async fn receive(&self, source: &Source, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        receive::receive(&self.rest, source, max, wait).await
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
        provision::provision(&self.rest, topology).await
    }

    /// Service Bus counts locked messages as active: `visible` includes them and
    /// `in_flight` is unknown.
    async fn depth(&self, source: &Source) -> Result<Depth> {
        operations::depth(&self.rest, source).await
    }

    /// A queue, or one subscription: sent to its topic addressed to it, which only that
    /// subscription's rule admits (subscriptions courier did not provision, having no such
    /// rule, receive it too; see [`sql`]).
    async fn resubmit(&self, source: &Source, message: Message) -> Result<String> {
        operations::resubmit(&self.rest, &self.addressable, source, message).await
    }

    async fn create_reply_queue(&self) -> Result<ReplyQueue> {
        operations::create_reply_queue(&self.rest).await
    }

    async fn delete_reply_queue(&self, queue: &ReplyQueue) -> Result<()> {
        operations::delete_reply_queue(&self.rest, queue).await
    }
}
