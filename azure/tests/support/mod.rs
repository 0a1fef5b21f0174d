//! What the Azure integration tests share: a broker against the stand-in (or a real
//! namespace when `COURIER_TEST_AZURE_CONNECTION_STRING` is set), raw REST calls as a
//! foreign producer or consumer would make them, and a recording, fault-injecting proxy.
#![allow(dead_code)]

pub mod proxy;
pub mod rest;

use courier_azure::{AzureBroker, ConnectionString};
use courier_azure_standin::StandIn;
use courier_core::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use courier_core::Broker;

pub use proxy::Proxy;

/// A broker, with the stand-in it talks to kept alive beside it.
pub struct Backend {
    pub broker: AzureBroker,
    pub connection: ConnectionString,
    /// Where requests go: the stand-in's endpoint, or `None` for the real namespace.
    pub endpoint: Option<String>,
    pub standin: Option<StandIn>,
}

impl std::ops::Deref for Backend {
    type Target = dyn Broker;
    fn deref(&self) -> &Self::Target {
        &self.broker
    }
}

impl Backend {
    /// The base URL requests go to (the stand-in, or the namespace itself).
    pub fn upstream(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| self.connection.namespace_url())
    }

    /// A second broker whose requests go through `proxy` (which forwards to this backend).
    pub fn through(&self, proxy: &Proxy) -> AzureBroker {
        AzureBroker::new(self.connection.clone(), Some(&proxy.endpoint()))
            .expect("broker via proxy")
    }

    /// The connection string, as another program (Microsoft's SDK) is given it.
    pub fn connection_string(&self) -> String {
        let c = &self.connection;
        format!(
            "Endpoint=sb://{}.servicebus.windows.net/;SharedAccessKeyName={};SharedAccessKey={}",
            c.namespace,
            c.key_name,
            c.key.expose()
        )
    }

    /// Raw REST calls as another program would make them.
    pub fn rest(&self) -> rest::Rest {
        rest::Rest::new(self.connection.clone(), self.upstream())
    }

    /// Provisions `topology`, panicking with the error.
    pub async fn provisioned(&self, topology: Topology) {
        self.broker
            .provision(&topology)
            .await
            .unwrap_or_else(|e| panic!("provisioning failed: {e}"));
    }

    /// A fresh queue.
    pub async fn queue(&self, prefix: &str) -> String {
        let name = courier_core::conformance::unique(prefix);
        self.provisioned(Topology {
            queues: vec![QueueSpec::new(&name)],
            ..Topology::default()
        })
        .await;
        name
    }

    /// A fresh topic with one subscription `s` filtered by `policy` (JSON filter policy).
    pub async fn filtered_subscription(&self, prefix: &str, policy: serde_json::Value) -> String {
        let topic = courier_core::conformance::unique(prefix);
        let mut sub = SubscriptionSpec::new(&topic, "s");
        sub.filter = Some(serde_json::from_value(policy).expect("filter policy"));
        self.provisioned(Topology {
            topics: vec![TopicSpec::new(&topic)],
            subscriptions: vec![sub],
            ..Topology::default()
        })
        .await;
        topic
    }
}

/// The backend the tests run against.
pub async fn backend() -> Backend {
    if let Ok(cs) = std::env::var("COURIER_TEST_AZURE_CONNECTION_STRING") {
        let connection =
            ConnectionString::parse(&cs).expect("COURIER_TEST_AZURE_CONNECTION_STRING parses");
        return Backend {
            broker: AzureBroker::new(connection.clone(), None).expect("broker"),
            connection,
            endpoint: None,
            standin: None,
        };
    }
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the stand-in starts");
    Backend::of(standin)
}

impl Backend {
    /// A backend on this stand-in.
    pub fn of(standin: StandIn) -> Backend {
        let connection = ConnectionString::parse(standin.connection_string().expose())
            .expect("its string parses");
        let endpoint = standin.endpoint();
        Backend {
            broker: AzureBroker::new(connection.clone(), Some(&endpoint)).expect("broker"),
            connection,
            endpoint: Some(endpoint),
            standin: Some(standin),
        }
    }
}
