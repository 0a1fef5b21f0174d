//! The worker dead-letters a message sent by someone else on SQS, and the copy in the
//! dead-letter queue keeps every message attribute exactly as it was sent: `Binary` ones
//! with their bytes and custom data type suffix, `Number` ones with their type. The
//! message is sent and the copy read with the plain AWS SDK against real LocalStack.
//!
//! An SQS message attribute is a `DataType` (`String`, `Number` or `Binary`, "you can
//! also append custom labels") with a `StringValue` or a `BinaryValue` ("any binary data,
//! such as compressed data, encrypted data, or images"):
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html>,
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html#sqs-message-attributes>.
//!
//! LocalStack must be running (`./localstack/start.sh`, which `./scripts/test.sh` calls).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use courier_aws::AwsBroker;
use courier_core::conformance::unique;
use courier_core::topology::QueueSpec;
use courier_core::worker::{handler_fn, HandlerError, Worker, WorkerReport};
use courier_core::{Broker, Consumer, Event, Source, Topology};

/// The first eight bytes of every PNG file: not valid UTF-8, so only a `Binary`
/// attribute can carry them.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

fn string(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .unwrap()
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn visible(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    out.attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap()
}

/// A fresh queue with a dead-letter queue; their URLs.
async fn fresh_queue(
    broker: &AwsBroker,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String) {
    let mut spec = QueueSpec::new(name);
    spec.max_receive_count = 5;
    broker
        .provision(&Topology {
            queues: vec![spec],
            ..Topology::default()
        })
        .await
        .expect("provision (is LocalStack running? ./localstack/start.sh)");
    (
        queue_url(sqs, name).await,
        queue_url(sqs, &format!("{name}-dlq")).await,
    )
}

/// Runs a worker on queue `name` whose handler of `OrderCreated` fails for good, until
/// the dead-letter queue at `dlq_url` holds a message (or a minute has passed).
async fn dead_letter_with_a_worker(
    broker: AwsBroker,
    name: &str,
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
) -> WorkerReport {
    let worker = Worker::new(Arc::new(broker) as Arc<dyn Broker>, Source::queue(name))
        .poll_wait(Duration::from_secs(1))
        .handle(
            "OrderCreated",
            handler_fn(|_e: Event<serde_json::Value>, _ctx| async move {
                Err::<(), HandlerError>(HandlerError::permanent("out of stock"))
            }),
        );
    let (sqs, dlq_url) = (sqs.clone(), dlq_url.to_owned());
    worker
        .run(async move {
            for _ in 0..120 {
                if visible(&sqs, &dlq_url).await > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_message_keeps_binary_and_number_attributes_exactly() {
    let sdk = support::sdk_config(&support::localstack(), None, None).await;
    let broker = AwsBroker::from_sdk_config(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("dl-binary");
    let (url, dlq_url) = fresh_queue(&broker, &sqs, &name).await;

    // A binary-mode CloudEvent from a producer that is not courier, with a PNG thumbnail
    // and a quantity beside the event's context.
    let mut sent = HashMap::from([
        ("ce_specversion".to_owned(), string("String", "1.0")),
        ("ce_id".to_owned(), string("String", "e-png-1")),
        ("ce_source".to_owned(), string("String", "/shop")),
        ("ce_type".to_owned(), string("String", "OrderCreated")),
        ("quantity".to_owned(), string("Number", "3")),
    ]);
    sent.insert(
        "thumbnail".to_owned(),
        MessageAttributeValue::builder()
            .data_type("Binary.png")
            .binary_value(Blob::new(PNG_SIGNATURE))
            .build()
            .unwrap(),
    );
    sqs.send_message()
        .queue_url(&url)
        .message_body(r#"{"order_id":"o-1"}"#)
        .set_message_attributes(Some(sent.clone()))
        .send()
        .await
        .unwrap();

    let report = dead_letter_with_a_worker(broker, &name, &sqs, &dlq_url).await;
    assert_eq!(report.dead_lettered, 1, "{report}");

    let got = sqs
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
    assert_eq!(got[0].body(), Some(r#"{"order_id":"o-1"}"#));
    let attrs = got[0].message_attributes().unwrap();
    for (name, value) in &sent {
        assert_eq!(
            attrs.get(name),
            Some(value),
            "attribute '{name}': {attrs:?}"
        );
    }
    let png = &attrs["thumbnail"];
    assert_eq!(png.data_type(), "Binary.png");
    assert_eq!(png.binary_value().unwrap().as_ref(), PNG_SIGNATURE);
    assert_eq!(
        (
            attrs["quantity"].data_type(),
            attrs["quantity"].string_value()
        ),
        ("Number", Some("3"))
    );
    let pack: serde_json::Value =
        serde_json::from_str(attrs["courier"].string_value().unwrap()).unwrap();
    assert_eq!(
        pack["attrs"]["courier_dead_letter_reason"],
        "permanent: out of stock"
    );
    assert_eq!(pack["attrs"]["courier_dead_letter_source"], name.as_str());
    assert_eq!(visible(&sqs, &url).await, 0, "the original was deleted");
}

/// A message in an SNS notification envelope (a subscription without raw message
/// delivery: the body is the JSON document of
/// <https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html#http-notification-json>,
/// with no SQS message attributes) is dead-lettered as the message inside it, so that
/// it reads the same from the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_an_sns_envelope_is_dead_lettered_as_the_message_inside() {
    let sdk = support::sdk_config(&support::localstack(), None, None).await;
    let broker = AwsBroker::from_sdk_config(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("dl-envelope");
    let (url, dlq_url) = fresh_queue(&broker, &sqs, &name).await;
    let string = |v: &str| serde_json::json!({"Type": "String", "Value": v});
    let envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "6f1b0c9e-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders",
        "Message": r#"{"order_id":"o-2"}"#,
        "Timestamp": "2026-11-27T12:00:00.000Z",
        "SignatureVersion": "1",
        "MessageAttributes": {
            "ce_specversion": string("1.0"),
            "ce_id": string("e-env-1"),
            "ce_source": string("/shop"),
            "ce_type": string("OrderCreated"),
        }
    });
    sqs.send_message()
        .queue_url(&url)
        .message_body(envelope.to_string())
        .send()
        .await
        .unwrap();
    let report = dead_letter_with_a_worker(broker.clone(), &name, &sqs, &dlq_url).await;
    assert_eq!(report.dead_lettered, 1, "{report}");

    let got = broker
        .receive(
            &Source::queue(&name).dead_letter(),
            1,
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let m = got[0].message();
    assert_eq!(String::from_utf8_lossy(&m.body), r#"{"order_id":"o-2"}"#);
    assert_eq!(
        m.attributes.get("ce_type").map(String::as_str),
        Some("OrderCreated")
    );
    assert_eq!(got[0].dead_letter_reason(), Some("permanent: out of stock"));
}
