//! The runtime protocol over plain REST, against the stand-in or a real namespace
//! (`COURIER_TEST_AZURE_CONNECTION_STRING`). Each test names the page it follows.

mod common;

use common::{broker_properties, header, Namespace};
use reqwest::Method;

/// "Message Headers and Properties": a quoted value is a String (quotes removed, content as
/// is), unquoted true/false a Boolean, an integer an Int64, a floating-point number a
/// Double, a quoted RFC 2616 date a DateTime; received properties come back in the same
/// form.
#[tokio::test]
async fn custom_properties_are_typed_as_documented() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("props"), "").await;
    let res = ns
        .send(
            &q,
            "x",
            None,
            &[
                ("Priority", "\"High\""),
                ("Customer", "\"12345,ABC\""),
                ("Count", "42"),
                ("Price", "299.98"),
                ("Rush", "true"),
                ("Order-Time", "\"Fri, 04 Mar 2011 08:49:37 GMT\""),
            ],
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let got = ns.receive_and_delete(&q, 5).await;
    assert_eq!(got.status(), 200);
    assert_eq!(header(&got, "priority").as_deref(), Some("\"High\""));
    assert_eq!(header(&got, "customer").as_deref(), Some("\"12345,ABC\""));
    assert_eq!(header(&got, "count").as_deref(), Some("42"));
    assert_eq!(header(&got, "price").as_deref(), Some("299.98"));
    assert_eq!(header(&got, "rush").as_deref(), Some("true"));
    assert_eq!(
        header(&got, "order-time").as_deref(),
        Some("\"Fri, 04 Mar 2011 08:49:37 GMT\"")
    );
    ns.delete(&q).await;
}

/// "Message Headers and Properties": "If it is not surrounded with double quotes … otherwise,
/// the broker rejects the message."; Send Message: 400 Bad request.
#[tokio::test]
async fn unquoted_text_properties_are_rejected() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("unquoted"), "").await;
    for bad in ["High", "True", "Windows 7 Ultimate"] {
        let res = ns.send(&q, "x", None, &[("product", bad)]).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(
        ns.receive_and_delete(&q, 1).await.status(),
        204,
        "nothing was enqueued"
    );
    ns.delete(&q).await;
}

/// "Subscription Rule SQL Filter Syntax": operators bind as in C# (no conversion between
/// strings and numbers), property names are case-insensitive, `sys.`/`user.` scopes; a
/// filter evaluation error dead-letters the message when the subscription has
/// `DeadLetteringOnFilterEvaluationExceptions` ("Overview of Service Bus dead-letter
/// queues", errors while processing subscription rules).
#[tokio::test]
async fn sql_filters_use_the_services_typing() {
    let ns = Namespace::connect().await;
    let topic = ns.topic(&ns.unique("typing"), "").await;
    let numeric = "<Filter i:type=\"SqlFilter\"><SqlExpression>Amount &gt;= 100 AND user.REGION = 'eu' AND sys.Label = 'OrderCreated'</SqlExpression></Filter>";
    let sub = ns
        .subscription(&topic, "numeric", "<DeadLetteringOnFilterEvaluationExceptions>true</DeadLetteringOnFilterEvaluationExceptions>", Some(numeric))
        .await;
    let label = Some("{\"Label\":\"OrderCreated\"}");
    // A number, typed: matches.
    assert_eq!(
        ns.send(
            &topic,
            "typed",
            label,
            &[("amount", "150"), ("region", "\"eu\"")]
        )
        .await
        .status(),
        201
    );
    // A quoted number is a string: comparing it with a number is an evaluation error.
    assert_eq!(
        ns.send(
            &topic,
            "quoted",
            label,
            &[("amount", "\"150\""), ("region", "\"eu\"")]
        )
        .await
        .status(),
        201
    );
    // Below the bound: no match, not an error.
    assert_eq!(
        ns.send(
            &topic,
            "small",
            label,
            &[("amount", "5"), ("region", "\"eu\"")]
        )
        .await
        .status(),
        201
    );
    let got = ns.receive_and_delete(&sub, 5).await;
    assert_eq!(got.text().await.unwrap(), "typed");
    assert_eq!(ns.receive_and_delete(&sub, 1).await.status(), 204);
    let dead = ns
        .receive_and_delete(&format!("{sub}/$DeadLetterQueue"), 5)
        .await;
    assert_eq!(dead.status(), 200);
    assert!(
        header(&dead, "deadletterreason").is_some(),
        "the reason is an application property"
    );
    assert_eq!(dead.text().await.unwrap(), "quoted");
    ns.delete(&topic).await;
}

/// "Topic filters and actions": a CorrelationFilter matches on the system properties and
/// custom properties it names (not everything).
#[tokio::test]
async fn correlation_filters_are_evaluated() {
    let ns = Namespace::connect().await;
    let topic = ns.topic(&ns.unique("corr"), "").await;
    let filter = "<Filter i:type=\"CorrelationFilter\"><CorrelationId>c-1</CorrelationId><Properties><KeyValueOfstringanyType><Key>color</Key><Value xmlns:d6p1=\"http://www.w3.org/2001/XMLSchema\" i:type=\"d6p1:string\">red</Value></KeyValueOfstringanyType></Properties></Filter>";
    let sub = ns.subscription(&topic, "red", "", Some(filter)).await;
    let corr = Some("{\"CorrelationId\":\"c-1\"}");
    assert_eq!(
        ns.send(&topic, "match", corr, &[("color", "\"red\"")])
            .await
            .status(),
        201
    );
    assert_eq!(
        ns.send(&topic, "blue", corr, &[("color", "\"blue\"")])
            .await
            .status(),
        201
    );
    assert_eq!(
        ns.send(
            &topic,
            "other-id",
            Some("{\"CorrelationId\":\"c-2\"}"),
            &[("color", "\"red\"")]
        )
        .await
        .status(),
        201
    );
    let got = ns.receive_and_delete(&sub, 5).await;
    assert_eq!(got.text().await.unwrap(), "match");
    assert_eq!(ns.receive_and_delete(&sub, 1).await.status(), 204);
    ns.delete(&topic).await;
}

/// "Overview of Service Bus dead-letter queues": after MaxDeliveryCount deliveries the
/// message moves to `$DeadLetterQueue`, and `DeadLetterReason` /
/// `DeadLetterErrorDescription` are added as properties of the message — over REST,
/// custom property headers, not BrokerProperties.
#[tokio::test]
async fn dead_letter_reason_is_an_application_property() {
    let ns = Namespace::connect().await;
    let q = ns
        .queue(&ns.unique("dlq"), "<MaxDeliveryCount>1</MaxDeliveryCount>")
        .await;
    assert_eq!(ns.send(&q, "poison", None, &[]).await.status(), 201);
    let locked = ns.peek_lock(&q, 5).await;
    assert_eq!(locked.status(), 201);
    let unlock = ns
        .request(Method::PUT, &ns.lock_path(&locked))
        .send()
        .await
        .unwrap();
    assert_eq!(unlock.status(), 200);
    let dead = ns.peek_lock(&format!("{q}/$DeadLetterQueue"), 5).await;
    assert_eq!(dead.status(), 201);
    assert_eq!(
        header(&dead, "deadletterreason").as_deref(),
        Some("\"MaxDeliveryCountExceeded\"")
    );
    assert!(header(&dead, "deadlettererrordescription").is_some());
    let props = broker_properties(&dead);
    assert!(
        !props.contains_key("DeadLetterReason"),
        "not a broker property: {props:?}"
    );
    ns.delete(&q).await;
}

/// "Message Headers and Properties": DateTime headers are RFC 2616 dates, e.g.
/// "Sun, 06 Nov 1994 08:49:37 GMT"; BrokerProperties carries the documented members.
#[tokio::test]
async fn broker_properties_use_rfc_2616_dates() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("dates"), "").await;
    assert_eq!(
        ns.send(
            &q,
            "x",
            Some("{\"MessageId\":\"m-1\",\"Label\":\"L\"}"),
            &[]
        )
        .await
        .status(),
        201
    );
    let got = ns.peek_lock(&q, 5).await;
    assert_eq!(got.status(), 201);
    let p = broker_properties(&got);
    for key in ["LockedUntilUtc", "EnqueuedTimeUtc"] {
        let text = p[key].as_str().unwrap();
        assert!(text.ends_with(" GMT"), "{key}: {text}");
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
                .is_ok(),
            "{text}"
        );
    }
    assert_eq!(p["MessageId"], "m-1");
    assert_eq!(p["Label"], "L");
    assert_eq!(p["DeliveryCount"], 1);
    assert!(
        p["SequenceNumber"].is_i64() && p["LockToken"].is_string() && p["TimeToLive"].is_number()
    );
    let complete = ns
        .request(Method::DELETE, &ns.lock_path(&got))
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), 200);
    ns.delete(&q).await;
}

/// Send Message, Peek-Lock Message, Delete Message: 410 "Specified queue or topic doesn't
/// exist" / "Specified queue or subscription doesn't exist".
#[tokio::test]
async fn a_missing_entity_is_gone() {
    let ns = Namespace::connect().await;
    let missing = ns.unique("missing");
    assert_eq!(ns.send(&missing, "x", None, &[]).await.status(), 410);
    assert_eq!(ns.peek_lock(&missing, 0).await.status(), 410);
    assert_eq!(ns.receive_and_delete(&missing, 0).await.status(), 410);
    let lock = format!("{missing}/messages/1/{}", uuid::Uuid::new_v4());
    assert_eq!(
        ns.request(Method::DELETE, &lock)
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
    // An unknown lock on an existing queue is 404.
    let q = ns.queue(&ns.unique("locks"), "").await;
    let lock = format!("{q}/messages/1/{}", uuid::Uuid::new_v4());
    assert_eq!(
        ns.request(Method::DELETE, &lock)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    ns.delete(&q).await;
}

/// Send Message: 403 "Quota exceeded or message too large"; Service Bus quotas: 256 KB per
/// message in the Standard tier, properties included.
#[tokio::test]
async fn messages_over_the_tier_limit_are_refused() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("size"), "").await;
    let big = "x".repeat(300 * 1024);
    assert_eq!(ns.send(&q, &big, None, &[]).await.status(), 403);
    let fits = "x".repeat(200 * 1024);
    assert_eq!(ns.send(&q, &fits, None, &[]).await.status(), 201);
    ns.delete(&q).await;
}

/// "Message Headers and Properties": ScheduledEnqueueTimeUtc is a DateTime in the RFC 2616
/// form; the message is not delivered before that time.
#[tokio::test]
async fn scheduled_enqueue_time_in_the_documented_form() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("sched"), "").await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let rfc1123 = at
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let broker = format!("{{\"ScheduledEnqueueTimeUtc\":\"{rfc1123}\"}}");
    assert_eq!(ns.send(&q, "later", Some(&broker), &[]).await.status(), 201);
    assert_eq!(ns.receive_and_delete(&q, 1).await.status(), 204, "not yet");
    let got = ns.receive_and_delete(&q, 10).await;
    assert_eq!(got.status(), 200);
    assert!(time::OffsetDateTime::now_utc() >= at - time::Duration::seconds(1));
    ns.delete(&q).await;
}

/// "Message Headers and Properties": BrokerProperties {TimeToLive} is the number of seconds
/// of a TimeSpan; a value no TimeSpan holds is malformed ("If the value is malformed, an
/// appropriate HTTP status code is returned") — and never a crash (courier issue 10).
#[tokio::test]
async fn an_impossible_time_to_live_is_refused() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("ttl"), "").await;
    let res = ns.send(&q, "x", Some("{\"TimeToLive\":1e300}"), &[]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        ns.send(&q, "x", Some("{\"TimeToLive\":90}"), &[])
            .await
            .status(),
        201,
        "still serving"
    );
    let got = ns.receive_and_delete(&q, 5).await;
    assert_eq!(broker_properties(&got)["TimeToLive"], 90.0);
    ns.delete(&q).await;
}

/// "Subscription Rule SQL Filter Syntax": `%` and `_` are wildcards, and
/// `ESCAPE` makes the next one literal; quotas: a filter has at most 1,024 characters.
#[tokio::test]
async fn like_escape_and_filter_limits() {
    let ns = Namespace::connect().await;
    let topic = ns.topic(&ns.unique("like"), "").await;
    let filter = "<Filter i:type=\"SqlFilter\"><SqlExpression>region NOT LIKE 'test!_%' ESCAPE '!'</SqlExpression></Filter>";
    let sub = ns.subscription(&topic, "notest", "", Some(filter)).await;
    assert_eq!(
        ns.send(&topic, "tests-eu", None, &[("region", "\"tests-eu\"")])
            .await
            .status(),
        201
    );
    assert_eq!(
        ns.send(&topic, "test_eu", None, &[("region", "\"test_eu\"")])
            .await
            .status(),
        201
    );
    assert_eq!(
        ns.receive_and_delete(&sub, 5).await.text().await.unwrap(),
        "tests-eu"
    );
    assert_eq!(ns.receive_and_delete(&sub, 1).await.status(), 204);
    let deep = format!("{}1=1{}", "(".repeat(50_000), ")".repeat(50_000));
    let rule =
        format!("<Filter i:type=\"SqlFilter\"><SqlExpression>{deep}</SqlExpression></Filter>");
    assert_eq!(ns.rule(&sub, "deep", &rule, false).await.status(), 400);
    ns.delete(&topic).await;
}

/// "Duplicate detection": with RequiresDuplicateDetection, a MessageId seen within the
/// window is accepted and dropped.
#[tokio::test]
async fn duplicates_are_dropped_within_the_window() {
    let ns = Namespace::connect().await;
    let q = ns
        .queue(&ns.unique("dedup"), "<RequiresDuplicateDetection>true</RequiresDuplicateDetection><DuplicateDetectionHistoryTimeWindow>PT1M</DuplicateDetectionHistoryTimeWindow>")
        .await;
    for body in ["first", "again"] {
        assert_eq!(
            ns.send(&q, body, Some("{\"MessageId\":\"same\"}"), &[])
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        ns.receive_and_delete(&q, 5).await.text().await.unwrap(),
        "first"
    );
    assert_eq!(ns.receive_and_delete(&q, 1).await.status(), 204);
    ns.delete(&q).await;
}

/// Send Message Batch: a JSON array of Body, BrokerProperties and UserProperties; user
/// properties keep their JSON types.
#[tokio::test]
async fn batches_carry_typed_user_properties() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("batch"), "").await;
    let body = r#"[{"Body":"one","BrokerProperties":{"Label":"M1"},"UserProperties":{"n":1,"s":"a","b":true}},{"Body":"two"}]"#;
    let res = ns
        .request(Method::POST, &format!("{q}/messages"))
        .header("Content-Type", "application/vnd.microsoft.servicebus.json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let one = ns.receive_and_delete(&q, 5).await;
    assert_eq!(header(&one, "n").as_deref(), Some("1"));
    assert_eq!(header(&one, "s").as_deref(), Some("\"a\""));
    assert_eq!(header(&one, "b").as_deref(), Some("true"));
    assert_eq!(broker_properties(&one)["Label"], "M1");
    assert_eq!(one.text().await.unwrap(), "one");
    assert_eq!(
        ns.receive_and_delete(&q, 5).await.text().await.unwrap(),
        "two"
    );
    ns.delete(&q).await;
}

/// "Overview of Service Bus dead-letter queues", Time to live: with dead-lettering on
/// expiration, an expired message moves to the dead-letter queue with reason
/// `TTLExpiredException`.
#[tokio::test]
async fn expired_messages_are_dead_lettered_when_asked() {
    let ns = Namespace::connect().await;
    let q = ns
        .queue(
            &ns.unique("expiry"),
            "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>",
        )
        .await;
    assert_eq!(
        ns.send(&q, "short-lived", Some("{\"TimeToLive\":1}"), &[])
            .await
            .status(),
        201
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(ns.receive_and_delete(&q, 1).await.status(), 204, "expired");
    let dead = ns
        .receive_and_delete(&format!("{q}/$DeadLetterQueue"), 10)
        .await;
    assert_eq!(dead.status(), 200);
    assert_eq!(
        header(&dead, "deadletterreason").as_deref(),
        Some("\"TTLExpiredException\"")
    );
    ns.delete(&q).await;
}
