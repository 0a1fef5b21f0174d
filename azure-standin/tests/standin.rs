//! What only the local stand-in can show, and its documented choices where the service's
//! behaviour is not published (README, Azure section). Always against the stand-in.

mod common;

use std::time::Duration;

use common::{broker_properties, description, Namespace};
use courier_azure_standin::Options;
use reqwest::Method;

/// courier issue 10, item 14: expired locks are forgotten, so memory stays bounded.
#[tokio::test]
async fn expired_locks_are_forgotten() {
    let ns = Namespace::local(Options::default()).await;
    let q = ns
        .queue(
            "locks",
            "<LockDuration>PT5S</LockDuration><MaxDeliveryCount>100</MaxDeliveryCount>",
        )
        .await;
    for i in 0..20 {
        assert_eq!(ns.send(&q, &i.to_string(), None, &[]).await.status(), 201);
    }
    for _ in 0..20 {
        assert_eq!(ns.peek_lock(&q, 1).await.status(), 201);
    }
    let standin = ns.standin.as_ref().unwrap();
    assert_eq!(standin.held_locks(), 20);
    tokio::time::sleep(Duration::from_millis(5_600)).await;
    assert_eq!(
        standin.held_locks(),
        0,
        "swept without anyone reading the queue"
    );
}

/// Real namespaces hand out 64-bit sequence numbers; clients must not assume 32 bits
/// (courier issue 11, client defect 8).
#[tokio::test]
async fn sequence_numbers_can_start_beyond_32_bits() {
    let first = (1_i64 << 32) + 7;
    let ns = Namespace::local(Options::default().first_sequence_number(first)).await;
    let q = ns.queue("big", "").await;
    assert_eq!(ns.send(&q, "x", None, &[]).await.status(), 201);
    let got = ns.peek_lock(&q, 5).await;
    let p = broker_properties(&got);
    assert_eq!(p["SequenceNumber"].as_i64(), Some(first));
    assert_eq!(p["EnqueuedSequenceNumber"].as_i64(), Some(first));
    assert!(ns.lock_path(&got).contains(&format!("/messages/{first}/")));
}

/// HTTP field values are ASCII (RFC 9110); how the service decodes other bytes in a
/// custom property is not documented, so the stand-in refuses them (400) rather than guess
/// between UTF-8 and Latin-1 (courier issue 11, client defect 2).
#[tokio::test]
async fn non_ascii_property_bytes_are_refused() {
    let ns = Namespace::local(Options::default()).await;
    let q = ns.queue("ascii", "").await;
    let res = ns
        .request(Method::POST, &format!("{q}/messages"))
        .header(
            "city",
            reqwest::header::HeaderValue::from_bytes("\"Zürich\"".as_bytes()).unwrap(),
        )
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not ASCII"));
}

/// What the stand-in does not model is refused with 501 and says so — never accepted and
/// ignored: auto-forwarding, rule actions, entity authorization rules, other statuses.
#[tokio::test]
async fn unmodelled_features_are_refused_not_ignored() {
    let ns = Namespace::local(Options::default()).await;
    let cases = [
        ("forward", description("QueueDescription", "<ForwardTo>elsewhere</ForwardTo>")),
        ("disabled", description("QueueDescription", "<Status>Disabled</Status>")),
        (
            "anonymous",
            description("QueueDescription", "<IsAnonymousAccessible>true</IsAnonymousAccessible>"),
        ),
        (
            "filtering",
            description("TopicDescription", "<FilteringMessagesBeforePublishing>true</FilteringMessagesBeforePublishing>"),
        ),
        (
            "rules",
            description(
                "QueueDescription",
                "<AuthorizationRules><AuthorizationRule i:type=\"SharedAccessAuthorizationRule\"><KeyName>k</KeyName></AuthorizationRule></AuthorizationRules>",
            ),
        ),
    ];
    for (name, body) in cases {
        let res = ns.put(name, &body, false).await;
        assert_eq!(res.status(), 501, "{name}");
        assert!(res.text().await.unwrap().contains("not modelled"), "{name}");
    }
    let topic = ns.topic("t", "").await;
    let sub = ns.subscription(&topic, "s", "", None).await;
    let rule = format!(
        "<RuleDescription xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{}\"><Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter><Action i:type=\"SqlRuleAction\"><SqlExpression>SET a = 1</SqlExpression></Action></RuleDescription>",
        common::SB
    );
    let res = ns.put(&format!("{sub}/rules/act"), &rule, false).await;
    assert_eq!(res.status(), 501);
}

/// "Subscription Rule SQL Filter Syntax": without DeadLetteringOnFilterEvaluationExceptions
/// a message whose filter fails to evaluate does not reach the subscription at all.
#[tokio::test]
async fn filter_errors_are_dropped_without_dead_lettering() {
    let ns = Namespace::local(Options::default()).await;
    let topic = ns.topic("t", "").await;
    let filter = "<Filter i:type=\"SqlFilter\"><SqlExpression>n &gt; 1</SqlExpression></Filter>";
    let sub = ns
        .subscription(&topic, "s", "<DeadLetteringOnFilterEvaluationExceptions>false</DeadLetteringOnFilterEvaluationExceptions>", Some(filter))
        .await;
    assert_eq!(
        ns.send(&topic, "text", None, &[("n", "\"2\"")])
            .await
            .status(),
        201
    );
    assert_eq!(ns.receive_and_delete(&sub, 1).await.status(), 204);
    assert_eq!(
        ns.receive_and_delete(&format!("{sub}/$DeadLetterQueue"), 1)
            .await
            .status(),
        204
    );
}
