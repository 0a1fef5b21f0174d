//! Receiving as Service Bus REST really answers: bodies are bytes, long polls do not
//! spin, a failure mid-receive keeps what was already locked, lock deadlines follow the
//! server's clock. Against the stand-in, or a real namespace with
//! `COURIER_TEST_AZURE_CONNECTION_STRING`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use courier_core::{Consumer, ConsumerExt, Destination, Message, Source};
use support::{backend, Proxy};
use tokio::time::Instant;

/// "Message Headers and Properties", Message body: "No conversions are performed between
/// the HTTP request/response body stream and the BrokeredMessage.BodyStream" — a gzip
/// body from another producer is bytes, and one such message is one delivery.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_one_delivery_and_the_rest_are_kept() {
    let b = backend().await;
    let q = b.queue("gzip").await;
    let gzip = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x80, 0x00];
    let status = b
        .rest()
        .send(&q, &[("content-type", "application/gzip")], gzip.clone())
        .await;
    assert_eq!(status, 201, "Send Message answers 201 Created");
    b.publish(&Destination::queue(&q), Message::new("after"))
        .await
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(
            b.receive(&Source::queue(&q), 10, Duration::from_secs(2))
                .await
                .expect("a binary body never fails a receive"),
        );
    }
    let bodies: Vec<Vec<u8>> = got.iter().map(|d| d.message().body.clone()).collect();
    assert!(bodies.contains(&gzip), "the gzip bytes as sent: {bodies:?}");
    assert!(bodies.contains(&b"after".to_vec()), "{bodies:?}");
    for d in got {
        d.ack().await.unwrap();
    }
}

/// Real namespaces hand out 64-bit sequence numbers (`SequenceNumber`,
/// `EnqueuedSequenceNumber` are longs in "Message Headers and Properties"): numbers beyond
/// 2^31 must not fail a peek-lock and leave the message locked (issue 11, defect 8).
#[tokio::test]
async fn sequence_numbers_beyond_32_bits() {
    let b = match std::env::var("COURIER_TEST_AZURE_CONNECTION_STRING") {
        Ok(_) => backend().await,
        Err(_) => {
            let options =
                courier_azure_standin::Options::default().first_sequence_number(5_000_000_000);
            let standin =
                courier_azure_standin::StandIn::start_with("127.0.0.1:0".parse().unwrap(), options)
                    .await
                    .unwrap();
            support::Backend::of(standin)
        }
    };
    let q = b.queue("seq").await;
    b.publish(&Destination::queue(&q), Message::new("x"))
        .await
        .unwrap();
    let d = b
        .receive_one(&Source::queue(&q), Duration::from_secs(5))
        .await
        .expect("a 64-bit sequence number is read")
        .expect("the message");
    if b.standin.is_some() {
        assert!(d.info().broker_message_id.parse::<i64>().unwrap() >= 5_000_000_000);
    }
    d.ack().await.expect("settled by its lock URI");
}

/// A wait too large for `Instant` must not panic (issue 10, item 11).
#[tokio::test]
async fn a_huge_wait_does_not_panic() {
    let b = backend().await;
    let q = b.queue("huge").await;
    b.publish(&Destination::queue(&q), Message::new("x"))
        .await
        .unwrap();
    let got = b
        .receive(&Source::queue(&q), 1, Duration::MAX)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

/// "Peek-Lock Message": `timeout` is the long-poll wait in seconds. An empty queue must
/// cost one long poll per wait, never a burst of `timeout=0` polls (each one billed).
#[tokio::test]
async fn an_empty_queue_is_long_polled_not_spun() {
    let b = backend().await;
    let q = b.queue("poll").await;
    let proxy = Proxy::start(b.upstream()).await;
    let via = b.through(&proxy);
    for wait in [Duration::from_millis(900), Duration::from_millis(2500)] {
        proxy.clear();
        let started = Instant::now();
        let got = via.receive(&Source::queue(&q), 1, wait).await.unwrap();
        assert!(got.is_empty());
        assert!(started.elapsed() >= wait, "waited the whole {wait:?}");
        let polls: Vec<String> = proxy
            .log()
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| p.contains("/messages/head"))
            .collect();
        assert!(
            polls.len() <= 2,
            "{wait:?}: {} polls: {polls:?}",
            polls.len()
        );
        assert!(
            polls.iter().all(|p| !p.contains("timeout=0")),
            "a wait of {wait:?} is not polled with timeout=0: {polls:?}"
        );
    }
    proxy.clear();
    assert!(via
        .receive(&Source::queue(&q), 1, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(proxy.log().len(), 1, "no wait: one look");
}

/// A receive that fails after it locked messages returns those messages: dropping them
/// would leave them locked for nobody until their lock expires (issue 10, item 1).
#[tokio::test]
async fn messages_locked_before_a_failed_call_are_returned() {
    let b = backend().await;
    let q = b.queue("partial").await;
    for body in ["one", "two"] {
        b.publish(&Destination::queue(&q), Message::new(body))
            .await
            .unwrap();
    }
    let proxy = Proxy::start(b.upstream()).await;
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    proxy.inject(
        move |_, path| {
            path.contains("/messages/head") && counted.fetch_add(1, Ordering::SeqCst) == 1
        },
        500,
        &[],
        1,
    );
    let via = b.through(&proxy);
    let got = via
        .receive(&Source::queue(&q), 5, Duration::from_secs(5))
        .await
        .expect("the message already locked is returned, not dropped");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message().body, b"one");
    for d in got {
        d.ack().await.unwrap();
    }
    let rest = via
        .receive_one(&Source::queue(&q), Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the other message is still there");
    assert_eq!(rest.message().body, b"two");
    rest.ack().await.unwrap();
}

/// Shifts an HTTP date (RFC 1123 `GMT` form, or the `+0000` form) by `by` seconds.
fn shift(date: &str, by: i64) -> String {
    use time::format_description::well_known::Rfc2822;
    let gmt = date.trim().ends_with("GMT");
    let parseable = if gmt {
        format!("{} +0000", date.trim().trim_end_matches("GMT").trim())
    } else {
        date.to_owned()
    };
    let t = time::OffsetDateTime::parse(&parseable, &Rfc2822).expect("an HTTP date")
        + time::Duration::seconds(by);
    let text = t.format(&Rfc2822).unwrap();
    if gmt {
        text.replace("+0000", "GMT")
    } else {
        text
    }
}

/// The lock is held until the server's `LockedUntilUtc` by the server's clock: a receiver
/// whose clock differs from the service's must still see the lock's real length
/// (issue 10, item 14). Here the server's clock runs two minutes behind.
#[tokio::test]
async fn the_lock_deadline_follows_the_server_clock() {
    let b = backend().await;
    let q = b.queue("skew").await; // lock duration 30 s (the topology's default)
    b.publish(&Destination::queue(&q), Message::new("x"))
        .await
        .unwrap();
    let proxy = Proxy::start(b.upstream()).await;
    proxy.rewrite(|_, path, headers| {
        if !path.contains("/messages/head") {
            return;
        }
        if let Some(date) = headers.get("date").and_then(|d| d.to_str().ok()) {
            let shifted = shift(date, -120);
            headers.insert("date", shifted.parse().unwrap());
        }
        if let Some(props) = headers
            .get("brokerproperties")
            .and_then(|v| v.to_str().ok())
        {
            let mut props: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(props).unwrap();
            for key in ["LockedUntilUtc", "EnqueuedTimeUtc"] {
                if let Some(serde_json::Value::String(t)) = props.get(key).cloned() {
                    props.insert(key.into(), shift(&t, -120).into());
                }
            }
            let text = serde_json::Value::Object(props).to_string();
            headers.insert("brokerproperties", text.parse().unwrap());
        }
    });
    let via = b.through(&proxy);
    let d = via
        .receive_one(&Source::queue(&q), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    let until = d.info().locked_until.expect("a lock deadline");
    let left = until.saturating_duration_since(Instant::now());
    assert!(
        left > Duration::from_secs(20) && left <= Duration::from_secs(31),
        "a 30 s lock, whatever the clocks say: {left:?}"
    );
    d.ack().await.unwrap();
}
