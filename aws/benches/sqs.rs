//! Publish N then consume+ack N through SQS on LocalStack, three ways in one run:
//! (a) a naive one-message-at-a-time aws-sdk loop, (b) a hand-tuned aws-sdk baseline
//! (batches of 10, concurrent calls and pollers: the practical ceiling of this LocalStack),
//! (c) courier (`publish_batch`, then a `Worker` with pollers and batched acks).
//!
//! `./localstack/start.sh`, then
//! `AWS_ENDPOINT_URL=http://127.0.0.1:4566 cargo bench -p courier-aws --bench sqs -- [N] [ROUNDS]`
//! (defaults 5000 and 1). Reports messages/s and client CPU seconds per 1000 messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
};
use courier_aws::AwsBroker;
use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, Message, Publisher, Source};

const SEND_CONCURRENCY: usize = 16;
const POLLERS: usize = 8;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// User + system CPU seconds of this process so far (from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn event(i: usize) -> Event<serde_json::Value> {
    Event::new(
        "/bench",
        "OrderCreated",
        serde_json::json!({"order_id": format!("order-{i}"), "total_cents": 2500}),
    )
}

fn string_attr(v: String) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("attribute")
}

/// The same message courier sends, built by hand: the body, and the event context as
/// attributes (type and source to filter on, the rest packed), so that every variant
/// moves the same bytes.
fn by_hand(i: usize) -> (String, HashMap<String, MessageAttributeValue>) {
    let e = event(i);
    let pack = serde_json::json!({
        "attrs": {"ce_id": e.id, "ce_specversion": "1.0", "ce_time": e.time.expect("time").to_rfc3339()},
        "content_type": "application/json",
        "message_id": e.id,
    });
    let attrs = HashMap::from([
        ("ce_type".to_owned(), string_attr(e.ty.clone())),
        ("ce_source".to_owned(), string_attr(e.source.clone())),
        ("courier".to_owned(), string_attr(pack.to_string())),
    ]);
    (serde_json::to_string(&e.data).expect("json"), attrs)
}

async fn fresh_queue(broker: &AwsBroker, tag: &str) -> (String, String) {
    let name = courier_core::conformance::unique(tag);
    let mut q = QueueSpec::new(&name);
    q.max_receive_count = 100;
    broker
        .provision(&Topology {
            queues: vec![q],
            ..Topology::default()
        })
        .await
        .expect("provision");
    let url = broker
        .sqs()
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .expect("url")
        .queue_url
        .expect("url");
    (name, url)
}

async fn naive(broker: &AwsBroker, n: usize) {
    let sqs = broker.sqs();
    let (_, url) = fresh_queue(broker, "naive").await;
    for i in 0..n {
        let (body, attrs) = by_hand(i);
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .set_message_attributes(Some(attrs))
            .send()
            .await
            .expect("send");
    }
    let mut got = 0;
    while got < n {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle.expect("handle"))
                .send()
                .await
                .expect("delete");
            got += 1;
        }
    }
}

async fn hand_tuned(broker: &AwsBroker, n: usize) {
    let sqs = broker.sqs().clone();
    let (_, url) = fresh_queue(broker, "tuned").await;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SEND_CONCURRENCY {
        let (sqs, url, next) = (sqs.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(10, Ordering::Relaxed);
                if start >= n {
                    break;
                }
                let entries = (start..(start + 10).min(n))
                    .map(|i| {
                        let (body, attrs) = by_hand(i);
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body)
                            .set_message_attributes(Some(attrs))
                            .build()
                            .expect("entry")
                    })
                    .collect();
                let out = sqs
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("send batch");
                assert!(out.failed.is_empty());
            }
        }));
    }
    for t in tasks.drain(..) {
        t.await.expect("sender");
    }
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..POLLERS {
        let (sqs, url, done) = (sqs.clone(), url.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < n {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .message_attribute_names("All")
                    .send()
                    .await
                    .expect("receive");
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() {
                    continue;
                }
                let entries = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle.clone().expect("handle"))
                            .build()
                            .expect("entry")
                    })
                    .collect();
                sqs.delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("delete batch");
                done.fetch_add(msgs.len(), Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("poller");
    }
}

async fn courier(broker: &AwsBroker, n: usize) {
    let (name, _) = fresh_queue(broker, "courier").await;
    let messages: Vec<Message> = (0..n)
        .map(|i| event(i).to_message().expect("encode"))
        .collect();
    for r in broker
        .publish_batch(&Destination::queue(&name), messages)
        .await
        .expect("publish")
    {
        r.expect("entry");
    }
    let w = Worker::new(
        Arc::new(broker.clone()) as Arc<dyn Broker>,
        Source::queue(&name),
    )
    .pollers(POLLERS)
    .concurrency(POLLERS * 10)
    .poll_wait(Duration::from_secs(1))
    .handle(
        "OrderCreated",
        handler_fn(|e: Event<serde_json::Value>, _ctx| async move {
            std::hint::black_box(e);
            Ok::<(), HandlerError>(())
        }),
    );
    let stats = w.stats();
    let target = n as u64;
    let report = w
        .run(async move {
            while stats.snapshot().acked < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("worker");
    assert_eq!(report.acked, target, "{report}");
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(5000);
    let rounds = args.next().unwrap_or(1).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let names = [
        "naive aws-sdk loop",
        "hand-tuned aws-sdk (batches, concurrency)",
        "courier (publish_batch + Worker)",
    ];
    let mut results = vec![(Vec::new(), Vec::new()); names.len()];
    rt.block_on(async {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region("us-east-1")
            .endpoint_url(endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .load()
            .await;
        let broker = AwsBroker::from_sdk_config(&sdk);
        for _ in 0..rounds {
            for (i, r) in results.iter_mut().enumerate() {
                let (cpu, start) = (cpu_seconds(), Instant::now());
                match i {
                    0 => naive(&broker, n).await,
                    1 => hand_tuned(&broker, n).await,
                    _ => courier(&broker, n).await,
                }
                r.0.push(start.elapsed());
                r.1.push(cpu_seconds() - cpu);
            }
        }
    });
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate: Vec<f64> = results
        .iter()
        .map(|(t, _)| {
            med(&t
                .iter()
                .map(|d| n as f64 / d.as_secs_f64())
                .collect::<Vec<_>>())
        })
        .collect();
    let cpu: Vec<f64> = results
        .iter()
        .map(|(_, c)| med(c) * 1000.0 / n as f64)
        .collect();
    println!("publish {n} then consume+ack {n} on LocalStack {} (median of {rounds} round(s), 2 runtime threads)", endpoint());
    println!(
        "{:<44} {:>10} {:>16} {:>12} {:>12}",
        "variant", "msgs/s", "CPU s/1000 msgs", "vs naive", "vs tuned"
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<44} {:>10.0} {:>16.3} {:>11.2}x {:>11.2}x",
            rate[i],
            cpu[i],
            rate[i] / rate[0],
            rate[i] / rate[1]
        );
    }
}
