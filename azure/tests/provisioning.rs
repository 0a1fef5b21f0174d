//! Provisioning through the Service Bus management REST API as the service documents it:
//! an update sends the whole description (values left out revert to defaults), and a
//! subscription is never left without a rule. Against the stand-in, or a real namespace
//! with `COURIER_TEST_AZURE_CONNECTION_STRING`.

mod support;

use std::time::Duration;

use courier_azure::sql;
use courier_core::filter::Filter;
use courier_core::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};
use courier_core::{Broker, ConsumerExt, Destination, Error, Message, Source};
use support::rest::{element, entry, sql_rule_entry};
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

/// A topology provisioned by an older courier is drift: a filter rule without the
/// redrive address is replaced in place, and an unfiltered subscription's catch-all
/// `$Default` gives way to courier's rule, created first ("a subscription without rules
/// receives nothing"). Until then a redrive to such a subscription is refused, since the
/// topic would deliver it to every sibling.
#[tokio::test]
async fn rules_of_an_older_courier_are_drift_fixed_create_before_delete() {
    let b = backend().await;
    let rest = b.rest();
    let topic = courier_core::conformance::unique("old");
    let put = |path: String, body: String| {
        let rest = &rest;
        async move {
            let (status, text) = rest.put(&path, &body, false).await;
            assert_eq!(status, 201, "{path}: {text}");
        }
    };
    put(topic.clone(), entry("TopicDescription", "")).await;
    for s in ["f", "open"] {
        put(
            format!("{topic}/subscriptions/{s}"),
            entry("SubscriptionDescription", ""),
        )
        .await;
    }
    // What an older courier left: its filter alone on `f`, the catch-all on `open`.
    let rules = |s: &str| format!("{topic}/subscriptions/{s}/rules");
    put(
        format!("{}/courier-filter", rules("f")),
        sql_rule_entry("courier-filter", "(ce_type = 'A')"),
    )
    .await;
    assert_eq!(rest.delete(&format!("{}/$Default", rules("f"))).await, 200);

    let open = Source::subscription(&topic, "open");
    let refused = b.resubmit(&open, Message::new("x")).await.unwrap_err();
    assert!(
        matches!(refused, Error::InvalidTopology { .. })
            && refused.to_string().contains("courier provision"),
        "{refused}"
    );

    let mut f = SubscriptionSpec::new(&topic, "f");
    f.filter = Some(serde_json::from_value(serde_json::json!({"type": ["A"]})).unwrap());
    let t = Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![f, SubscriptionSpec::new(&topic, "open")],
        ..Topology::default()
    };
    let proxy = Proxy::start(b.upstream()).await;
    b.through(&proxy).provision(&t).await.unwrap();
    let changes: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|(m, p)| m != "GET" && p.contains("/rules/"))
        .map(|(m, p)| format!("{m} {}", p.split('?').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        changes,
        [
            format!("PUT {}/courier-filter", rules("f")),
            format!("PUT {}/courier-filter", rules("open")),
            format!("DELETE {}/$Default", rules("open")),
        ],
        "replaced in place; created, then the catch-all deleted"
    );
    let type_a =
        Filter::from_policy(&serde_json::from_value(serde_json::json!({"type": ["A"]})).unwrap())
            .unwrap();
    for (s, filter) in [("f", Some(&type_a)), ("open", None)] {
        let (status, xml) = rest.get(&format!("{}/courier-filter", rules(s))).await;
        assert_eq!(status, 200);
        assert_eq!(
            element(&xml, "SqlExpression").map(|x| x.replace("&apos;", "'")),
            Some(sql::rule_sql(filter, s)),
            "{xml}"
        );
        let (_, default) = rest.get(&format!("{}/$Default", rules(s))).await;
        assert!(
            !default.contains("<entry"),
            "no catch-all on {s}: {default}"
        );
    }
    assert!(b.provision(&t).await.unwrap().is_unchanged());

    // A message that is not addressed still reaches what its filter says.
    b.publish(
        &Destination::topic(&topic),
        Message::new("a").with_attribute("ce_type", "A"),
    )
    .await
    .unwrap();
    for s in ["f", "open"] {
        let d = b
            .receive_one(&Source::subscription(&topic, s), Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{s} receives it"));
        d.ack().await.unwrap();
    }
    b.resubmit(&open, Message::new("x"))
        .await
        .expect("now addressable");
}

/// Removing a filter replaces courier's rule in place with the address alone: the
/// subscription is never without a rule, and never gets a catch-all that would admit
/// the redrives of its siblings.
#[tokio::test]
async fn removing_a_filter_keeps_one_rule_with_the_address() {
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
    assert_eq!(changes, [format!("PUT {sub_path}/courier-filter")]);
    assert!(b.provision(&t).await.unwrap().is_unchanged());
}

/// A rule of the previous typed form (numeric conditions on the attribute itself, which a
/// string property never satisfies: "Subscription Rule SQL Filter Syntax" has no
/// conversion between strings and numbers) is drift: replaced in place by the rule that
/// reads the numeric shadow, after which numbers match again.
#[tokio::test]
async fn rules_of_the_previous_typed_form_are_drift() {
    let b = backend().await;
    let rest = b.rest();
    let topic = courier_core::conformance::unique("typed");
    let mut sub = SubscriptionSpec::new(&topic, "s");
    sub.filter = Some(
        serde_json::from_value(serde_json::json!({"amount": [{"numeric": [">=", 100]}]})).unwrap(),
    );
    let t = Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![sub],
        ..Topology::default()
    };
    b.provision(&t).await.unwrap();
    let rule = format!("{topic}/subscriptions/s/rules/courier-filter");
    let previous = "courier_to = 's' OR (courier_to IS NULL AND ((amount >= 100)))";
    let (status, text) = rest
        .put(&rule, &sql_rule_entry("courier-filter", previous), true)
        .await;
    assert_eq!(status, 200, "{text}");

    let report = b.provision(&t).await.unwrap();
    assert!(!report.is_unchanged(), "the previous form is drift");
    let (_, xml) = rest.get(&rule).await;
    let filter = Filter::from_policy(t.subscriptions[0].filter.as_ref().unwrap()).unwrap();
    assert_eq!(
        element(&xml, "SqlExpression").map(|x| x.replace("&apos;", "'").replace("&gt;", ">")),
        Some(sql::rule_sql(Some(&filter), "s"))
    );
    b.publish(
        &Destination::topic(&topic),
        Message::new("n").with_attribute("amount", "150"),
    )
    .await
    .unwrap();
    let d = b
        .receive_one(&Source::subscription(&topic, "s"), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("150 >= 100 matches the new rule");
    d.ack().await.unwrap();
}
