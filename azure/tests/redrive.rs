//! A redrive to one subscription over Service Bus, which cannot send to a subscription:
//! the message goes to the topic with the application property `courier_to`, which only
//! that subscription's rule admits ("Subscription Rule SQL Filter Syntax": `IS NULL` is
//! true for a property that does not exist). Against the stand-in, or a real namespace
//! with `COURIER_TEST_AZURE_CONNECTION_STRING`.

mod support;

use std::time::Duration;

use courier_core::topology::{SubscriptionSpec, TopicSpec, Topology};
use courier_core::{ConsumerExt, Message, Source};
use support::backend;

/// The message reaches its subscription even when its filter no longer matches (it goes
/// back where it was, as SQS and memory put it back), reaches no sibling (filtered or
/// not), and the handler sees it as it was sent: the address is for the rules only. A
/// consumer that is not courier sees the address as a string property.
#[tokio::test]
async fn a_resubmit_reaches_its_subscription_whatever_its_filter_and_no_other() {
    let b = backend().await;
    let topic = courier_core::conformance::unique("addr");
    let filtered = |name: &str| {
        let mut s = SubscriptionSpec::new(&topic, name);
        s.filter = Some(serde_json::from_value(serde_json::json!({"type": ["A"]})).unwrap());
        s
    };
    b.provisioned(Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![
            filtered("a"),
            filtered("b"),
            SubscriptionSpec::new(&topic, "c"),
        ],
        ..Topology::default()
    })
    .await;
    let m = Message::new("{\"n\":1}")
        .with_attribute("ce_type", "B")
        .with_attribute("amount", "150")
        .with_message_id("m-1");
    // Named in another case: Service Bus names are case-insensitive.
    let to_a = Source::subscription(&topic, "A");
    b.resubmit(&to_a, m.clone()).await.expect("resubmit");
    let a = Source::subscription(&topic, "a");
    let d = b
        .receive_one(&a, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a gets it back although its filter wants type A");
    assert_eq!(d.message().attributes, m.attributes, "no courier_to");
    // A new MessageId, so that an entity with duplicate detection does not drop the copy
    // as a repeat of its first send (as SQS, which gives a redriven message a new id).
    let id = d.message().message_id.as_deref().unwrap_or_default();
    assert!(id.starts_with("redrive-") && id != "m-1", "{id}");
    assert_eq!(d.message().body, m.body);
    d.ack().await.unwrap();
    for other in ["b", "c"] {
        let got = b
            .receive_one(&Source::subscription(&topic, other), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(got.is_none(), "{other} must not see a's redrive: {got:?}");
    }

    b.resubmit(&to_a, m).await.expect("resubmit");
    let raw = b
        .rest()
        .peek_lock(&format!("{topic}/subscriptions/a"), Duration::from_secs(5))
        .await;
    assert_eq!(raw.status, 201, "{raw:?}");
    assert_eq!(
        raw.headers.get("courier_to").map(String::as_str),
        Some("\"a\""),
        "a string property, as \"Message Headers and Properties\" types it"
    );
    assert_eq!(b.rest().complete(&raw).await, 200);
}
