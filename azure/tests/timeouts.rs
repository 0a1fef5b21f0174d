//! `[azure] operation_timeout_secs` / `connect_timeout_secs` bound every REST call: against
//! a server that accepts connections and never answers, a send fails as `Timeout` after
//! the operation timeout, and a receive after its long poll plus the operation timeout (the
//! poll is the service's to hold, so the timeout is the margin beyond it).

use std::time::{Duration, Instant};

use courier_azure::{AzureBroker, Timeouts};
use courier_core::config::AzureConfig;
use courier_core::{Consumer, Destination, Error, Message, Publisher, Secret, Source};
use tokio::net::TcpListener;

const CONNECTION: &str =
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0";

/// A server that takes every connection and never answers; its URL.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

fn config(endpoint: &str, operation_secs: Option<u64>) -> AzureConfig {
    AzureConfig {
        connection_string: Some(Secret::new(CONNECTION)),
        endpoint: Some(endpoint.to_owned()),
        operation_timeout_secs: operation_secs,
        ..AzureConfig::default()
    }
}

fn timed_out_after(err: &Error) -> Duration {
    match err {
        Error::Timeout { after, .. } => *after,
        other => panic!("expected a Timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn calls_end_after_the_configured_operation_timeout() {
    let url = silent_server().await;
    let broker = AzureBroker::connect(&config(&url, Some(1))).unwrap();

    let started = Instant::now();
    let err = broker
        .publish(&Destination::queue("q"), Message::new("x"))
        .await
        .unwrap_err();
    assert_eq!(timed_out_after(&err), Duration::from_secs(1), "{err}");
    assert!(err.is_transient(), "a hung call may be tried again: {err}");

    // A receive's call: its long poll (2 s) plus the operation timeout.
    let err = broker
        .receive(&Source::queue("q"), 5, Duration::from_secs(2))
        .await
        .unwrap_err();
    // (The whole receive is bounded by the same sum, counted from its start, so its one
    // call gets a hair less.)
    let after = timed_out_after(&err);
    assert!(
        after > Duration::from_secs(2) && after <= Duration::from_secs(3),
        "{err}"
    );
    // Not the 30 s default: both calls were cut short (a loose bound, not a speed figure).
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn timeouts_come_from_the_config_with_defaults() {
    assert_eq!(
        Timeouts::from_config(&AzureConfig::default()).unwrap(),
        Timeouts {
            operation: Duration::from_secs(30),
            connect: Duration::from_secs(10),
        }
    );
    let mut c = config("http://127.0.0.1:1", Some(4));
    c.connect_timeout_secs = Some(2);
    assert_eq!(
        Timeouts::from_config(&c).unwrap(),
        Timeouts {
            operation: Duration::from_secs(4),
            connect: Duration::from_secs(2),
        }
    );
    for zero in [
        config("http://127.0.0.1:1", Some(0)),
        AzureConfig {
            connect_timeout_secs: Some(0),
            ..config("http://127.0.0.1:1", None)
        },
    ] {
        let err = AzureBroker::connect(&zero).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { .. }) && err.to_string().contains("[azure]"),
            "{err}"
        );
    }
}
