use super::*;
use courier_core::Event;
use reqwest::header::{HeaderName, HeaderValue};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(784_111_777).unwrap()
}

/// The response headers a peek-lock would carry for `m` sent as a single message.
fn received_headers(out: &ServiceBusMessage) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in out.headers(now()).expect("header-safe") {
        h.insert(
            HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    h.insert(
        "date",
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    h.insert(
        "location",
        HeaderValue::from_static("https://ns.servicebus.windows.net/q/messages/1/t"),
    );
    h
}

fn round_trip(m: &Message) -> Message {
    let out = ServiceBusMessage::encode(m, None).unwrap();
    let headers = received_headers(&out);
    let broker = ReceivedProperties::parse(headers["brokerproperties"].to_str().unwrap());
    decode(out.body.clone().into_bytes(), &headers, &broker)
}

#[test]
fn events_come_back_exactly() {
    let e = Event::new("/shop", "OrderCreated", serde_json::json!({"n": "ünïcode"}))
        .with_attribute("Region", "eu-west")
        .with_attribute("amount", "150");
    let m = e
        .to_message()
        .unwrap()
        .with_correlation_id("c-1")
        .with_message_id("m-1")
        .with_reply_to("queue:replies");
    assert_eq!(round_trip(&m), m, "names, values, ids and content type");
    let bin = Message::new(vec![0u8, 255, 7]).with_message_id("b");
    assert_eq!(round_trip(&bin), bin);
}

/// Every attribute is a string property; one that is a number also travels as a Double
/// under `courier_num_<name>`, which numeric SQL conditions read ("Message Headers and
/// Properties": a quoted value is a string, an unquoted floating-point number a Double).
#[test]
fn attributes_are_strings_with_numeric_shadows() {
    let m = Message::new("x")
        .with_attribute("amount", "150")
        .with_attribute("price", "299.98")
        .with_attribute("zip", "007")
        .with_attribute("quote", r#"a"b\c"#);
    let out = ServiceBusMessage::encode(&m, None).unwrap();
    let headers: BTreeMap<String, String> = out.headers(now()).unwrap().into_iter().collect();
    assert_eq!(headers["amount"], "\"150\"");
    assert_eq!(headers["courier_num_amount"], "150.0");
    assert_eq!(headers["price"], "\"299.98\"");
    assert_eq!(headers["courier_num_price"], "299.98");
    assert_eq!(headers["zip"], "\"007\"");
    assert_eq!(headers["courier_num_zip"], "7.0");
    assert_eq!(headers["quote"], r#""a"b\c""#);
    assert!(!headers.contains_key("courier_num_quote"));
    let entry = out.batch_entry(now());
    assert_eq!(entry["UserProperties"]["amount"], serde_json::json!("150"));
    assert_eq!(
        entry["UserProperties"]["courier_num_amount"],
        serde_json::json!(150.0)
    );
    assert_eq!(
        entry["UserProperties"]["quote"],
        serde_json::json!(r#"a"b\c"#)
    );
    assert_eq!(
        entry["UserProperties"][PACK_PROPERTY].as_str().unwrap(),
        headers[PACK_PROPERTY].trim_matches('"'),
        "the same courier property in both forms"
    );
    let shadowing = Message::new("x").with_attribute("Courier_Num_amount", "1");
    let e = ServiceBusMessage::encode(&shadowing, None).unwrap_err();
    assert!(e.to_string().contains("courier_num_"), "{e}");
}

#[test]
fn what_a_header_cannot_carry_goes_as_a_batch() {
    for m in [
        Message::new("x").with_attribute("city", "Zürich"),
        Message::new("x").with_attribute("note", "two\nlines"),
        Message::new("x").with_attribute("Date", "today"),
    ] {
        let out = ServiceBusMessage::encode(&m, None).unwrap();
        assert!(out.headers(now()).is_none(), "{m:?}");
        let user = &out.batch_entry(now())["UserProperties"];
        let (name, value) = m.attributes.iter().next().unwrap();
        assert_eq!(user[name].as_str(), Some(value.as_str()));
    }
}

#[test]
fn dates_are_rfc1123_gmt() {
    // "Message Headers and Properties": DateTime headers as RFC 2616, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    let m = Message::new("x").with_delay(Duration::from_millis(1500));
    let out = ServiceBusMessage::encode(&m, None).unwrap();
    let props = out.broker_properties(now());
    assert_eq!(
        props["ScheduledEnqueueTimeUtc"], "Sun, 06 Nov 1994 08:49:40 GMT",
        "whole seconds, never early"
    );
}

#[test]
fn the_service_reason_is_read_from_application_properties() {
    // "Overview of Service Bus dead-letter queues": Service Bus stamps DeadLetterReason /
    // DeadLetterErrorDescription as application properties of the dead-lettered message
    // (custom headers over REST), also on a courier message whose `courier` property is
    // otherwise preferred (issue 11, defect 3).
    let m = Event::new("/shop", "OrderCreated", serde_json::json!({}))
        .to_message()
        .unwrap();
    let out = ServiceBusMessage::encode(&m, None).unwrap();
    let mut headers = received_headers(&out);
    headers.insert(
        "deadletterreason",
        HeaderValue::from_static("\"MaxDeliveryCountExceeded\""),
    );
    headers.insert(
        "deadlettererrordescription",
        HeaderValue::from_static("\"Message could not be consumed after 5 delivery attempts.\""),
    );
    let back = decode(
        out.body.into_bytes(),
        &headers,
        &ReceivedProperties::default(),
    );
    assert_eq!(
        back.attributes[attr::DEAD_LETTER_REASON],
        "MaxDeliveryCountExceeded: Message could not be consumed after 5 delivery attempts."
    );
    assert!(!back.attributes.contains_key("deadletterreason"));
}

#[test]
fn foreign_messages_keep_their_properties_and_bytes() {
    let mut headers = HeaderMap::new();
    headers.insert("priority", HeaderValue::from_static("\"High\""));
    headers.insert("retries", HeaderValue::from_static("3"));
    headers.insert("content-type", HeaderValue::from_static("application/gzip"));
    headers.insert(
        "date",
        HeaderValue::from_static("Thu, 26 Nov 2026 10:00:00 GMT"),
    );
    headers.insert("x-ms-request-id", HeaderValue::from_static("r"));
    let gzip = vec![0x1f, 0x8b, 0x08, 0xff];
    let m = decode(gzip.clone(), &headers, &ReceivedProperties::default());
    assert_eq!(m.body, gzip);
    assert_eq!(
        m.attributes,
        BTreeMap::from([
            ("priority".into(), "High".into()),
            ("retries".into(), "3".into())
        ])
    );
    assert_eq!(m.content_type.as_deref(), Some("application/gzip"));
}

#[test]
fn limits_and_names_are_checked() {
    let e =
        ServiceBusMessage::encode(&Message::new(vec![b'x'; MAX_MESSAGE_SIZE]), None).unwrap_err();
    assert!(matches!(
        e,
        Error::PayloadTooLarge {
            limit: MAX_MESSAGE_SIZE,
            ..
        }
    ));
    for (m, expected) in [
        (Message::new("x").with_attribute("a b", "v"), "'a b'"),
        (
            Message::new("x")
                .with_attribute("Region", "a")
                .with_attribute("region", "b"),
            "differ only in case",
        ),
        (
            Message::new("x").with_attribute("courier", "v"),
            "packs its metadata",
        ),
        (
            Message::new("x").with_attribute("Courier_To", "inventory"),
            "addresses redriven messages",
        ),
    ] {
        let e = ServiceBusMessage::encode(&m, None).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}

/// A redrive's address (and a numeric shadow) travels as a property the rules read, and
/// never reaches a handler: not in a courier message's attributes, nor in a foreign one's.
#[test]
fn the_address_travels_and_is_removed_on_receive() {
    let m = Message::new("x")
        .with_attribute("amount", "150")
        .with_message_id("m-1");
    let out = ServiceBusMessage::encode(&m, Some("Inventory")).unwrap();
    let headers: BTreeMap<String, String> = out.headers(now()).unwrap().into_iter().collect();
    assert_eq!(
        headers["courier_to"], "\"inventory\"",
        "a string, lower case"
    );
    assert_eq!(
        out.batch_entry(now())["UserProperties"]["courier_to"],
        "inventory"
    );
    let received = received_headers(&out);
    let broker = ReceivedProperties::parse(received["brokerproperties"].to_str().unwrap());
    assert_eq!(decode(out.body.clone().into_bytes(), &received, &broker), m);

    let mut foreign = HeaderMap::new();
    foreign.insert("courier_to", HeaderValue::from_static("\"inventory\""));
    foreign.insert("region", HeaderValue::from_static("\"eu\""));
    foreign.insert("courier_num_n", HeaderValue::from_static("5.0"));
    let got = decode(b"x".to_vec(), &foreign, &ReceivedProperties::default());
    assert_eq!(
        got.attributes,
        BTreeMap::from([("region".to_owned(), "eu".to_owned())])
    );
}
