//! courier-aws against real LocalStack: the conformance suite, then what is AWS-specific.
//!
//! LocalStack must be running (`./localstack/start.sh`, which `./scripts/test.sh` calls);
//! its URL comes from `COURIER_TEST_LOCALSTACK_URL`, else `AWS_ENDPOINT_URL`, else
//! `http://127.0.0.1:${LOCALSTACK_PORT:-4566}`. A test that cannot reach it fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use courier_aws::AwsBroker;
use courier_core::conformance::{receive_n, unique};
use courier_core::topology::{QueueSpec, SubscriptionSpec, TopicSpec};
use courier_core::{
    Broker, Consumer, ConsumerExt, Destination, Error, Event, Message, ProvisionAction, Publisher,
    PublisherExt, Source, Topology,
};

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

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
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
        .await
}

async fn aws() -> AwsBroker {
    let broker = AwsBroker::from_sdk_config(&sdk().await);
    if let Err(e) = broker.sqs().list_queues().max_results(1).send().await {
        panic!(
            "LocalStack is not reachable or not working at {} ({}); start it with ./localstack/start.sh (./scripts/test.sh does)",
            endpoint(),
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        );
    }
    broker
}

/// A queue's URL and all its attributes, through the plain SDK.
async fn queue_attributes(
    b: &AwsBroker,
    name: &str,
) -> (String, HashMap<QueueAttributeName, String>) {
    let url = b
        .sqs()
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let out = b
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await;
    (url, out.unwrap().attributes.unwrap())
}

async fn dyn_broker() -> Arc<dyn Broker> {
    Arc::new(aws().await)
}

courier_core::conformance_tests!(dyn_broker());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_sets_redrive_encryption_size_and_repairs_drift() {
    let b = aws().await;
    let name = unique("prov");
    let mut q = QueueSpec::new(&name);
    q.max_receive_count = 3;
    q.visibility_timeout_secs = 7;
    let t = Topology {
        queues: vec![q],
        ..Topology::default()
    };
    b.provision(&t).await.unwrap();
    let (url, attrs) = queue_attributes(&b, &name).await;
    let redrive: serde_json::Value =
        serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{name}-dlq")),
        "{redrive}"
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );
    assert_eq!(attrs[&QueueAttributeName::SqsManagedSseEnabled], "true");
    assert_eq!(attrs[&QueueAttributeName::MaximumMessageSize], "1048576");
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "7");

    // Drift: someone changed the visibility timeout by hand.
    b.sqs()
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "99")
        .send()
        .await
        .unwrap();
    let report = b.provision(&t).await.unwrap();
    let line = report.entities.iter().find(|e| e.name == name).unwrap();
    assert_eq!(
        line.action,
        ProvisionAction::Updated("VisibilityTimeout".into()),
        "{report}"
    );
    assert!(b.provision(&t).await.unwrap().is_unchanged());

    // A FIFO change cannot be applied in place: reported, not hidden.
    let mut as_fifo = t.clone();
    as_fifo.queues[0].fifo = true;
    let report = b.provision(&as_fifo).await.unwrap();
    assert!(report.to_string().contains("dead-letter queue"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_filter_policy_filters_numbers_and_prefixes() {
    let b = aws().await;
    let topic = unique("filt");
    let mut big = SubscriptionSpec::new(&topic, "big");
    big.filter = Some(serde_json::from_value(serde_json::json!({"amount": [{"numeric": [">=", 100]}], "region": [{"prefix": "eu-"}]})).unwrap());
    b.provision(&Topology {
        topics: vec![TopicSpec::new(&topic)],
        subscriptions: vec![big],
        ..Topology::default()
    })
    .await
    .unwrap();
    for (amount, region) in [("150", "eu-west"), ("50", "eu-west"), ("150", "us-east")] {
        let e = Event::new("/t", "OrderCreated", serde_json::json!({}))
            .with_attribute("amount", amount)
            .with_attribute("region", region);
        b.publish_event(&Destination::topic(&topic), &e)
            .await
            .unwrap();
    }
    let got = receive_n(
        &b,
        &Source::subscription(&topic, "big"),
        3,
        Duration::from_secs(6),
    )
    .await;
    assert_eq!(got.len(), 1, "only amount >= 100 in eu- passes");
    assert_eq!(got[0].message().attributes["amount"], "150");
    assert_eq!(got[0].message().attributes["region"], "eu-west");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sdk_messages_and_sns_envelopes_arrive_as_raw_deliveries() {
    let b = aws().await;
    let name = unique("plain");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap();
    let (url, attrs) = queue_attributes(&b, &name).await;
    b.sqs()
        .send_message()
        .queue_url(&url)
        .message_body("hello from a plain producer")
        .send()
        .await
        .unwrap();
    let d = b
        .receive_one(&Source::queue(&name), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message().body, b"hello from a plain producer");
    assert_eq!(d.event_type(), None);
    d.ack().await.unwrap();

    // A topic subscribed *without* raw delivery wraps messages in SNS's JSON envelope.
    let topic_arn = b
        .sns()
        .create_topic()
        .name(unique("env"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_arn = attrs[&QueueAttributeName::QueueArn].clone();
    b.sns()
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("eu")
        .build()
        .unwrap();
    b.sns()
        .publish()
        .topic_arn(&topic_arn)
        .message(r#"{"order_id":"o-9"}"#)
        .message_attributes("region", attr)
        .send()
        .await
        .unwrap();
    let d = b
        .receive_one(&Source::queue(&name), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.message().body,
        br#"{"order_id":"o-9"}"#,
        "the envelope is unwrapped"
    );
    assert_eq!(
        d.message().attributes.get("region").map(String::as_str),
        Some("eu")
    );
    d.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_leave_six_attributes_to_the_user() {
    let b = aws().await;
    let name = unique("attrs");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap();
    let event = |n: usize| {
        (0..n).fold(Event::new("/t", "T", 1).with_subject("s"), |e, i| {
            e.with_attribute(format!("u{i}"), "x")
        })
    };
    b.publish_event(&Destination::queue(&name), &event(6))
        .await
        .unwrap();
    let d = b
        .receive_one(&Source::queue(&name), Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    let back: Event<i32> = d.event().unwrap();
    assert_eq!(back.attributes.len(), 6);
    assert!(back.time.is_some() && back.subject.as_deref() == Some("s"));
    let err = b
        .publish_event(&Destination::queue(&name), &event(7))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }) && err.to_string().contains("allow 10"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_topics_fan_out_in_order_and_topics_refuse_delay_and_oversize() {
    let b = aws().await;
    let topic = unique("ft");
    let mut spec = TopicSpec::new(&topic);
    spec.fifo = true;
    b.provision(&Topology {
        topics: vec![spec],
        subscriptions: vec![SubscriptionSpec::new(&topic, "s")],
        ..Topology::default()
    })
    .await
    .unwrap();
    let dest = Destination::topic(&topic);
    let msgs: Vec<Message> = (0..5)
        .map(|i| {
            Message::new(format!("m{i}"))
                .with_group_id("g")
                .with_message_id(format!("id-{i}"))
        })
        .collect();
    for r in b.publish_batch(&dest, msgs).await.unwrap() {
        r.unwrap();
    }
    let src = Source::subscription(&topic, "s");
    let mut bodies = Vec::new();
    while bodies.len() < 5 {
        let d = b
            .receive_one(&src, Duration::from_secs(5))
            .await
            .unwrap()
            .expect("in order, one at a time");
        bodies.push(String::from_utf8(d.message().body.clone()).unwrap());
        d.ack().await.unwrap();
    }
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);

    let plain = unique("pt");
    b.provision(&Topology {
        topics: vec![TopicSpec::new(&plain)],
        ..Topology::default()
    })
    .await
    .unwrap();
    let err = b
        .publish(
            &Destination::topic(&plain),
            Message::new("x").with_delay(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SNS cannot delay"), "{err}");
    let err = b
        .publish(
            &Destination::topic(&plain),
            Message::new(vec![b'x'; 256 * 1024 + 1]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PayloadTooLarge { limit: 262_144, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_entries_fail_individually_and_acks_batch() {
    let b = aws().await;
    let name = unique("mixed");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap();
    let msgs = vec![
        Message::new("ok"),
        Message::new(vec![b'x'; 2 * 1024 * 1024]),
        Message::new("ok too"),
    ];
    let results = b
        .publish_batch(&Destination::queue(&name), msgs)
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(
        matches!(results[1], Err(Error::PayloadTooLarge { .. })),
        "{:?}",
        results[1]
    );
    let got = receive_n(&b, &Source::queue(&name), 2, Duration::from_secs(8)).await;
    // Concurrent acks share DeleteMessageBatch calls; each still answers for itself.
    let acks = futures_util::future::join_all(got.into_iter().map(|d| d.ack())).await;
    assert!(acks.iter().all(Result::is_ok), "{acks:?}");
    let (_, left) = queue_attributes(&b, &name).await;
    assert_eq!(
        left[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );
}

/// A fresh queue (FIFO when asked) with this visibility timeout.
async fn fresh_queue(b: &AwsBroker, prefix: &str, fifo: bool, visibility: u32) -> String {
    let name = unique(prefix);
    let mut q = QueueSpec::new(&name);
    q.fifo = fifo;
    q.visibility_timeout_secs = visibility;
    q.max_receive_count = 10;
    b.provision(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    name
}

/// The ack batcher lives as long as the broker, on whatever runtime uses it: acks made
/// on a second runtime after the first one ended still delete their messages.
#[test]
fn one_broker_serves_runtimes_in_turn() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let (b, name, mut got) = first.block_on(async {
        let b = aws().await;
        let name = fresh_queue(&b, "rts", false, 30).await;
        for i in 0..2 {
            b.publish(&Destination::queue(&name), Message::new(format!("m{i}")))
                .await
                .unwrap();
        }
        let got = receive_n(&b, &Source::queue(&name), 2, Duration::from_secs(8)).await;
        (b, name, got)
    });
    assert_eq!(got.len(), 2);
    let second_delivery = got.pop().unwrap();
    first
        .block_on(got.pop().unwrap().ack())
        .expect("ack on the first runtime");
    drop(first);
    let second = runtime();
    second
        .block_on(second_delivery.ack())
        .expect("ack on the second runtime, after the first ended");
    let (_, left) = second.block_on(queue_attributes(&b, &name));
    assert_eq!(
        left[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );
    assert_eq!(left[&QueueAttributeName::ApproximateNumberOfMessages], "0");
}

/// A FIFO dead-letter copy is deduplicated by the original message's id: when the same
/// message is dead-lettered twice (two deliveries of it, or a retried send), the
/// dead-letter queue holds it once
/// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html#SQS-SendMessage-request-MessageDeduplicationId).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_dead_letter_copies_are_deduplicated() {
    let b = aws().await;
    let name = fresh_queue(&b, "fdl", true, 1).await;
    b.publish(
        &Destination::queue(&name),
        Message::new("poison")
            .with_group_id("g")
            .with_message_id("m-1"),
    )
    .await
    .unwrap();
    let src = Source::queue(&name);
    let first = b
        .receive_one(&src, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("first delivery");
    // The first consumer stalls past the visibility timeout; a second gets the message.
    let second = loop {
        if let Some(d) = b.receive_one(&src, Duration::from_secs(5)).await.unwrap() {
            break d;
        }
    };
    assert_eq!(
        first.info().broker_message_id,
        second.info().broker_message_id
    );
    // Both dead-letter it (the first one's delete may fail: its receipt is stale).
    let _ = first.dead_letter("first consumer").await;
    second.dead_letter("second consumer").await.unwrap();
    // Every copy there is, each acked as it comes (the queue hides for 1 s only).
    let dlq = src.dead_letter();
    let mut copies = Vec::new();
    while let Some(copy) = b.receive_one(&dlq, Duration::from_secs(3)).await.unwrap() {
        copies.push(copy.message().clone());
        copy.ack().await.unwrap();
    }
    assert_eq!(
        copies.len(),
        1,
        "one copy in the dead-letter queue: {copies:?}"
    );
    assert_eq!(copies[0].body, b"poison");
}

/// Settling a delivery whose message another consumer already deleted is `LockLost`
/// (ChangeMessageVisibility answers that the message "does not exist or is not available
/// for visibility timeout change":
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_a_message_deleted_by_another_consumer_is_lock_lost() {
    let b = aws().await;
    let name = fresh_queue(&b, "lost", false, 1).await;
    b.publish(&Destination::queue(&name), Message::new("x"))
        .await
        .unwrap();
    let src = Source::queue(&name);
    let first = b
        .receive_one(&src, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("first delivery");
    let second = loop {
        if let Some(d) = b.receive_one(&src, Duration::from_secs(5)).await.unwrap() {
            break d;
        }
    };
    second.ack().await.unwrap();
    let err = first.extend(Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, Error::LockLost { .. }), "{err:#?}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "keeps the SDK error"
    );
    let err = first.nack(Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(err.error, Error::LockLost { .. }),
        "{:#?}",
        err.error
    );
}

/// A receive that its caller gave up on does not hide the next message for a visibility
/// timeout: SQS hands messages to a long poll even when its caller has gone, so courier
/// finishes the call and gives back what it brought.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_given_up_by_its_caller_hides_nothing() {
    let b = aws().await;
    let name = fresh_queue(&b, "gone", false, 30).await;
    let src = Source::queue(&name);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(500),
        b.receive(&src, 10, Duration::from_secs(5)),
    )
    .await;
    assert!(abandoned.is_err(), "the receive was still waiting");
    b.publish(&Destination::queue(&name), Message::new("next"))
        .await
        .unwrap();
    let got = b.receive_one(&src, Duration::from_secs(10)).await.unwrap();
    assert!(
        got.is_some(),
        "the message came within 10 s, not after the 30 s visibility timeout"
    );
}
