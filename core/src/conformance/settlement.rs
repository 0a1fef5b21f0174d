//! Checks of settlement: ack, nack, visibility, dead-lettering, extension.

use std::time::Duration;

use super::{none, publish, queue, receive_one};
use crate::event::attr;
use crate::{Broker, Destination, Error, Message, Source};

/// `nack(0)` gives the message back at once, with the delivery count one higher.
pub async fn nack_redelivers_with_count(broker: &dyn Broker) {
    let q = queue(broker, "nack", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("again")).await;
    let first = receive_one(broker, &Source::queue(&q)).await;
    let first_count = first.delivery_count();
    first.nack(Duration::ZERO).await.expect("nack");
    let second = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(second.message().body, b"again");
    assert_eq!(second.delivery_count(), first_count + 1, "count + 1");
    second.ack().await.expect("ack");
}

/// `nack(after)` hides the message for `after`, or is refused as unsupported.
pub async fn nack_with_delay(broker: &dyn Broker) {
    let q = queue(broker, "nackd", 30, 5).await;
    publish(broker, &Destination::queue(&q), Message::new("later")).await;
    let d = receive_one(broker, &Source::queue(&q)).await;
    if !broker.capabilities().nack_delay {
        let err = d
            .nack(Duration::from_secs(2))
            .await
            .expect_err("nack with delay is unsupported");
        assert!(matches!(err.error, Error::Unsupported { .. }), "{err}");
        err.delivery.ack().await.expect("ack after refused nack");
        return;
    }
    d.nack(Duration::from_secs(3)).await.expect("nack");
    none(broker, &Source::queue(&q), "nacked for 3 s").await;
    let again = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(again.delivery_count(), 2);
    again.ack().await.expect("ack");
}

/// A delivery left unsettled comes back after the visibility timeout.
pub async fn visibility_expiry_redelivers(broker: &dyn Broker) {
    let q = queue(broker, "vis", 1, 5).await;
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("lost consumer"),
    )
    .await;
    let first = receive_one(broker, &Source::queue(&q)).await;
    drop(first); // the consumer "crashed"
    let again = receive_one(broker, &Source::queue(&q)).await;
    assert_eq!(again.message().body, b"lost consumer");
    assert_eq!(again.delivery_count(), 2);
    again.ack().await.expect("ack");
}

/// After `max_receive_count` deliveries the message moves to the dead-letter queue.
pub async fn dead_letter_after_max_deliveries(broker: &dyn Broker) {
    let q = queue(broker, "redrive", 1, 2).await;
    let src = Source::queue(&q);
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("poison").with_attribute("k", "v"),
    )
    .await;
    for attempt in 1..=2 {
        let d = receive_one(broker, &src).await;
        assert_eq!(d.delivery_count(), attempt);
        d.nack(Duration::ZERO).await.expect("nack");
    }
    none(broker, &src, "delivered max_receive_count times").await;
    let dead = receive_one(broker, &src.dead_letter()).await;
    assert_eq!(dead.message().body, b"poison");
    assert_eq!(
        dead.message().attributes.get("k").map(String::as_str),
        Some("v"),
        "attributes kept"
    );
    dead.ack().await.expect("ack in the dead-letter queue");
}

/// `dead_letter(reason)` moves the message at once and keeps the reason.
pub async fn dead_letter_on_request(broker: &dyn Broker) {
    let q = queue(broker, "dlr", 30, 5).await;
    let src = Source::queue(&q);
    publish(
        broker,
        &Destination::queue(&q),
        Message::new("bad").with_attribute("k", "v"),
    )
    .await;
    let d = receive_one(broker, &src).await;
    if !broker.capabilities().explicit_dead_letter {
        let err = d.dead_letter("x").await.expect_err("unsupported");
        assert!(matches!(err.error, Error::Unsupported { .. }), "{err}");
        err.delivery
            .ack()
            .await
            .expect("ack after refused dead-letter");
        return;
    }
    d.dead_letter("invalid order: quantity 0")
        .await
        .expect("dead_letter");
    let dead = receive_one(broker, &src.dead_letter()).await;
    assert_eq!(dead.message().body, b"bad");
    assert_eq!(
        dead.message().attributes.get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(
        dead.message()
            .attributes
            .get(attr::DEAD_LETTER_REASON)
            .map(String::as_str),
        Some("invalid order: quantity 0"),
        "reason kept"
    );
    none(broker, &src, "dead-lettered").await;
}
