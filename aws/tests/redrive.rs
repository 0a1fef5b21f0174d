//! `AwsBroker::dead_letter_to` against real LocalStack, driven and checked with the plain
//! SDK: the dead-letter queue comes from the source queue's `RedrivePolicy` ("Using
//! dead-letter queues in Amazon SQS"), in the account the ARNs name
//! (`GetQueueUrl` with `QueueOwnerAWSAccountId`), and the copy keeps every attribute,
//! `Binary` ones included. LocalStack keeps one account per 12-digit access key id, which
//! makes a second account here. A test that cannot reach LocalStack fails.

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use courier_aws::redrive::{DeliveredAttribute, DeliveredMessage};
use courier_aws::AwsBroker;
use courier_core::conformance::unique;

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

/// An SQS client of `account` (LocalStack: the access key id is the account).
async fn sqs(account: &str) -> aws_sdk_sqs::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new(
            account,
            "test",
            None,
            None,
            "courier-tests",
        ))
        .load()
        .await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    if let Err(e) = client.list_queues().max_results(1).send().await {
        panic!(
            "LocalStack is not reachable at {} ({}); ./scripts/test.sh starts it",
            endpoint(),
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        );
    }
    client
}

/// Creates `name` and its dead-letter queue `dlq` (with a RedrivePolicy naming it);
/// returns (source ARN, dead-letter URL).
async fn queues(client: &aws_sdk_sqs::Client, name: &str, dlq: &str) -> (String, String) {
    let fifo = |n: &str| n.ends_with(".fifo");
    let create = |n: &str| {
        let mut c = client.create_queue().queue_name(n);
        if fifo(n) {
            c = c.attributes(QueueAttributeName::FifoQueue, "true");
        }
        c.send()
    };
    let dlq_url = create(dlq).await.unwrap().queue_url.unwrap();
    let arn = |url: &str| {
        let url = url.to_owned();
        async move {
            client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()[&QueueAttributeName::QueueArn]
                .clone()
        }
    };
    let dlq_arn = arn(&dlq_url).await;
    let url = create(name).await.unwrap().queue_url.unwrap();
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    (arn(&url).await, dlq_url)
}

fn delivered<'a>(
    source_arn: &'a str,
    attributes: Vec<DeliveredAttribute<'a>>,
) -> DeliveredMessage<'a> {
    DeliveredMessage {
        source_arn,
        message_id: "059f36b4-87a3-44ab-83d2-661975830a7d",
        body: r#"{"order_id":"o-3"}"#,
        attributes,
        group_id: Some("g1"),
        trace_header: None,
    }
}

const CE_TYPE: DeliveredAttribute<'static> = DeliveredAttribute {
    name: "ce_type",
    data_type: "String",
    string_value: Some("OrderCreated"),
    binary_value_base64: None,
};

#[tokio::test]
async fn the_copy_keeps_binary_attributes_and_goes_where_the_redrive_policy_says() {
    let client = sqs("000000000000").await;
    let name = unique("rd-src");
    // Not named `<source>-dlq`: the policy decides, not the naming convention.
    let (source_arn, dlq_url) = queues(&client, &name, &unique("rd-elsewhere")).await;
    let broker = AwsBroker::from_clients(
        client.clone(),
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        ),
    );
    let thumbnail = DeliveredAttribute {
        name: "thumbnail",
        data_type: "Binary.png",
        string_value: None,
        binary_value_base64: Some("iVBORw0KGgo="),
    };
    let message = delivered(&source_arn, vec![CE_TYPE, thumbnail]);
    broker
        .dead_letter_to(&message, "permanent: out of stock")
        .await
        .unwrap();

    let got = client
        .receive_message()
        .queue_url(&dlq_url)
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m.body(), Some(r#"{"order_id":"o-3"}"#));
    let attrs = m.message_attributes().unwrap();
    let png = &attrs["thumbnail"];
    assert_eq!(png.data_type(), "Binary.png");
    assert_eq!(
        png.binary_value().unwrap().as_ref(),
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]
    );
    assert_eq!(attrs["ce_type"].string_value(), Some("OrderCreated"));
    let pack: serde_json::Value =
        serde_json::from_str(attrs["courier"].string_value().unwrap()).unwrap();
    assert_eq!(
        pack["attrs"]["courier_dead_letter_reason"],
        "permanent: out of stock"
    );
    assert_eq!(pack["attrs"]["courier_dead_letter_source"], name.as_str());
}

#[tokio::test]
async fn a_source_queue_of_another_account_is_found_in_that_account() {
    let other = sqs("111111111111").await;
    let name = unique("rd-xacct");
    let (source_arn, dlq_url) = queues(&other, &name, &format!("{name}-dlq")).await;
    assert!(source_arn.contains(":111111111111:"), "{source_arn}");
    // The function's own account is 000000000000.
    let broker = AwsBroker::from_clients(
        sqs("000000000000").await,
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        ),
    );
    broker
        .dead_letter_to(&delivered(&source_arn, vec![CE_TYPE]), "permanent: no")
        .await
        .unwrap();
    let got = other
        .receive_message()
        .queue_url(&dlq_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(
        got.len(),
        1,
        "the copy is in the other account's dead-letter queue"
    );
}

#[tokio::test]
async fn a_queue_without_a_redrive_policy_or_a_missing_one_is_an_error_not_a_guess() {
    let client = sqs("000000000000").await;
    let name = unique("rd-nopolicy");
    client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap();
    // A same-named `-dlq` exists, but without a policy it is not this queue's.
    client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let broker = AwsBroker::from_clients(
        client,
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        ),
    );
    let arn = format!("arn:aws:sqs:us-east-1:000000000000:{name}");
    let e = broker
        .dead_letter_to(&delivered(&arn, vec![CE_TYPE]), "r")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no RedrivePolicy"), "{e}");
    let missing = format!(
        "arn:aws:sqs:us-east-1:000000000000:{}",
        unique("rd-missing")
    );
    let e = broker
        .dead_letter_to(&delivered(&missing, vec![CE_TYPE]), "r")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}
