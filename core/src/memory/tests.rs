//! Semantics the conformance suite does not reach, under tokio's paused clock.

use std::time::Duration;

use super::*;
use crate::event::attr;
use crate::provision::ProvisionAction;
use crate::topology::QueueSpec;
use crate::ConsumerExt;

fn fifo_queue(name: &str, content_dedup: bool) -> Topology {
    let mut q = QueueSpec::new(name);
    q.fifo = true;
    q.content_based_deduplication = content_dedup;
    Topology {
        queues: vec![q],
        ..Topology::default()
    }
}

#[tokio::test(start_paused = true)]
async fn dedup_window_forgets_after_five_minutes() {
    let b = MemoryBroker::with_topology(&fifo_queue("f", false))
        .await
        .unwrap();
    let dest = Destination::queue("f");
    let m = Message::new("x").with_group_id("g").with_dedup_id("d1");
    let first = b.publish(&dest, m.clone()).await.unwrap();
    assert_eq!(
        b.publish(&dest, m.clone()).await.unwrap(),
        first,
        "a duplicate answers the first id"
    );
    assert_eq!(b.count(&Source::queue("f")).unwrap(), 1);
    tokio::time::advance(DEDUP_WINDOW_PLUS).await;
    b.publish(&dest, m).await.unwrap();
    assert_eq!(
        b.count(&Source::queue("f")).unwrap(),
        2,
        "accepted again after the window"
    );
}

const DEDUP_WINDOW_PLUS: Duration = Duration::from_secs(5 * 60 + 1);

#[tokio::test(start_paused = true)]
async fn content_based_dedup_and_its_absence() {
    let b = MemoryBroker::with_topology(&fifo_queue("c", true))
        .await
        .unwrap();
    let dest = Destination::queue("c");
    b.publish(&dest, Message::new("same").with_group_id("g"))
        .await
        .unwrap();
    b.publish(&dest, Message::new("same").with_group_id("g"))
        .await
        .unwrap();
    b.publish(&dest, Message::new("other").with_group_id("g"))
        .await
        .unwrap();
    assert_eq!(b.count(&Source::queue("c")).unwrap(), 2);

    let b = MemoryBroker::with_topology(&fifo_queue("n", false))
        .await
        .unwrap();
    let err = b
        .publish(
            &Destination::queue("n"),
            Message::new("x").with_group_id("g"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("needs a dedup_id or message_id"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_subscription_redrives_to_its_own_dead_letter_queue() {
    let b = MemoryBroker::with_topology(&Topology::example())
        .await
        .unwrap();
    let e = crate::Event::new("/t", "OrderCreated", serde_json::json!({"n": 1}));
    crate::PublisherExt::publish_event(&b, &Destination::topic("orders"), &e)
        .await
        .unwrap();
    let inv = Source::subscription("orders", "inventory");
    let d = b.receive_one(&inv, Duration::ZERO).await.unwrap().unwrap();
    d.dead_letter("out of stock").await.unwrap();
    let dead = b
        .receive_one(&inv.dead_letter(), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dead.message().attributes[attr::DEAD_LETTER_REASON],
        "out of stock"
    );
    assert_eq!(
        dead.message().attributes[attr::DEAD_LETTER_SOURCE],
        "orders/inventory"
    );
    assert_eq!(
        b.count(&Source::subscription("orders", "payment").dead_letter())
            .unwrap(),
        0
    );
    assert_eq!(
        b.count(&Source::subscription("orders", "payment")).unwrap(),
        1
    );
    assert_eq!(
        inv.dead_letter().dead_letter(),
        inv.dead_letter(),
        "a dead-letter queue has no dead-letter queue of its own"
    );
}

#[tokio::test(start_paused = true)]
async fn long_poll_wakes_on_publish_and_on_delay_expiry() {
    let b = MemoryBroker::with_topology(&Topology {
        queues: vec![QueueSpec::new("q")],
        ..Topology::default()
    })
    .await
    .unwrap();
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        publisher
            .publish(&Destination::queue("q"), Message::new("now"))
            .await
            .unwrap();
        publisher
            .publish(
                &Destination::queue("q"),
                Message::new("later").with_delay(Duration::from_secs(10)),
            )
            .await
            .unwrap();
    });
    let start = Instant::now();
    let d = b
        .receive_one(&Source::queue("q"), Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message().body, b"now");
    assert_eq!(start.elapsed().as_secs(), 3, "woken by the publish");
    d.ack().await.unwrap();
    let d = b
        .receive_one(&Source::queue("q"), Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message().body, b"later");
    assert_eq!(
        start.elapsed().as_secs(),
        13,
        "woken when the delay ran out"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_receipt_cannot_settle_a_redelivered_message() {
    let mut q = QueueSpec::new("q");
    q.visibility_timeout_secs = 1;
    let b = MemoryBroker::with_topology(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    b.publish(&Destination::queue("q"), Message::new("x"))
        .await
        .unwrap();
    let old = b
        .receive_one(&Source::queue("q"), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    let new = b
        .receive_one(&Source::queue("q"), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let failed = old.ack().await.expect_err("the lock moved on");
    assert!(matches!(failed.error, Error::LockLost { .. }));
    assert_eq!(
        failed.delivery.delivery_count(),
        1,
        "a failed ack hands the delivery back, unsettled"
    );
    new.ack().await.unwrap();
    assert_eq!(b.count(&Source::queue("q")).unwrap(), 0);
}

#[tokio::test]
async fn provisioning_reports_changes_and_differences() {
    let b = MemoryBroker::with_topology(&Topology::example())
        .await
        .unwrap();
    let mut changed = Topology::example();
    changed.subscriptions[0].max_receive_count = 9;
    let report = b.provision(&changed).await.unwrap();
    assert_eq!(
        report.count(&ProvisionAction::Updated(String::new())),
        1,
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("max_receive_count Some(5) -> Some(9)"),
        "{report}"
    );
    changed.topics[0].fifo = true;
    let report = b.provision(&changed).await.unwrap();
    assert!(report.to_string().contains("DIFFERS"), "{report}");
}

#[tokio::test]
async fn huge_durations_saturate_instead_of_panicking() {
    let b = MemoryBroker::with_topology(&fifo_queue("q", false))
        .await
        .unwrap();
    let dest = Destination::queue("q");
    let huge = Message::new("x")
        .with_group_id("g")
        .with_message_id("m-1")
        .with_time_to_live(Duration::from_secs_f64(1e19));
    b.publish(&dest, huge.clone()).await.unwrap();
    let d = b
        .receive_one(&Source::queue("q"), Duration::ZERO)
        .await
        .unwrap()
        .expect("delivered: a huge time to live is 'forever', not a panic");
    d.nack(Duration::MAX).await.expect("a huge nack saturates");
    let long = b
        .receive(&Source::queue("q"), 1, Duration::from_millis(10))
        .await
        .unwrap();
    assert!(long.is_empty(), "hidden for 'forever'");
    let wait = b.receive(&Source::queue("other"), 1, Duration::MAX).await;
    assert!(
        wait.unwrap_err().is_not_found(),
        "a huge wait does not panic"
    );
}
