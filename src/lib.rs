//! courier: integration events over cloud-managed queues.
//!
//! One API to publish and consume CloudEvents-style events, with the provider chosen by
//! configuration: the in-memory broker (the default), Amazon SQS/SNS or Azure Service Bus.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use courier::{Config, Destination, Event, PublisherExt, Topology};
//!
//! let broker = courier::connect(&Config::default()).await?; // provider = "memory"
//! broker.provision(&Topology::example()).await?;
//! let event = Event::new("/shop/checkout", "OrderCreated", serde_json::json!({"order_id": "o-1"}));
//! broker.publish_event(&Destination::topic("orders"), &event).await?;
//! # Ok::<(), courier::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

use std::sync::Arc;

pub use courier_core::*;

/// The Amazon SQS + SNS backend (feature `aws`).
#[cfg(feature = "aws")]
pub use courier_aws as aws;

/// The Azure Service Bus backend (feature `azure`).
#[cfg(feature = "azure")]
pub use courier_azure as azure;

/// The AWS Lambda adapter (feature `lambda`): the same handlers as SQS- or SNS-triggered
/// functions, with partial batch responses.
#[cfg(feature = "lambda")]
pub use courier_lambdas as lambda;

/// OTLP export from the standard `OTEL_*` variables, and an in-process summary of
/// courier's metrics (feature `otlp`).
#[cfg(feature = "otlp")]
pub use courier_otlp as otlp;

/// What a program using courier needs most, in one import: `use courier::prelude::*;`.
pub mod prelude {
    pub use crate::connect;
    pub use courier_core::prelude::*;
}

/// The transactional outbox and durable idempotency on PostgreSQL (feature `postgres`).
#[cfg(feature = "postgres")]
pub use courier_postgres as postgres;

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Connects to the broker the configuration names.
///
/// Fails with [`Error::InvalidConfig`] when the provider's settings are missing or its
/// backend is not part of this build.
pub async fn connect(config: &Config) -> Result<Arc<dyn Broker>> {
    match config.provider {
        Provider::Memory => Ok(Arc::new(MemoryBroker::new())),
        #[cfg(feature = "aws")]
        Provider::Aws => Ok(Arc::new(
            courier_aws::AwsBroker::connect(&config.aws).await?,
        )),
        #[cfg(not(feature = "aws"))]
        Provider::Aws => Err(not_built(Provider::Aws, "aws")),
        #[cfg(feature = "azure")]
        Provider::Azure => Ok(Arc::new(courier_azure::AzureBroker::connect(
            &config.azure,
        )?)),
        #[cfg(not(feature = "azure"))]
        Provider::Azure => Err(not_built(Provider::Azure, "azure")),
    }
}

#[cfg(not(all(feature = "aws", feature = "azure")))]
fn not_built(provider: Provider, feature: &str) -> Error {
    Error::invalid_config(format!(
        "provider '{provider}' is not available in this build of courier: build it with the `{feature}` feature"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_is_the_default_and_unavailable_providers_say_why() {
        let broker = connect(&Config::default()).await.unwrap();
        assert_eq!(broker.name(), "memory");

        let mut aws = Config {
            provider: Provider::Aws,
            ..Config::default()
        };
        aws.aws.region = Some("eu-west-1".into());
        match connect(&aws).await {
            #[cfg(feature = "aws")]
            Ok(broker) => assert_eq!(broker.name(), "aws"),
            #[cfg(not(feature = "aws"))]
            Err(e) => assert!(
                e.to_string().contains("build it with the `aws` feature"),
                "{e}"
            ),
            #[allow(unreachable_patterns)]
            other => panic!("unexpected: {:?}", other.map(|b| b.name().to_owned())),
        }

        let azure = Config {
            provider: Provider::Azure,
            ..Config::default()
        };
        let e = connect(&azure).await.err().unwrap().to_string();
        assert!(
            e.contains("needs a connection string")
                && e.contains("COURIER_AZURE_CONNECTION_STRING"),
            "{e}"
        );
    }
}
