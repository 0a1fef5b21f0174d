//! courier-core: the cloud-agnostic heart of courier.
//!
//! - the model: [`Destination`], [`Source`], [`Message`], [`Event`], [`Delivery`];
//! - the broker traits [`Publisher`], [`Consumer`], [`Broker`] (object-safe:
//!   `Arc<dyn Broker>` works) and their conveniences [`PublisherExt`], [`ConsumerExt`];
//! - the one [`Error`] type;
//! - the [`Topology`] file and subscription [`Filter`]s, and the [`Config`];
//! - the in-memory broker [`MemoryBroker`];
//! - the [`worker`] runtime that runs event handlers on any broker;
//! - with the `conformance` feature, the `conformance` suite every backend runs;
//! - with the `otel` feature, `telemetry`: OpenTelemetry spans and metrics in the
//!   messaging semantic conventions.
//!
//! ```
//! use std::time::Duration;
//! use courier_core::{Broker, ConsumerExt, Destination, Event, MemoryBroker, PublisherExt, Source, Topology};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let broker = MemoryBroker::with_topology(&Topology::example()).await?;
//! let event = Event::new("/shop", "OrderCreated", serde_json::json!({"order_id": "o-1"}));
//! broker.publish_event(&Destination::topic("orders"), &event).await?;
//!
//! let delivery = broker
//!     .receive_one(&Source::subscription("orders", "inventory"), Duration::from_secs(1))
//!     .await?
//!     .expect("fan-out reached the inventory subscription");
//! let received: Event<serde_json::Value> = delivery.event()?;
//! assert_eq!(received.id, event.id);
//! delivery.ack().await?;
//! # Ok::<(), courier_core::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

pub mod batch;
mod broker;
pub mod config;
pub mod dead_letter;
mod delivery;
pub mod duration;
mod error;
pub mod event;
pub mod filter;
pub mod memory;
mod message;
mod provision;
pub mod request;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod topology;
pub mod wire;
pub mod worker;
pub mod wrap;

#[cfg(feature = "conformance")]
pub mod conformance;

/// What a program using courier needs most, in one import: `use courier_core::prelude::*;`
/// (or `courier::prelude::*`).
pub mod prelude {
    pub use crate::event::EventType;
    pub use crate::worker::{
        handler_fn, shutdown_signal, Context, Handler, HandlerError, Host, Worker,
    };
    pub use crate::{
        Broker, Config, Consumer, ConsumerExt, Delivery, Destination, Error, Event, MemoryBroker,
        Message, Provider, Publisher, PublisherExt, Result, Source, Topology,
    };
}

pub use broker::{Broker, Capabilities, Consumer, ConsumerExt, Publisher, PublisherExt};
pub use config::{Config, Provider, Secret};
pub use dead_letter::{DeadLetter, Depth, RedriveOptions, RedriveReport};
pub use delivery::{Delivery, DeliveryInfo, Settle, SettleError};
pub use error::{display_chain, BoxError, Error, Result};
pub use event::Event;
pub use filter::Filter;
pub use memory::MemoryBroker;
pub use message::{Destination, Entity, Message, Source};
pub use provision::{Drift, EntityKind, ProvisionAction, ProvisionReport, ProvisionedEntity};
pub use topology::Topology;
