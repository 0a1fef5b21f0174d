//! End to end: LocalStack, the shop topology, and the four real `bootstrap` binaries
//! under the event-source runner. LocalStack must be running (`./scripts/test.sh` starts
//! it); a test that cannot reach it fails.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use courier_aws::AwsBroker;
use courier_core::conformance::unique;
use courier_core::event::attr;
use courier_core::topology::{SubscriptionSpec, TopicSpec};
use courier_core::{Broker, Destination, Event, PublisherExt, Source, Topology};
use courier_lambda_runner::{self as runner, RunnerConfig};
use courier_shop::{OrderCreated, FUNCTIONS};

fn endpoint() -> String {
    std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            format!(
                "http://127.0.0.1:{}",
                std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".into())
            )
        })
}

async fn localstack() -> AwsBroker {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "courier-tests",
        ))
        .load()
        .await;
    let broker = AwsBroker::from_sdk_config(&sdk);
    if let Err(e) = broker.sqs().list_queues().max_results(1).send().await {
        panic!(
            "LocalStack is not reachable at {} ({}); ./scripts/test.sh starts it",
            endpoint(),
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        );
    }
    broker
}

fn bin(name: &str) -> &'static str {
    match name {
        "inventory" => env!("CARGO_BIN_EXE_inventory"),
        "payment" => env!("CARGO_BIN_EXE_payment"),
        "shipping" => env!("CARGO_BIN_EXE_shipping"),
        _ => env!("CARGO_BIN_EXE_notification"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_four_functions_handle_the_fan_out_with_retries_and_dead_letters() {
    let broker: Arc<dyn Broker> = Arc::new(localstack().await);
    let topic = unique("shop");
    let subscriptions = FUNCTIONS
        .iter()
        .map(|name| {
            let mut s = SubscriptionSpec::new(&topic, *name);
            s.filter = Some(
                serde_json::from_value(serde_json::json!({"type": ["OrderCreated"]})).unwrap(),
            );
            s.visibility_timeout_secs = 2;
            s.max_receive_count = 4;
            s
        })
        .collect();
    broker
        .provision(&Topology {
            topics: vec![TopicSpec::new(&topic)],
            subscriptions,
            ..Topology::default()
        })
        .await
        .unwrap();

    let mut atlantis = OrderCreated::new("order-1005", "MUG-RED", 1, 1250);
    atlantis.shipping_city = "Atlantis".into();
    let orders = [
        OrderCreated::new("order-1001", "MUG-RED", 2, 1250),
        OrderCreated::new("order-1002", "SHIRT-M", 1, 2900),
        OrderCreated::new("order-1003", "MUG-BLUE", 3, 1250),
        OrderCreated::new("order-1004", "GHOST-42", 1, 999),
        atlantis,
    ];
    let events: Vec<_> = orders
        .iter()
        .map(|o| {
            Event::new("/shop/checkout", "OrderCreated", o.clone()).with_subject(o.order_id.clone())
        })
        .collect();
    for r in broker
        .publish_events(&Destination::topic(&topic), &events)
        .await
        .unwrap()
    {
        r.unwrap();
    }

    let env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), endpoint()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        (
            "COURIER_SHOP_FLAKY_ORDERS".to_owned(),
            "order-1002".to_owned(),
        ),
    ];
    let runs = FUNCTIONS.iter().map(|name| {
        let mut config = RunnerConfig::new(bin(name), Source::subscription(&topic, *name));
        config.idle_exit = Some(Duration::from_secs(7));
        config.env = env.clone();
        let broker = broker.clone();
        async move {
            (
                *name,
                runner::run(broker, config, std::future::pending())
                    .await
                    .unwrap(),
            )
        }
    });
    let reports = futures_util::future::join_all(runs).await;
    for (name, r) in &reports {
        eprintln!("{name}: {r}");
    }
    let report = |n: &str| {
        reports
            .iter()
            .find(|(name, _)| *name == n)
            .unwrap()
            .1
            .clone()
    };
    for (name, r) in &reports {
        assert!(
            r.cold_start.is_some(),
            "{name}: the bootstrap asked for events: {r}"
        );
        assert!(r.records >= 5, "{name} received every order: {r}");
    }
    let payment = report("payment");
    assert_eq!(
        payment.failed_records, 1,
        "order-1002 failed once: {payment}"
    );
    assert_eq!(
        payment.records, 6,
        "…and succeeded on its second delivery: {payment}"
    );

    for name in FUNCTIONS {
        let src = Source::subscription(&topic, name);
        let left = broker
            .receive(&src, 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(left.is_empty(), "{name}: nothing left behind: {left:?}");
        let mut reasons = Vec::new();
        loop {
            // Acked as read: the dead-letter queue's visibility timeout is short too.
            let dead = broker
                .receive(&src.dead_letter(), 10, Duration::from_secs(1))
                .await
                .unwrap();
            if dead.is_empty() {
                break;
            }
            for d in dead {
                let m = d.message();
                reasons.push((
                    m.attributes.get(attr::SUBJECT).cloned().unwrap_or_default(),
                    m.attributes
                        .get(attr::DEAD_LETTER_REASON)
                        .cloned()
                        .unwrap_or_default(),
                ));
                d.ack().await.unwrap();
            }
        }
        let expected: Vec<(String, String)> = match name {
            "inventory" => vec![(
                "order-1004".into(),
                "permanent: unknown SKU GHOST-42 in order-1004".into(),
            )],
            "shipping" => vec![(
                "order-1005".into(),
                "permanent: no carrier serves Atlantis".into(),
            )],
            _ => vec![],
        };
        assert_eq!(reasons, expected, "{name}'s dead-letter queue");
    }
}
