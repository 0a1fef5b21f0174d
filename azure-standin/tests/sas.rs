//! SAS over HTTP, per "Service Bus access control with Shared Access Signatures", against
//! the stand-in or a real namespace (`COURIER_TEST_AZURE_CONNECTION_STRING`).

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{sas_token, url_encode, Namespace};
use reqwest::Method;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn status_with(ns: &Namespace, path: &str, token: &str) -> u16 {
    ns.bare(Method::POST, &format!("{path}/messages/head?timeout=0"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The signature is over the URL-encoded resource URI as sent (either case of
/// percent-encoding), the URI may use `sb://` or `https://`, and a token covers every
/// resource under its URI.
#[tokio::test]
async fn documented_tokens_are_accepted() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("sas"), "").await;
    let key = ns.key().to_owned();
    let host = ns.host.clone();
    let token = |uri: &str, lower: bool| {
        sas_token(&url_encode(uri, lower), now() + 600, &ns.key_name, &key)
    };
    for (uri, lower) in [
        (format!("https://{host}/{q}"), false),
        (format!("https://{host}/{q}"), true),
        (format!("sb://{host}/{q}"), false),
        (format!("sb://{host}/"), true),
        (format!("https://{host}"), false),
    ] {
        assert_eq!(
            status_with(&ns, &q, &token(&uri, lower)).await,
            204,
            "{uri} (lower-case encoding: {lower})"
        );
    }
    ns.delete(&q).await;
}

/// "If the signature doesn't match … access is denied": a wrong key, an expired token, a
/// token for another namespace or for another entity, or none at all, is a 401.
#[tokio::test]
async fn other_tokens_are_refused() {
    let ns = Namespace::connect().await;
    let q = ns.queue(&ns.unique("sas"), "").await;
    let other = ns.queue(&ns.unique("other"), "").await;
    let host = ns.host.clone();
    let key = ns.key().to_owned();
    let sign = |uri: &str, expiry: u64, key: &str| {
        sas_token(&url_encode(uri, false), expiry, &ns.key_name, key)
    };
    let cases = [
        (
            "wrong key",
            sign(
                &format!("https://{host}/{q}"),
                now() + 600,
                "d3Jvbmcta2V5LXdyb25nLWtleQ==",
            ),
        ),
        (
            "expired",
            sign(&format!("https://{host}/{q}"), now() - 10, &key),
        ),
        (
            "other namespace",
            sign(&format!("https://not-{host}/{q}"), now() + 600, &key),
        ),
        (
            "other entity",
            sign(&format!("https://{host}/{other}"), now() + 600, &key),
        ),
        (
            "unknown key name",
            sas_token(
                &url_encode(&format!("https://{host}/{q}"), false),
                now() + 600,
                "nobody",
                &key,
            ),
        ),
    ];
    for (what, token) in cases {
        assert_eq!(status_with(&ns, &q, &token).await, 401, "{what}");
    }
    let none = ns
        .bare(Method::POST, &format!("{q}/messages/head?timeout=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401, "no token");
    ns.delete(&q).await;
    ns.delete(&other).await;
}
