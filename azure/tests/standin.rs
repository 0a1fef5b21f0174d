//! courier-azure through the real `azure_messaging_servicebus` crate: against the REST
//! stand-in, or against real Service Bus when `COURIER_TEST_AZURE_CONNECTION_STRING` is set
//! (a namespace whose key may manage entities; tests create uniquely named ones).

use std::time::Duration;

use courier_azure::{AzureBroker, ConnectionString};
use courier_azure_standin::StandIn;
use courier_core::config::AzureConfig;
use courier_core::topology::{QueueSpec, Topology};
use courier_core::{
    Broker, Consumer, ConsumerExt, Destination, Error, Message, Publisher, Secret, Source,
};

/// A broker, with the stand-in it talks to kept alive beside it.
struct Backend {
    broker: AzureBroker,
    _standin: Option<StandIn>,
}

impl std::ops::Deref for Backend {
    type Target = dyn Broker;
    fn deref(&self) -> &Self::Target {
        &self.broker
    }
}

async fn backend() -> Backend {
    if let Ok(cs) = std::env::var("COURIER_TEST_AZURE_CONNECTION_STRING") {
        let conn =
            ConnectionString::parse(&cs).expect("COURIER_TEST_AZURE_CONNECTION_STRING parses");
        return Backend {
            broker: AzureBroker::new(conn, None).unwrap(),
            _standin: None,
        };
    }
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the stand-in starts");
    let config = AzureConfig {
        connection_string: Some(standin.connection_string()),
        endpoint: Some(standin.endpoint()),
    };
    Backend {
        broker: AzureBroker::connect(&config).unwrap(),
        _standin: Some(standin),
    }
}

courier_core::conformance_tests!(backend());

async fn queue(b: &Backend) -> String {
    let name = courier_core::conformance::unique("az");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap();
    name
}

#[tokio::test]
async fn an_empty_body_is_a_message_not_an_empty_queue() {
    let b = backend().await;
    let q = queue(&b).await;
    assert!(
        b.receive_one(&Source::queue(&q), Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "204: nothing"
    );
    b.publish(&Destination::queue(&q), Message::new(""))
        .await
        .unwrap();
    let d = b
        .receive_one(&Source::queue(&q), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("201 with an empty body");
    assert!(d.message().body.is_empty());
    d.ack().await.unwrap();
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_never_shown() {
    let b = backend().await;
    let q = queue(&b).await;
    let mut conn = b.broker_connection();
    conn.key = Secret::new("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=");
    let endpoint = b._standin.as_ref().map(StandIn::endpoint);
    let wrong = AzureBroker::new(conn.clone(), endpoint.as_deref()).unwrap();
    let err = wrong
        .publish(&Destination::queue(&q), Message::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    let err = wrong
        .receive(&Source::queue(&q), 1, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    let shown = format!("{err} {err:?} {wrong:?} {conn:?}");
    assert!(
        !shown.contains("d3Jvbmcta2V5") && !shown.contains(b.broker_connection().key.expose()),
        "{shown}"
    );
}

#[tokio::test]
async fn locks_expire_renew_and_dead_letter_after_max_deliveries() {
    let b = backend().await;
    let name = courier_core::conformance::unique("lock");
    let mut spec = QueueSpec::new(&name);
    spec.visibility_timeout_secs = 5;
    spec.max_receive_count = 2;
    b.provision(&Topology {
        queues: vec![spec],
        ..Topology::default()
    })
    .await
    .unwrap();
    b.publish(&Destination::queue(&name), Message::new("held"))
        .await
        .unwrap();
    let src = Source::queue(&name);
    let first = b
        .receive_one(&src, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    first.extend(Duration::from_secs(5)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The lock (renewed once) has run out: the message comes back, count 2.
    let second = b
        .receive_one(&src, Duration::from_secs(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.delivery_count(), 2);
    assert!(
        matches!(first.ack().await, Err(e) if matches!(e.error, Error::LockLost { .. })),
        "the first lock is gone"
    );
    second.nack(Duration::ZERO).await.unwrap();
    assert!(
        b.receive_one(&src, Duration::from_secs(2))
            .await
            .unwrap()
            .is_none(),
        "MaxDeliveryCount reached"
    );
    let dead = b
        .receive_one(&src.dead_letter(), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("in $DeadLetterQueue");
    assert_eq!(dead.message().body, b"held");
    let reason = &dead.message().attributes[courier_core::event::attr::DEAD_LETTER_REASON];
    assert!(reason.starts_with("MaxDeliveryCountExceeded"), "{reason}");
}

#[tokio::test]
async fn provisioning_repairs_drift_and_refuses_fifo() {
    let b = backend().await;
    let name = courier_core::conformance::unique("drift");
    let mut t = Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    };
    b.provision(&t).await.unwrap();
    t.queues[0].max_receive_count = 9;
    t.queues[0].visibility_timeout_secs = 1; // clamped to Service Bus's 5 s minimum
    let report = b.provision(&t).await.unwrap();
    assert!(
        report
            .to_string()
            .contains("updated (LockDuration, MaxDeliveryCount)"),
        "{report}"
    );
    assert!(b.provision(&t).await.unwrap().is_unchanged());
    t.queues[0].fifo = true;
    let err = b.provision(&t).await.unwrap_err();
    assert!(
        matches!(err, Error::Unsupported { .. }) && err.to_string().contains("sessions"),
        "{err}"
    );
}

trait ConnectionOf {
    fn broker_connection(&self) -> ConnectionString;
}

impl ConnectionOf for Backend {
    fn broker_connection(&self) -> ConnectionString {
        let cs = match &self._standin {
            Some(s) => s.connection_string(),
            None => Secret::new(std::env::var("COURIER_TEST_AZURE_CONNECTION_STRING").unwrap()),
        };
        ConnectionString::parse(cs.expose()).unwrap()
    }
}

#[tokio::test]
async fn the_stand_in_refuses_unsigned_and_foreign_tokens() {
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = azure_core::new_http_client();
    let url =
        azure_core::Url::parse(&format!("{}/anything/messages/head", standin.endpoint())).unwrap();
    let req = azure_core::Request::new(url, azure_core::Method::Post);
    let res = client.execute_request(&req).await.unwrap();
    assert_eq!(u16::from(res.status()), 401);
}

#[tokio::test]
async fn the_stand_in_drops_duplicates_for_entities_that_ask() {
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let conn = ConnectionString::parse(standin.connection_string().expose()).unwrap();
    let http = courier_azure::connection::routed_client(
        &conn,
        Some(&standin.endpoint()),
        Duration::from_secs(10),
    )
    .unwrap();
    let url = azure_core::Url::parse(&format!(
        "{}/dedup?api-version=2017-04",
        conn.namespace_url()
    ))
    .unwrap();
    let mut req = azure_core::Request::new(url, azure_core::Method::Put);
    req.set_body(
        r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><LockDuration>PT30S</LockDuration><RequiresDuplicateDetection>true</RequiresDuplicateDetection><MaxDeliveryCount>5</MaxDeliveryCount></QueueDescription></content></entry>"#,
    );
    assert_eq!(
        u16::from(http.execute_request(&req).await.unwrap().status()),
        201
    );
    let b = AzureBroker::new(conn, Some(&standin.endpoint())).unwrap();
    for body in ["first", "again"] {
        b.publish(
            &Destination::queue("dedup"),
            Message::new(body).with_message_id("same-id"),
        )
        .await
        .unwrap();
    }
    let d = b
        .receive_one(&Source::queue("dedup"), Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message().body, b"first");
    d.ack().await.unwrap();
    assert!(
        b.receive_one(&Source::queue("dedup"), Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "the duplicate was dropped"
    );
}
