use super::*;

/// A "Get Queue" answer shaped as the service writes it (Atom entry, description with
/// read-only elements, an authorization rule, count details in their own namespace).
const GOT: &str = r#"<entry xml:base="https://ns.servicebus.windows.net/$Resources/queues?api-version=2017-04" xmlns="http://www.w3.org/2005/Atom"><id>https://ns.servicebus.windows.net/q?api-version=2017-04</id><title type="text">q</title><published>2024-01-01T00:00:00Z</published><updated>2024-01-02T00:00:00Z</updated><author><name>ns</name></author><link rel="self" href="https://ns.servicebus.windows.net/q?api-version=2017-04"/><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><LockDuration>PT1M</LockDuration><MaxSizeInMegabytes>1024</MaxSizeInMegabytes><RequiresDuplicateDetection>false</RequiresDuplicateDetection><RequiresSession>true</RequiresSession><DefaultMessageTimeToLive>P10675199DT2H48M5.4775807S</DefaultMessageTimeToLive><DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow><MaxDeliveryCount>10</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations><SizeInBytes>0</SizeInBytes><MessageCount>0</MessageCount><AuthorizationRules><AuthorizationRule i:type="SharedAccessAuthorizationRule"><ClaimType>SharedAccessKey</ClaimType><ClaimValue>None</ClaimValue><Rights><AccessRights>Listen</AccessRights></Rights><KeyName>listen</KeyName><PrimaryKey>a&amp;b</PrimaryKey></AuthorizationRule></AuthorizationRules><Status>Active</Status><CreatedAt>2024-01-01T00:00:00Z</CreatedAt><UpdatedAt>2024-01-02T00:00:00Z</UpdatedAt><AccessedAt>0001-01-01T00:00:00Z</AccessedAt><SupportOrdering>true</SupportOrdering><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>0</d2p1:ActiveMessageCount></CountDetails><AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle><EnablePartitioning>true</EnablePartitioning><EntityAvailabilityStatus>Available</EntityAvailabilityStatus><EnableExpress>false</EnableExpress><UserMetadata>keep me</UserMetadata></QueueDescription></content></entry>"#;

fn element_names(entry: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(entry).expect("well-formed");
    let d = doc
        .descendants()
        .find(|n| n.has_tag_name((SERVICE_BUS_NS, "QueueDescription")))
        .expect("a QueueDescription in the service's namespace");
    d.children()
        .filter(|c| c.is_element())
        .map(|c| {
            assert_eq!(c.tag_name().namespace(), Some(SERVICE_BUS_NS), "{c:?}");
            c.tag_name().name().to_owned()
        })
        .collect()
}

#[test]
fn an_update_sends_the_whole_description_in_schema_order() {
    let mut d = Description::parse(DescriptionKind::Queue, GOT).unwrap();
    assert_eq!(d.value("LockDuration"), Some("PT1M"));
    d.set("MaxDeliveryCount", "5");
    d.set("LockDuration", "PT30S");
    d.set("DeadLetteringOnMessageExpiration", "true"); // missing from the answer
    let sent = d.to_entry();
    let names = element_names(&sent);
    let expected: Vec<&str> = QUEUE
        .iter()
        .copied()
        .filter(|n| {
            *n == "DeadLetteringOnMessageExpiration"
                || GOT.contains(&format!("<{n}>"))
                || GOT.contains(&format!("<{n} "))
        })
        .collect();
    assert_eq!(names, expected, "every element, in schema order");
    let again = Description::parse(DescriptionKind::Queue, &sent).unwrap();
    for (name, value) in [
        ("LockDuration", "PT30S"),
        ("MaxDeliveryCount", "5"),
        ("DeadLetteringOnMessageExpiration", "true"),
        // What courier does not manage, and must never change, goes back as it came.
        ("RequiresSession", "true"),
        ("EnablePartitioning", "true"),
        ("DefaultMessageTimeToLive", "P10675199DT2H48M5.4775807S"),
        ("UserMetadata", "keep me"),
    ] {
        assert_eq!(again.value(name), Some(value), "{name}");
    }
    let doc = roxmltree::Document::parse(&sent).unwrap();
    let rule = doc
        .descendants()
        .find(|n| n.has_tag_name("AuthorizationRule"))
        .expect("the authorization rule is kept");
    assert_eq!(
        rule.attribute((XSI_NS, "type")),
        Some("SharedAccessAuthorizationRule"),
        "its i: prefix still resolves"
    );
    assert!(
        sent.contains("<PrimaryKey>a&amp;b</PrimaryKey>"),
        "copied as written"
    );
}

#[test]
fn elements_out_of_order_or_unknown_are_put_in_order_and_kept() {
    let got = format!(
        r#"<entry xmlns="{}"><content type="application/xml"><QueueDescription xmlns="{SERVICE_BUS_NS}"><MaxDeliveryCount>3</MaxDeliveryCount><FutureSetting>x</FutureSetting><LockDuration>PT5S</LockDuration></QueueDescription></content></entry>"#,
        atom::ATOM_NS
    );
    let d = Description::parse(DescriptionKind::Queue, &got).unwrap();
    assert_eq!(
        element_names(&d.to_entry()),
        ["LockDuration", "MaxDeliveryCount", "FutureSetting"]
    );
    let fresh = Description::new(DescriptionKind::Queue);
    assert_eq!(element_names(&fresh.to_entry()), Vec::<String>::new());
    let feed = format!(
        r#"<feed xmlns="{}"><title type="text">Publicly Listed Services</title></feed>"#,
        atom::ATOM_NS
    );
    assert!(Description::parse(DescriptionKind::Queue, &feed).is_err());
}
