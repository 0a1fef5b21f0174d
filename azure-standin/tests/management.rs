//! Entity management over Atom, against the stand-in or a real namespace
//! (`COURIER_TEST_AZURE_CONNECTION_STRING`). Each test names the page or SDK source it
//! follows; the answers' shape is the one the service recorded in azure-sdk-for-js's test
//! fixtures and that azure-servicebus (`management/_generated/models`) deserializes.

mod common;

use common::{description, entry, Namespace, ATOM};
use reqwest::Method;

async fn get(ns: &Namespace, path: &str) -> (u16, String, String) {
    let res = ns
        .request(Method::GET, &format!("{path}?api-version=2021-05"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

/// The children (local names) of the first element named `name` (any namespace).
fn children_of(xml: &str, name: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let node = doc
        .descendants()
        .find(|n| n.tag_name().name() == name)
        .unwrap_or_else(|| panic!("no {name} in {xml}"));
    node.children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name().to_owned())
        .collect()
}

fn text_of(xml: &str, name: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text().map(str::to_owned))
}

/// Create Queue / Get Queue: 201 then 200 with `Content-Type:
/// application/atom+xml;type=entry;charset=utf-8` and an Atom entry whose title is the
/// queue's name, with id, updated, a self link and the QueueDescription (only elements of
/// its schema, in the recorded order: azure-servicebus `MODEL_CLASS_ATTRIBUTES`).
#[tokio::test]
async fn entries_have_the_services_shape() {
    let ns = Namespace::connect().await;
    let name = ns.unique("shape");
    let res = ns
        .put(
            &name,
            &description(
                "QueueDescription",
                "<LockDuration>PT45S</LockDuration><MaxDeliveryCount>7</MaxDeliveryCount>",
            ),
            false,
        )
        .await;
    assert_eq!(res.status(), 201);
    let (status, ct, xml) = get(&ns, &name).await;
    assert_eq!(status, 200);
    assert!(
        ct.starts_with("application/atom+xml;type=entry;charset=utf-8"),
        "{ct}"
    );
    let entry_children = children_of(&xml, "entry");
    for wanted in ["id", "title", "updated", "link", "content"] {
        assert!(
            entry_children.iter().any(|c| c == wanted),
            "{wanted} in {entry_children:?}"
        );
    }
    assert_eq!(text_of(&xml, "title").as_deref(), Some(name.as_str()));
    assert_eq!(text_of(&xml, "LockDuration").as_deref(), Some("PT45S"));
    assert_eq!(text_of(&xml, "MaxDeliveryCount").as_deref(), Some("7"));
    let elements = children_of(&xml, "QueueDescription");
    let order = [
        "LockDuration",
        "MaxSizeInMegabytes",
        "RequiresDuplicateDetection",
        "RequiresSession",
        "DefaultMessageTimeToLive",
        "DeadLetteringOnMessageExpiration",
        "DuplicateDetectionHistoryTimeWindow",
        "MaxDeliveryCount",
        "EnableBatchedOperations",
        "SizeInBytes",
        "MessageCount",
        "IsAnonymousAccessible",
        "AuthorizationRules",
        "Status",
        "CreatedAt",
        "UpdatedAt",
        "AccessedAt",
        "SupportOrdering",
        "CountDetails",
        "AutoDeleteOnIdle",
        "EnablePartitioning",
        "EntityAvailabilityStatus",
        "EnableExpress",
        "ForwardTo",
        "UserMetadata",
        "ForwardDeadLetteredMessagesTo",
        "MaxMessageSizeInKilobytes",
    ];
    let positions: Vec<usize> = elements
        .iter()
        .map(|e| {
            order
                .iter()
                .position(|o| o == e)
                .unwrap_or_else(|| panic!("{e} is not in the schema"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "schema order: {elements:?}"
    );
    ns.delete(&name).await;
}

/// Get Queue of a missing entity: the service answers 200 with an empty feed (no entry),
/// which azure-servicebus turns into ResourceNotFoundError (`get_queue`: "if not
/// entry.content").
#[tokio::test]
async fn a_missing_entity_is_an_empty_feed() {
    let ns = Namespace::connect().await;
    let (status, _, xml) = get(&ns, &ns.unique("nothing")).await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "feed");
    assert!(children_of(&xml, "feed").iter().all(|c| c != "entry"));
    let missing = ns.unique("nothing");
    let res = ns
        .request(Method::DELETE, &format!("{missing}?api-version=2021-05"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "Delete Queue of a missing entity");
}

/// Descriptions are read as XML in the schema's order: out-of-order, unknown or duplicate
/// elements, and bodies without the Atom entry/content wrapper or the Service Bus
/// namespace are refused with 400 (courier issue 11). The SDKs note that the tag sequence
/// matters to the service, which ignores a misordered element (azure-sdk-for-js
/// `queueResourceSerializer.ts`: a misordered ForwardTo "appeared to be set" but was not
/// applied); the stand-in refuses it instead so that the defect shows — a deliberate
/// departure, so this test runs on the stand-in only.
#[tokio::test]
async fn malformed_descriptions_are_refused() {
    let ns = Namespace::local(Default::default()).await;
    let bad = [
        (
            "out of order",
            entry(&description(
                "QueueDescription",
                "<MaxDeliveryCount>5</MaxDeliveryCount><LockDuration>PT30S</LockDuration>",
            )),
        ),
        (
            "unknown",
            entry(&description("QueueDescription", "<Colour>blue</Colour>")),
        ),
        (
            "duplicate",
            entry(&description(
                "QueueDescription",
                "<LockDuration>PT30S</LockDuration><LockDuration>PT40S</LockDuration>",
            )),
        ),
        (
            "bad value",
            entry(&description(
                "QueueDescription",
                "<MaxDeliveryCount>many</MaxDeliveryCount>",
            )),
        ),
        (
            "no wrapper",
            description("QueueDescription", "<LockDuration>PT30S</LockDuration>"),
        ),
        (
            "no content",
            format!(
                "<entry xmlns=\"{ATOM}\">{}</entry>",
                description("QueueDescription", "")
            ),
        ),
        (
            "no namespace",
            entry("<QueueDescription><LockDuration>PT30S</LockDuration></QueueDescription>"),
        ),
        (
            "wrong atom namespace",
            format!(
                "<entry><content type=\"application/xml\">{}</content></entry>",
                description("QueueDescription", "")
            ),
        ),
        ("not xml", "<entry".to_owned()),
        (
            "a DTD",
            format!(
                "<!DOCTYPE x [<!ENTITY a \"b\">]>{}",
                entry(&description("QueueDescription", ""))
            ),
        ),
        (
            "lock too long",
            entry(&description(
                "QueueDescription",
                "<LockDuration>PT6M</LockDuration>",
            )),
        ),
    ];
    for (what, body) in bad {
        let name = ns.unique("bad");
        let res = ns
            .request(Method::PUT, &format!("{name}?api-version=2021-05"))
            .header(
                "Content-Type",
                "application/atom+xml;type=entry;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{what}: {}", res.text().await.unwrap());
        assert!(
            !get(&ns, &name).await.2.contains("<entry"),
            "{what}: nothing created"
        );
    }
}

/// `$Resources/Queues`, `$Resources/Topics`, `{topic}/Subscriptions`, `…/Rules`: Atom feeds
/// of entries, paged with `$skip`/`$top` and a `next` link (azure-servicebus
/// `list_queues`, `get_next_template`).
#[tokio::test]
async fn entities_are_listed_in_feeds() {
    let ns = Namespace::local(Default::default()).await;
    for i in 0..3 {
        ns.queue(&format!("q{i}"), "").await;
    }
    let topic = ns.topic("t", "").await;
    ns.subscription(&topic, "s1", "", None).await;
    ns.subscription(&topic, "s2", "", None).await;
    let feed = |path: &'static str| {
        let ns = &ns;
        async move {
            let (status, ct, xml) = get(ns, path).await;
            assert_eq!(status, 200, "{path}");
            assert!(ct.starts_with("application/atom+xml;type=feed"), "{ct}");
            xml
        }
    };
    let titles = |xml: &str| -> Vec<String> {
        let doc = roxmltree::Document::parse(xml).unwrap();
        doc.descendants()
            .filter(|n| n.tag_name().name() == "entry")
            .map(|e| {
                e.children()
                    .find(|c| c.tag_name().name() == "title")
                    .unwrap()
                    .text()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(titles(&feed("$Resources/queues").await), ["q0", "q1", "q2"]);
    assert_eq!(titles(&feed("$Resources/topics").await), ["t"]);
    assert_eq!(titles(&feed("t/subscriptions").await), ["s1", "s2"]);
    assert_eq!(
        titles(&feed("t/subscriptions/s1/rules").await),
        ["$Default"]
    );
    let page = ns
        .request(
            Method::GET,
            "$Resources/queues?$skip=1&$top=1&api-version=2021-05",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(titles(&page), ["q1"]);
    assert!(page.contains("rel=\"next\""), "{page}");
}

/// Create Rule, then PUT with `If-Match: *`: an update (200), with the new filter; without
/// it, 409 for an existing rule.
#[tokio::test]
async fn rules_are_created_and_updated() {
    let ns = Namespace::connect().await;
    let topic = ns.topic(&ns.unique("rules"), "").await;
    let sub = ns.subscription(&topic, "s", "", None).await;
    let sql = |e: &str| {
        format!("<Filter i:type=\"SqlFilter\"><SqlExpression>{e}</SqlExpression></Filter>")
    };
    assert_eq!(ns.rule(&sub, "r", &sql("a = 1"), false).await.status(), 201);
    assert_eq!(ns.rule(&sub, "r", &sql("a = 2"), false).await.status(), 409);
    let res = ns.rule(&sub, "r", &sql("a = 2"), true).await;
    assert_eq!(res.status(), 200);
    let (_, _, xml) = get(&ns, &format!("{sub}/rules/r")).await;
    assert_eq!(text_of(&xml, "SqlExpression").as_deref(), Some("a = 2"));
    assert_eq!(text_of(&xml, "title").as_deref(), Some("r"));
    assert_eq!(
        ns.rule(&sub, "bad", &sql("a = "), false).await.status(),
        400
    );
    ns.delete(&topic).await;
}

/// Update Queue: the body is the whole description — elements left out revert to their
/// defaults — and RequiresSession, RequiresDuplicateDetection and partitioning cannot
/// change ("Service Bus Resource Manager exceptions", 40000).
#[tokio::test]
async fn updates_replace_the_description() {
    let ns = Namespace::connect().await;
    let name = ns
        .queue(
            &ns.unique("update"),
            "<LockDuration>PT45S</LockDuration><MaxDeliveryCount>7</MaxDeliveryCount>",
        )
        .await;
    let res = ns
        .put(
            &name,
            &description("QueueDescription", "<MaxDeliveryCount>3</MaxDeliveryCount>"),
            true,
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, _, xml) = get(&ns, &name).await;
    assert_eq!(text_of(&xml, "MaxDeliveryCount").as_deref(), Some("3"));
    assert_eq!(
        text_of(&xml, "LockDuration").as_deref(),
        Some("PT1M"),
        "reverted to the default"
    );
    let res = ns
        .put(
            &name,
            &description(
                "QueueDescription",
                "<RequiresSession>true</RequiresSession>",
            ),
            true,
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = ns
        .put(
            &ns.unique("absent"),
            &description("QueueDescription", ""),
            true,
        )
        .await;
    assert_eq!(res.status(), 404, "an update of nothing");
    ns.delete(&name).await;
}

/// Create Subscription: a new subscription has the `$Default` rule (TrueFilter, 1=1) unless
/// the description brings a DefaultRuleDescription; its topic must exist.
#[tokio::test]
async fn subscriptions_start_with_a_default_rule() {
    let ns = Namespace::connect().await;
    let topic = ns.topic(&ns.unique("subs"), "").await;
    let sub = ns.subscription(&topic, "s", "", None).await;
    let (_, _, xml) = get(&ns, &format!("{sub}/rules/$Default")).await;
    assert!(xml.contains("TrueFilter") && xml.contains("1=1"), "{xml}");
    let with_rule = description(
        "SubscriptionDescription",
        "<DefaultRuleDescription><Filter i:type=\"SqlFilter\"><SqlExpression>x = 'y'</SqlExpression></Filter><Name>only-y</Name></DefaultRuleDescription>",
    );
    let res = ns
        .put(&format!("{topic}/subscriptions/custom"), &with_rule, false)
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let (_, _, xml) = get(&ns, &format!("{topic}/subscriptions/custom/rules/only-y")).await;
    assert_eq!(text_of(&xml, "SqlExpression").as_deref(), Some("x = 'y'"));
    let orphan = ns
        .put(
            &format!("{}/subscriptions/s", ns.unique("no-topic")),
            &description("SubscriptionDescription", ""),
            false,
        )
        .await;
    assert_eq!(orphan.status(), 404);
    ns.delete(&topic).await;
}
