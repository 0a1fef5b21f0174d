//! Sending as Service Bus REST documents it: typed custom properties, values the service
//! reads as they were meant, single and batch sends that make the same message, errors by
//! status. Against the stand-in, or a real namespace with
//! `COURIER_TEST_AZURE_CONNECTION_STRING`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use courier_azure::AzureBroker;
use courier_core::config::AzureConfig;
use courier_core::{ConsumerExt, Destination, Error, Message, Publisher, Secret, Source};
use support::{backend, Proxy};

/// Issue 9: a batch to an entity that does not exist fails whole, typed.
#[tokio::test]
async fn publish_batch_to_a_missing_entity_is_not_found() {
    let b = backend().await;
    let missing = courier_core::conformance::unique("missing");
    for dest in [Destination::queue(&missing), Destination::topic(&missing)] {
        let res = b
            .publish_batch(&dest, vec![Message::new("a"), Message::new("b")])
            .await;
        assert!(
            matches!(&res, Err(e) if e.is_not_found()),
            "{dest}: {res:?}"
        );
    }
}

/// Headers that are HTTP or broker plumbing, not the message's custom properties.
const PLUMBING: &[&str] = &[
    "brokerproperties",
    "location",
    "date",
    "content-length",
    "server",
    "transfer-encoding",
    "connection",
    "strict-transport-security",
];

/// Broker properties the service sets per delivery.
const PER_DELIVERY: &[&str] = &[
    "MessageId",
    "SequenceNumber",
    "EnqueuedSequenceNumber",
    "EnqueuedTimeUtc",
    "LockToken",
    "LockedUntilUtc",
    "DeliveryCount",
    "State",
];

/// Issue 11, defect 7: "Send Message" and "Send Message Batch" must put the same message
/// on the service, the `courier` property and every user property included.
#[tokio::test]
async fn single_and_batch_sends_make_the_same_message() {
    let b = backend().await;
    let q = b.queue("same").await;
    let event = courier_core::Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    )
    .with_attribute("amount", "150")
    .with_attribute("price", "299.98")
    .with_attribute("Region", "eu-west")
    .with_attribute("quote", r#"say "hi" \o/"#)
    .to_message()
    .unwrap()
    .with_correlation_id("corr-1");
    let message = |id: &str| event.clone().with_message_id(id);
    b.publish(&Destination::queue(&q), message("single"))
        .await
        .unwrap();
    let sent = b
        .publish_batch(&Destination::queue(&q), vec![message("batch")])
        .await
        .unwrap();
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    let rest = b.rest();
    let mut seen = BTreeMap::new();
    for _ in 0..2 {
        let raw = rest.peek_lock(&q, Duration::from_secs(5)).await;
        assert_eq!(raw.status, 201, "{raw:?}");
        let id = raw.broker_properties()["MessageId"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut broker = raw.broker_properties();
        broker.retain(|k, _| !PER_DELIVERY.contains(&k.as_str()));
        let mut headers = raw.headers.clone();
        headers.retain(|k, _| !PLUMBING.contains(&k.as_str()));
        assert_eq!(rest.complete(&raw).await, 200);
        seen.insert(id, (headers, broker, raw.body));
    }
    assert_eq!(
        seen["single"], seen["batch"],
        "the same properties, broker properties and body"
    );
    let (headers, _, _) = &seen["single"];
    assert!(headers.contains_key("courier"), "{headers:?}");
    assert_eq!(headers["amount"], "\"150\"", "a string: {headers:?}");
    assert_eq!(
        headers["courier_num_amount"], "150.0",
        "its numeric shadow, a Double: {headers:?}"
    );
    assert_eq!(headers["courier_num_price"], "299.98", "{headers:?}");
    assert_eq!(
        headers["quote"], r#""say "hi" \o/""#,
        "quoted, content as is"
    );
}

/// "Send Message": 403 is "Quota exceeded or message too large" — not an authorization
/// failure.
#[tokio::test]
async fn a_403_on_send_is_quota_exceeded() {
    let b = backend().await;
    let q = b.queue("quota").await;
    let proxy = Proxy::start(b.upstream()).await;
    proxy.inject(|m, p| m == "POST" && p.contains("/messages"), 403, &[], 2);
    let via = b.through(&proxy);
    let err = via
        .publish(&Destination::queue(&q), Message::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded { .. }), "{err:?}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the HTTP answer is kept"
    );
    let res = via
        .publish_batch(&Destination::queue(&q), vec![Message::new("y")])
        .await
        .unwrap();
    assert!(
        matches!(
            res[0].as_ref().map_err(Error::inner),
            Err(Error::QuotaExceeded { .. })
        ),
        "{res:?}"
    );
}

/// Throttling (429/503 with `Retry-After`) is transient and says when to come back.
#[tokio::test]
async fn throttling_is_transient_and_says_when_to_retry() {
    let b = backend().await;
    let q = b.queue("busy").await;
    let proxy = Proxy::start(b.upstream()).await;
    proxy.inject(
        |m, p| m == "POST" && p.contains("/messages"),
        503,
        &[("retry-after", "7")],
        1,
    );
    proxy.inject(
        |m, p| m == "POST" && p.contains("/messages"),
        429,
        &[("retry-after", "3")],
        1,
    );
    let via = b.through(&proxy);
    for expected in [7, 3] {
        let err = via
            .publish(&Destination::queue(&q), Message::new("x"))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(expected)));
    }
}

/// Issue 11, defect 1: values that are numbers also travel as numbers (a Double shadow;
/// "Message Headers and Properties": an unquoted floating-point number is a Double), so a
/// numeric filter ("Subscription Rule SQL Filter Syntax") compares numbers and matches,
/// instead of failing on a string and dead-lettering; string conditions still compare
/// the text (`007` equals `"007"` only).
#[tokio::test]
async fn numeric_filters_match_numbers() {
    let b = backend().await;
    let topic = b
        .filtered_subscription(
            "num",
            serde_json::json!({"amount": [{"numeric": [">=", 100]}], "code": ["007", "x"]}),
        )
        .await;
    let send = |amount: &str, code: &str| {
        Message::new(format!("{amount}/{code}"))
            .with_attribute("amount", amount)
            .with_attribute("code", code)
    };
    b.publish(&Destination::topic(&topic), send("150", "007"))
        .await
        .unwrap();
    b.publish_batch(
        &Destination::topic(&topic),
        vec![send("99.5", "x"), send("100.25", "x"), send("150", "y")],
    )
    .await
    .unwrap();
    let sub = Source::subscription(&topic, "s");
    let mut bodies = Vec::new();
    while let Some(d) = b.receive_one(&sub, Duration::from_secs(3)).await.unwrap() {
        bodies.push(String::from_utf8(d.message().body.clone()).unwrap());
        d.ack().await.unwrap();
    }
    bodies.sort();
    assert_eq!(bodies, ["100.25/x", "150/007"]);
    assert!(
        b.receive_one(&sub.dead_letter(), Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "nothing failed the filter"
    );
}

/// Whatever an attribute's value looks like, a Service Bus subscription selects what
/// courier's own matching (the memory broker) selects: string conditions on values that
/// look like numbers, numeric conditions on values that do not, and one attribute compared
/// with numbers and strings at once. "Subscription Rule SQL Filter Syntax" has no
/// conversion between strings and numbers (a mismatch is a `FilterException`, and the
/// message is dead-lettered), so nothing may reach a dead-letter queue either.
#[tokio::test]
async fn filters_select_what_memory_selects_whatever_the_values_look_like() {
    use courier_core::filter::Filter;
    use courier_core::topology::{SubscriptionSpec, TopicSpec};

    let b = backend().await;
    let topic = courier_core::conformance::unique("types");
    let policies = [
        (
            "not-te",
            serde_json::json!({"region": [{"anything-but": {"prefix": "te"}}]}),
        ),
        (
            "not-5",
            serde_json::json!({"region": [{"anything-but": 5}]}),
        ),
        ("prefix-5", serde_json::json!({"region": [{"prefix": "5"}]})),
        ("mixed", serde_json::json!({"code": ["007", 42]})),
        (
            "range",
            serde_json::json!({"code": [{"numeric": [">", 5]}]}),
        ),
    ];
    let subscriptions = policies
        .iter()
        .map(|(name, policy)| {
            let mut s = SubscriptionSpec::new(&topic, *name);
            s.filter = Some(serde_json::from_value(policy.clone()).unwrap());
            s
        })
        .collect();
    b.provisioned(courier_core::Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions,
        ..Default::default()
    })
    .await;
    let messages = [("5", "42"), ("eu", "007"), ("55", "7"), ("te", "x")];
    let message = |(region, code): (&str, &str), how: &str| {
        Message::new(format!("{region}/{code}/{how}"))
            .with_attribute("region", region)
            .with_attribute("code", code)
    };
    for m in messages {
        b.publish(&Destination::topic(&topic), message(m, "single"))
            .await
            .unwrap();
    }
    b.publish_batch(
        &Destination::topic(&topic),
        messages.iter().map(|m| message(*m, "batch")).collect(),
    )
    .await
    .unwrap();
    for (name, policy) in &policies {
        let filter = Filter::from_policy(&serde_json::from_value(policy.clone()).unwrap()).unwrap();
        let mut expected: Vec<String> = Vec::new();
        for (region, code) in messages {
            let attributes = BTreeMap::from([
                ("region".to_owned(), region.to_owned()),
                ("code".to_owned(), code.to_owned()),
            ]);
            if filter.matches(&attributes) {
                for how in ["batch", "single"] {
                    expected.push(format!("{region}/{code}/{how}"));
                }
            }
        }
        expected.sort();
        let sub = Source::subscription(&topic, *name);
        let mut got = Vec::new();
        while let Some(d) = b.receive_one(&sub, Duration::from_secs(2)).await.unwrap() {
            assert!(!d
                .message()
                .attributes
                .keys()
                .any(|k| k.starts_with("courier_num_")));
            got.push(String::from_utf8(d.message().body.clone()).unwrap());
            d.ack().await.unwrap();
        }
        got.sort();
        assert_eq!(got, expected, "subscription {name} ({policy})");
        let dead = b
            .receive_one(&sub.dead_letter(), Duration::from_millis(200))
            .await
            .unwrap();
        assert!(
            dead.is_none(),
            "{name}: {:?} was dead-lettered",
            dead.map(|d| d.message().attributes.clone())
        );
    }
    // The cases the brief names, spelled out.
    let expected_of = |name: &str| -> Vec<&str> {
        match name {
            "not-te" => vec!["5", "eu", "55"],
            "not-5" => vec!["eu", "55", "te"],
            "prefix-5" => vec!["5", "55"],
            "mixed" => vec!["5", "eu"],
            // `007` is the number 7 to a numeric condition.
            _ => vec!["5", "eu", "55"],
        }
    };
    for (name, policy) in &policies {
        let filter = Filter::from_policy(&serde_json::from_value(policy.clone()).unwrap()).unwrap();
        let selected: Vec<&str> = messages
            .iter()
            .filter(|(region, code)| {
                filter.matches(&BTreeMap::from([
                    ("region".to_owned(), (*region).to_owned()),
                    ("code".to_owned(), (*code).to_owned()),
                ]))
            })
            .map(|(region, _)| *region)
            .collect();
        assert_eq!(selected, expected_of(name), "memory on {name}");
    }
}

/// Issue 10, item 4: `_` and `%` in a prefix are literal characters, so `anything-but:
/// {prefix: test_}` keeps `tests-eu` as memory and SNS do ("Subscription Rule SQL Filter
/// Syntax": `LIKE … ESCAPE`).
#[tokio::test]
async fn prefixes_with_wildcard_characters_match_literally() {
    let b = backend().await;
    let topic = b
        .filtered_subscription(
            "like",
            serde_json::json!({"env": [{"anything-but": {"prefix": "test_"}}], "tag": [{"prefix": "50%"}]}),
        )
        .await;
    for (env, tag) in [
        ("tests-eu", "50%off"),
        ("test_1", "50%off"),
        ("prod", "50x"),
    ] {
        b.publish(
            &Destination::topic(&topic),
            Message::new(format!("{env}/{tag}"))
                .with_attribute("env", env)
                .with_attribute("tag", tag),
        )
        .await
        .unwrap();
    }
    let sub = Source::subscription(&topic, "s");
    let mut got = Vec::new();
    while let Some(d) = b.receive_one(&sub, Duration::from_secs(3)).await.unwrap() {
        got.push(String::from_utf8(d.message().body.clone()).unwrap());
        d.ack().await.unwrap();
    }
    assert_eq!(got, ["tests-eu/50%off"]);
}

/// Issue 11, defect 2 ("Message Headers and Properties": a value surrounded with double
/// quotes is a string, the quotes removed and the content taken as is): `city = 'Zürich'`
/// and values with `"` or `\` match what was sent. What a header cannot
/// carry (non-ASCII) goes in the JSON of a batch, where it can.
#[tokio::test]
async fn values_match_filters_as_they_were_sent() {
    let b = backend().await;
    let quote = r#"say "hi" \o/"#;
    let topic = b
        .filtered_subscription(
            "text",
            serde_json::json!({"city": ["Zürich"], "quote": [quote]}),
        )
        .await;
    let m = |body: &str| {
        Message::new(body.to_owned())
            .with_attribute("city", "Zürich")
            .with_attribute("quote", quote)
    };
    b.publish(&Destination::topic(&topic), m("single"))
        .await
        .unwrap();
    b.publish_batch(&Destination::topic(&topic), vec![m("batch")])
        .await
        .unwrap();
    let sub = Source::subscription(&topic, "s");
    let mut got = Vec::new();
    while let Some(d) = b.receive_one(&sub, Duration::from_secs(3)).await.unwrap() {
        assert_eq!(d.message().attributes["city"], "Zürich");
        assert_eq!(d.message().attributes["quote"], quote);
        got.push(String::from_utf8(d.message().body.clone()).unwrap());
        d.ack().await.unwrap();
    }
    got.sort();
    assert_eq!(got, ["batch", "single"]);

    // ASCII values travel as headers ("Send Message"): `"` and `\` inside the quotes are
    // content, not escapes, so the filter sees the value as sent.
    let topic = b
        .filtered_subscription("hdr", serde_json::json!({"quote": [quote]}))
        .await;
    b.publish(
        &Destination::topic(&topic),
        Message::new("header").with_attribute("quote", quote),
    )
    .await
    .unwrap();
    let d = b
        .receive_one(&Source::subscription(&topic, "s"), Duration::from_secs(3))
        .await
        .unwrap()
        .expect("the filter matches the header's content as sent");
    assert_eq!(d.message().attributes["quote"], quote);
    d.ack().await.unwrap();
}

fn config(endpoint: &str, allow: bool) -> AzureConfig {
    AzureConfig {
        connection_string: Some(Secret::new(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0",
        )),
        endpoint: Some(endpoint.to_owned()),
        allow_insecure_endpoint: allow,
        ..AzureConfig::default()
    }
}

/// Issue 10, item 13: a SAS token is a bearer credential; plain `http://` to another host
/// sends it in clear, so it is refused unless explicitly allowed.
#[test]
fn an_insecure_endpoint_is_refused_unless_allowed() {
    let err = AzureBroker::connect(&config("http://192.0.2.7:8080", false)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        text.contains("allow_insecure_endpoint") && text.contains("192.0.2.7"),
        "{text}"
    );
    assert!(!text.contains("c2VjcmV0"), "no key in errors: {text}");
    for fine in [
        ("http://192.0.2.7:8080", true),
        ("http://127.0.0.1:8080", false),
        ("http://[::1]:8080", false),
        ("http://localhost:8080", false),
        ("https://sb.example.com", false),
    ] {
        AzureBroker::connect(&config(fine.0, fine.1)).unwrap_or_else(|e| panic!("{fine:?}: {e}"));
    }
}
