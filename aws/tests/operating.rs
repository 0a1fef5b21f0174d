//! courier-aws against real LocalStack, beyond the conformance suite: what operating it
//! on SQS involves (dead-letter redrive with SQS's move task, FIFO redrive dedup, reply
//! queues and their clean-up, a responder written with boto3) and FIFO batch order.
//!
//! LocalStack must be running (`./localstack/start.sh`, which `./scripts/test.sh` calls).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::QueueAttributeName;
use courier_aws::reply_queues::{REPLY_QUEUE_PREFIX, TAG_CREATED, TAG_HEARTBEAT, TAG_ROLE};
use courier_aws::AwsBroker;
use courier_core::conformance::{receive_n, unique};
use courier_core::dead_letter::{returning, RedriveOptions};
use courier_core::request::Requester;
use courier_core::topology::QueueSpec;
use courier_core::{
    Broker, Consumer, Destination, Event, Message, Publisher, PublisherExt, Source, Topology,
};

async fn aws() -> AwsBroker {
    let broker =
        AwsBroker::from_sdk_config(&support::sdk_config(&support::localstack(), None, None).await);
    if let Err(e) = broker.sqs().list_queues().max_results(1).send().await {
        panic!(
            "LocalStack is not reachable at {} ({}); start it with ./localstack/start.sh",
            support::localstack(),
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        );
    }
    broker
}

/// A fresh queue with a dead-letter queue (FIFO when asked).
async fn fresh_queue(b: &AwsBroker, prefix: &str, fifo: bool) -> String {
    let name = unique(prefix);
    let mut q = QueueSpec::new(&name);
    q.fifo = fifo;
    q.max_receive_count = 5;
    b.provision(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    name
}

/// Receives everything of a FIFO queue in order, acking as it goes (a FIFO group gives
/// its next messages only once the earlier ones are deleted).
async fn drain_in_order(b: &AwsBroker, source: &Source, n: usize) -> Vec<Message> {
    let mut got = Vec::new();
    while got.len() < n {
        let batch = receive_n(b, source, 10.min(n - got.len()), Duration::from_secs(10)).await;
        assert!(!batch.is_empty(), "only {} of {n} arrived", got.len());
        for d in batch {
            got.push(d.message().clone());
            d.ack().await.expect("ack");
        }
    }
    got
}

/// SendMessageBatch takes 10 entries; a FIFO batch of more must reach SQS chunk after
/// chunk for each group, or a later chunk overtakes an earlier one and the group's order
/// is lost ("Amazon SQS FIFO queues ... the order in which messages are sent and received
/// is strictly preserved" per group:
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html>).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_batches_of_one_group_keep_their_order() {
    let b = aws().await;
    let name = fresh_queue(&b, "fifo-order", true).await;
    let n = 120;
    let messages: Vec<Message> = (0..n)
        .map(|i| {
            Message::new(format!("{i}"))
                .with_group_id(if i % 4 == 3 { "other" } else { "orders" })
                .with_message_id(format!("m-{i}"))
        })
        .collect();
    let results = b
        .publish_batch(&Destination::queue(&name), messages)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got = drain_in_order(&b, &Source::queue(&name), n).await;
    for group in ["orders", "other"] {
        let order: Vec<u32> = got
            .iter()
            .filter(|m| m.group_id.as_deref() == Some(group))
            .map(|m| String::from_utf8_lossy(&m.body).parse().unwrap())
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "group {group} arrived out of order");
    }
}

/// A whole dead-letter queue goes back with SQS's own move task
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html>),
/// waited for and counted; the reason courier recorded does not reach the consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_queue_redrive_is_a_move_task() {
    let b = aws().await;
    let name = fresh_queue(&b, "move", false).await;
    let src = Source::queue(&name);
    let sent: Vec<Event<u32>> = (0..3).map(|n| Event::new("/t", "Counted", n)).collect();
    for e in &sent {
        b.publish_event(&Destination::queue(&name), e)
            .await
            .unwrap();
    }
    for d in receive_n(&b, &src, 3, Duration::from_secs(10)).await {
        d.dead_letter("broken").await.unwrap();
    }
    assert_eq!(visible(&b, &format!("{name}-dlq")).await, 3);
    let report = b
        .redrive_dead_letters(&src, &RedriveOptions::default())
        .await
        .unwrap();
    assert_eq!(report.method, "StartMessageMoveTask", "{report:?}");
    assert_eq!((report.moved, report.failed.len()), (3, 0), "{report:?}");
    let back = receive_n(&b, &src, 3, Duration::from_secs(10)).await;
    let mut ids: Vec<String> = back
        .iter()
        .map(|d| d.event_id().unwrap().into_owned())
        .collect();
    let mut expected: Vec<String> = sent.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "the same events came back");
    for d in back {
        assert_eq!(d.dead_letter_reason(), None, "{:?}", d.message());
        d.ack().await.unwrap();
    }
    assert_eq!(visible(&b, &format!("{name}-dlq")).await, 0);

    // A filtered redrive cannot be a move task: it receives, sends and deletes.
    let filtered = RedriveOptions {
        max: Some(1),
        ..RedriveOptions::default()
    };
    let report = b.redrive_dead_letters(&src, &filtered).await.unwrap();
    assert_eq!(
        (report.method.as_str(), report.moved),
        ("receive-send-delete", 0)
    );
}

/// Two whole-queue redrives in a row each report their own move task's count.
/// `ListMessageMoveTasks` gives an ended task without its handle ("only populated for
/// tasks that are in RUNNING status") and a task not yet started not at all
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html>),
/// so the first redrive's ended task must not be taken for the second's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_redrives_each_count_their_own_messages() {
    let b = aws().await;
    let name = fresh_queue(&b, "move-twice", false).await;
    let src = Source::queue(&name);
    for (round, n) in [(1, 3_usize), (2, 1)] {
        for i in 0..n {
            b.publish_event(&Destination::queue(&name), &Event::new("/t", "Counted", i))
                .await
                .unwrap();
        }
        for d in receive_n(&b, &src, n, Duration::from_secs(10)).await {
            d.dead_letter("broken").await.unwrap();
        }
        let report = b
            .redrive_dead_letters(&src, &RedriveOptions::default())
            .await
            .unwrap();
        assert_eq!(report.method, "StartMessageMoveTask", "{report:?}");
        assert_eq!(
            (report.moved, report.failed.len()),
            (n as u64, 0),
            "redrive {round}: {report:?}"
        );
        for d in receive_n(&b, &src, n, Duration::from_secs(10)).await {
            d.ack().await.unwrap();
        }
    }
}

/// A FIFO message that SQS itself dead-lettered may keep its deduplication id (LocalStack
/// does); sending it back with that id within 5 minutes of its first send would be
/// dropped as a duplicate of it (and lost once deleted from the dead-letter queue). courier derives a new id
/// from it: the redriven message arrives, and the same dead letter resubmitted twice
/// (a redrive that crashed between send and delete, then ran again) arrives once
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html#SQS-SendMessage-request-MessageDeduplicationId>).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_redrive_arrives_once_however_often_it_is_sent() {
    let b = aws().await;
    let name = unique("fifo-rd");
    let mut q = QueueSpec::new(&name);
    q.fifo = true;
    q.max_receive_count = 1;
    b.provision(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .unwrap();
    let src = Source::queue(&name);
    let sent = Message::new("order o-1")
        .with_group_id("o-1")
        .with_message_id("m-1");
    b.publish(&Destination::queue(&name), sent).await.unwrap();
    let first = receive_n(&b, &src, 1, Duration::from_secs(10)).await;
    first
        .into_iter()
        .next()
        .unwrap()
        .nack(Duration::ZERO)
        .await
        .unwrap();
    // The next receive finds it over its maxReceiveCount: SQS moves it to the dead-letter queue.
    assert!(receive_n(&b, &src, 1, Duration::from_secs(2))
        .await
        .is_empty());
    let dead = receive_n(&b, &src.dead_letter(), 1, Duration::from_secs(10)).await;
    let dead = dead.into_iter().next().expect("SQS dead-lettered it");
    // LocalStack keeps the deduplication id "m-1"; AWS replaces it with the message's id
    // when it moves a message to a FIFO dead-letter queue ("Learn how to configure a
    // dead-letter queue redrive in Amazon SQS"). The id derived from it differs from
    // the first send's either way.
    assert!(dead.message().dedup_id.is_some(), "{:?}", dead.message());
    for _ in 0..2 {
        b.resubmit(&src, returning(dead.message())).await.unwrap();
    }
    dead.ack().await.unwrap();
    let back = receive_n(&b, &src, 2, Duration::from_secs(4)).await;
    assert_eq!(
        back.len(),
        1,
        "sent twice, stored once, not dropped: {back:?}"
    );
    assert_eq!(back[0].message().body, b"order o-1");
    assert_eq!(
        back[0].message().group_id.as_deref(),
        Some("o-1"),
        "group kept"
    );
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn tags(b: &AwsBroker, url: &str) -> HashMap<String, String> {
    b.sqs()
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default()
}

/// Reply queues are named and tagged so they can be found
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListQueueTags.html>),
/// beat while their broker lives, and one whose process died is deleted by the clean-up;
/// live ones and foreign queues with the same prefix stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_reply_queues_are_found_and_deleted() {
    let live = aws()
        .await
        .with_reply_queue_heartbeat(Duration::from_secs(1));
    let queue = live.create_reply_queue().await.unwrap();
    assert!(queue.address.contains(REPLY_QUEUE_PREFIX), "{queue:?}");
    let t = tags(&live, &queue.address).await;
    assert_eq!(t[TAG_ROLE], "reply-queue");
    let created: u64 = t[TAG_CREATED].parse().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let beat: u64 = tags(&live, &queue.address).await[TAG_HEARTBEAT]
        .parse()
        .unwrap();
    assert!(
        beat > created,
        "the heartbeat moves: {beat} after {created}"
    );

    // A process killed without shutting its requester down: its broker is gone, its
    // queue stays with a heartbeat that no longer moves (here: 20 minutes ago).
    let dead = aws().await;
    let abandoned = dead.create_reply_queue().await.unwrap();
    drop(dead);
    live.sqs()
        .tag_queue()
        .queue_url(&abandoned.address)
        .tags(TAG_HEARTBEAT, (unix_now() - 20 * 60).to_string())
        .send()
        .await
        .unwrap();
    let foreign = live
        .sqs()
        .create_queue()
        .queue_name(format!("{REPLY_QUEUE_PREFIX}{}", unique("not-ours")))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let sweep = live
        .clean_reply_queues(Duration::from_secs(10 * 60))
        .await
        .unwrap();
    assert!(sweep.deleted.contains(&abandoned.address), "{sweep:?}");
    assert!(sweep.alive.contains(&queue.address), "{sweep:?}");
    assert!(sweep.foreign.contains(&foreign), "{sweep:?}");
    assert!(!sweep.deleted.contains(&queue.address) && !sweep.deleted.contains(&foreign));
    let gone = live.receive(&abandoned.source, 1, Duration::ZERO).await;
    assert!(gone.is_err_and(|e| e.is_not_found()));

    live.delete_reply_queue(&queue).await.unwrap();
    live.sqs()
        .delete_queue()
        .queue_url(&foreign)
        .send()
        .await
        .unwrap();
}

/// A responder written with boto3 alone answers a courier request: it reads `ReplyTo`
/// and `CorrelationId` as plain message attributes and replies with SendMessage (the
/// wire form the README documents; aws/tests/sdk/responder.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boto3_responder_answers_a_courier_request() {
    let python = std::env::var("COURIER_TEST_SDK_PYTHON").unwrap_or_else(|_| {
        panic!("COURIER_TEST_SDK_PYTHON must name a Python with boto3 (aws/tests/sdk/requirements.txt); ./scripts/test.sh sets it up")
    });
    let b = aws().await;
    let name = fresh_queue(&b, "boto3-desk", false).await;
    let url = b
        .sqs()
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/responder.py");
    let endpoint = support::localstack();
    let responder = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .args([script, &endpoint, &url])
            .output()
    });

    let broker: Arc<dyn Broker> = Arc::new(b);
    let requester = Requester::new(broker);
    let ask = Event::new(
        "/checkout",
        "ReserveStock",
        serde_json::json!({"sku": "MUG-RED"}),
    );
    let reply: Event<serde_json::Value> = requester
        .request(&Destination::queue(&name), &ask, Duration::from_secs(40))
        .await
        .expect("the boto3 responder answers");
    assert_eq!(reply.ty, "StockReserved");
    assert_eq!(reply.source, "/boto3-warehouse");
    assert_eq!(
        reply.data,
        serde_json::json!({"sku": "MUG-RED", "reserved": true})
    );

    let out = responder.await.unwrap().expect("python runs");
    assert!(
        out.status.success(),
        "responder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reply_queue = requester.reply_queue().unwrap().clone();
    assert_eq!(
        seen["reply_to"],
        reply_queue.address.as_str(),
        "ReplyTo is the queue URL"
    );
    assert_eq!(seen["type"], "ReserveStock");
    assert!(!seen["correlation_id"].as_str().unwrap().is_empty());
    requester.shutdown().await.unwrap();
}

/// Counts what a queue holds, through the plain SDK.
async fn visible(b: &AwsBroker, name: &str) -> u64 {
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
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    out.attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap()
}
