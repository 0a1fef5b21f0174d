//! courier-azure's conformance suite and lock, key and drift tests: against the REST
//! stand-in, or against real Service Bus when `COURIER_TEST_AZURE_CONNECTION_STRING` is set
//! (a namespace whose key may manage entities; tests create uniquely named ones).

mod support;

use std::time::Duration;

use courier_azure::AzureBroker;
use courier_azure_standin::StandIn;
use courier_core::topology::{QueueSpec, Topology};
use courier_core::{Consumer, ConsumerExt, Destination, Error, Message, Publisher, Secret, Source};
use support::backend;

courier_core::conformance_tests!(backend());

async fn queue(b: &support::Backend) -> String {
    b.queue("az").await
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
    let mut conn = b.connection.clone();
    conn.key = Secret::new("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=");
    let wrong = AzureBroker::new(conn.clone(), b.endpoint.as_deref()).unwrap();
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
        !shown.contains("d3Jvbmcta2V5") && !shown.contains(b.connection.key.expose()),
        "{shown}"
    );
}

/// "Renew-Lock for a Message", "Unlock Message"; "Overview of Service Bus dead-letter
/// queues": after MaxDeliveryCount deliveries the message moves to `$DeadLetterQueue` with
/// the application properties `DeadLetterReason` / `DeadLetterErrorDescription`, which
/// courier reports even for its own messages, whose `courier` property it otherwise
/// prefers (issue 11, defect 3).
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
    b.publish(
        &Destination::queue(&name),
        Message::new("held").with_attribute("region", "eu"),
    )
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
    assert_eq!(
        dead.message().attributes["region"],
        "eu",
        "read as courier's"
    );
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
            .contains("updated (LockDuration 30 -> 5, MaxDeliveryCount 5 -> 9)"),
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

#[tokio::test]
async fn the_stand_in_refuses_unsigned_and_foreign_tokens() {
    let standin = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/anything/messages/head", standin.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn the_stand_in_drops_duplicates_for_entities_that_ask() {
    let b = backend().await;
    let name = courier_core::conformance::unique("dedup");
    let description = support::rest::entry(
        "QueueDescription",
        "<LockDuration>PT30S</LockDuration><RequiresDuplicateDetection>true</RequiresDuplicateDetection><MaxDeliveryCount>5</MaxDeliveryCount>",
    );
    let (status, body) = b.rest().put(&name, &description, false).await;
    assert_eq!(status, 201, "{body}");
    for body in ["first", "again"] {
        b.publish(
            &Destination::queue(&name),
            Message::new(body).with_message_id("same-id"),
        )
        .await
        .unwrap();
    }
    let d = b
        .receive_one(&Source::queue(&name), Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message().body, b"first");
    d.ack().await.unwrap();
    assert!(
        b.receive_one(&Source::queue(&name), Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "the duplicate was dropped"
    );
}

/// A redrive to an entity with duplicate detection must not be dropped as a duplicate of
/// the message's first send ("Duplicate detection": a message whose `MessageId` was seen
/// within `DuplicateDetectionHistoryTimeWindow` is accepted and then dropped): the resent
/// copy gets a new `MessageId`; its event id (`ce_id`) is unchanged.
#[tokio::test]
async fn a_redrive_to_an_entity_with_duplicate_detection_arrives() {
    let b = backend().await;
    let name = courier_core::conformance::unique("dedup-redrive");
    let description = support::rest::entry(
        "QueueDescription",
        "<LockDuration>PT30S</LockDuration><RequiresDuplicateDetection>true</RequiresDuplicateDetection><MaxDeliveryCount>1</MaxDeliveryCount>",
    );
    let (status, body) = b.rest().put(&name, &description, false).await;
    assert_eq!(status, 201, "{body}");
    let (src, dest) = (Source::queue(&name), Destination::queue(&name));
    let event = courier_core::Event::new("/t", "OrderCreated", serde_json::json!({"n": 1}));
    courier_core::PublisherExt::publish_event(&*b, &dest, &event)
        .await
        .unwrap();
    let d = b
        .receive_one(&src, Duration::from_secs(2))
        .await
        .unwrap()
        .expect("the message");
    d.nack(Duration::ZERO).await.unwrap(); // MaxDeliveryCount 1: to the dead-letter queue
    let report = b
        .redrive_dead_letters(&src, &courier_core::RedriveOptions::default())
        .await
        .unwrap();
    assert_eq!(report.moved, 1, "{report:?}");
    let back = b
        .receive_one(&src, Duration::from_secs(2))
        .await
        .unwrap()
        .expect("the redriven message arrives, not dropped as a duplicate");
    assert_eq!(back.event_id().as_deref(), Some(event.id.as_str()));
    back.ack().await.unwrap();
}
