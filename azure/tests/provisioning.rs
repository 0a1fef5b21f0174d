//! Provisioning through the Service Bus management REST API as the service documents it:
//! an update sends the whole description (values left out revert to defaults), and a
//! subscription is never left without a rule. Against the stand-in, or a real namespace
//! with `COURIER_TEST_AZURE_CONNECTION_STRING`.

mod support;

use courier_core::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use courier_core::Broker;
use support::rest::{element, entry};
use support::{backend, Proxy};

/// "Update Queue" (`PUT` with `If-Match: *`): the description replaces the entity's, so a
/// drift fix must send back what courier does not manage as the entity has it.
#[tokio::test]
async fn a_drift_fix_keeps_what_courier_does_not_manage() {
    let b = backend().await;
    let name = courier_core::conformance::unique("keep");
    let created = entry(
        "QueueDescription",
        "<LockDuration>PT1M</LockDuration><RequiresDuplicateDetection>true</RequiresDuplicateDetection><DefaultMessageTimeToLive>PT1H</DefaultMessageTimeToLive><DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration><MaxDeliveryCount>3</MaxDeliveryCount>",
    );
    let (status, body) = b.rest().put(&name, &created, false).await;
    assert_eq!(status, 201, "{body}");
    let report = b
        .provision(&Topology {
            queues: vec![QueueSpec::new(&name)],
            ..Topology::default()
        })
        .await
        .unwrap();
    let text = report.to_string();
    assert!(
        text.contains("LockDuration 60 -> 30") && text.contains("MaxDeliveryCount 3 -> 5"),
        "{text}"
    );
    let (status, xml) = b.rest().get(&name).await;
    assert_eq!(status, 200);
    assert_eq!(element(&xml, "LockDuration"), Some("PT30S"), "{xml}");
    assert_eq!(element(&xml, "MaxDeliveryCount"), Some("5"), "{xml}");
    assert_eq!(
        element(&xml, "RequiresDuplicateDetection"),
        Some("true"),
        "left as it was: {xml}"
    );
    assert_eq!(
        element(&xml, "DefaultMessageTimeToLive"),
        Some("PT1H"),
        "left as it was: {xml}"
    );
}

/// Issue 10, item 5: removing a filter restores the catch-all rule first and deletes
/// courier's rule after, so that no message published meanwhile finds the subscription
/// without any rule.
#[tokio::test]
async fn removing_a_filter_restores_the_catch_all_before_deleting_the_rule() {
    let b = backend().await;
    let topic = courier_core::conformance::unique("rules");
    let mut sub = SubscriptionSpec::new(&topic, "s");
    sub.filter = Some(serde_json::from_value(serde_json::json!({"type": ["A"]})).unwrap());
    let mut t = Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![sub],
        ..Topology::default()
    };
    b.provision(&t).await.unwrap();
    let proxy = Proxy::start(b.upstream()).await;
    let via = b.through(&proxy);
    t.subscriptions[0].filter = None;
    via.provision(&t).await.unwrap();
    let changes: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|(m, p)| m != "GET" && p.contains("/rules/"))
        .map(|(m, p)| format!("{m} {}", p.split('?').next().unwrap_or_default()))
        .collect();
    let sub_path = format!("{topic}/subscriptions/s/rules");
    assert_eq!(
        changes,
        [
            format!("PUT {sub_path}/$Default"),
            format!("DELETE {sub_path}/courier-filter")
        ],
        "create, then delete"
    );
    assert!(b.provision(&t).await.unwrap().is_unchanged());
}
