//! Request-response round trips per second with 1 and 32 requests in flight, in one run:
//! (a) courier on the memory broker, (b) courier on LocalStack (`Requester` + a `Worker`
//! that replies), (c) the same exchange written by hand with aws-sdk-sqs: a requester
//! with its own reply queue and a listener matching `CorrelationId`, and a responder that
//! answers to `ReplyTo` — the wire form courier documents.
//!
//! `./localstack/start.sh`, then
//! `AWS_ENDPOINT_URL=http://127.0.0.1:4566 cargo bench -p courier-aws --bench requests -- [SECS]`
//! (default 5 seconds per variant). The machine is shared: compare the ratios.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageAttributeValue};
use courier_aws::AwsBroker;
use courier_core::request::Requester;
use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, Context, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, MemoryBroker, Source};
use parking_lot::Mutex;
use tokio::sync::oneshot;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

fn ask(i: usize) -> Event<serde_json::Value> {
    Event::new("/bench", "Ask", serde_json::json!({"n": i}))
}

/// Runs `one` from `in_flight` tasks for `secs`; round trips per second.
async fn drive<F, Fut>(in_flight: usize, secs: u64, one: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let one = Arc::new(one);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let (one, stop) = (one.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    one(t * 1_000_000 + done).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// A courier responder on `queue` that answers every `Ask`.
fn courier_responder(broker: Arc<dyn Broker>, queue: &str) -> tokio::task::JoinHandle<()> {
    let worker = Worker::new(broker, Source::queue(queue))
        .concurrency(64)
        .poll_wait(Duration::from_secs(1))
        .handle(
            "Ask",
            handler_fn(|e: Event<serde_json::Value>, ctx: Context| async move {
                let answer = Event::new("/bench", "Answer", e.data);
                ctx.reply(&answer).await.map_err(HandlerError::retry)?;
                Ok(())
            }),
        );
    tokio::spawn(async move {
        let _ = worker.run(std::future::pending()).await;
    })
}

async fn courier_variant(broker: Arc<dyn Broker>, in_flight: usize, secs: u64) -> f64 {
    let queue = format!(
        "bench-rr-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let topology = Topology {
        queues: vec![QueueSpec::new(&queue)],
        ..Topology::default()
    };
    broker.provision(&topology).await.expect("provision");
    let responder = courier_responder(broker.clone(), &queue);
    let requester = Arc::new(Requester::new(broker));
    let dest = Destination::queue(&queue);
    // Warm-up: the reply queue is made on the first request.
    let _: Event<serde_json::Value> = requester
        .request(&dest, &ask(0), Duration::from_secs(30))
        .await
        .expect("warm-up");
    let r = requester.clone();
    let rate = drive(in_flight, secs, move |i| {
        let (r, dest) = (r.clone(), dest.clone());
        async move {
            let _: Event<serde_json::Value> = r
                .request(&dest, &ask(i), Duration::from_secs(30))
                .await
                .expect("request");
        }
    })
    .await;
    responder.abort();
    if let Ok(r) = Arc::try_unwrap(requester) {
        r.shutdown().await.expect("shutdown");
    }
    rate
}

fn string_attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("attribute")
}

fn attr(m: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    m.message_attributes()?
        .get(name)?
        .string_value()
        .map(str::to_owned)
}

async fn delete_all(sqs: &aws_sdk_sqs::Client, url: &str, ms: &[aws_sdk_sqs::types::Message]) {
    let entries: Vec<_> = ms
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        let _ = sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await;
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .send()
        .await
        .map(|o| o.messages.unwrap_or_default())
        .unwrap_or_default()
}

/// The hand-written responder: receive, answer each to its `ReplyTo` at once, delete.
fn sdk_responder(sqs: aws_sdk_sqs::Client, url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let got = receive(&sqs, &url).await;
            let replies = got.iter().filter_map(|m| {
                let (to, id) = (attr(m, "ReplyTo")?, attr(m, "CorrelationId")?);
                let sqs = sqs.clone();
                let body = m.body().unwrap_or_default().to_owned();
                Some(async move {
                    let _ = sqs
                        .send_message()
                        .queue_url(to)
                        .message_body(body)
                        .message_attributes("CorrelationId", string_attr(&id))
                        .send()
                        .await;
                })
            });
            futures_util::future::join_all(replies).await;
            delete_all(&sqs, &url, &got).await;
        }
    })
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// The hand-written requester's listener: match `CorrelationId`, delete.
fn sdk_listener(
    sqs: aws_sdk_sqs::Client,
    url: String,
    waiting: Waiting,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let got = receive(&sqs, &url).await;
            for m in &got {
                if let Some(tx) = attr(m, "CorrelationId").and_then(|id| waiting.lock().remove(&id))
                {
                    let _ = tx.send(());
                }
            }
            delete_all(&sqs, &url, &got).await;
        }
    })
}

async fn sdk_variant(sqs: aws_sdk_sqs::Client, in_flight: usize, secs: u64) -> f64 {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let make = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("create")
                .queue_url
                .expect("url")
        }
    };
    let (desk, replies) = (
        make(format!("bench-sdk-{id}")).await,
        make(format!("bench-sdk-reply-{id}")).await,
    );
    let waiting: Waiting = Arc::default();
    let responder = sdk_responder(sqs.clone(), desk.clone());
    let listener = sdk_listener(sqs.clone(), replies.clone(), waiting.clone());
    let (s, w) = (sqs.clone(), waiting.clone());
    let rate = drive(in_flight, secs, move |i| {
        let (sqs, waiting, desk, replies) = (s.clone(), w.clone(), desk.clone(), replies.clone());
        async move {
            let correlation = uuid::Uuid::new_v4().to_string();
            let (tx, rx) = oneshot::channel();
            waiting.lock().insert(correlation.clone(), tx);
            let body = serde_json::json!({"n": i}).to_string();
            sqs.send_message()
                .queue_url(desk)
                .message_body(body)
                .message_attributes("ReplyTo", string_attr(&replies))
                .message_attributes("CorrelationId", string_attr(&correlation))
                .send()
                .await
                .expect("send");
            tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .expect("reply in time")
                .expect("listener");
        }
    })
    .await;
    responder.abort();
    listener.abort();
    rate
}

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region("us-east-1")
            .endpoint_url(endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .load()
            .await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let aws: Arc<dyn Broker> = Arc::new(AwsBroker::from_sdk_config(&sdk));
        let memory: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
        println!("request-response round trips/s, {secs} s per variant (same run)");
        println!(
            "{:<44} {:>12} {:>12}",
            "variant", "1 in flight", "32 in flight"
        );
        let mut rows = Vec::new();
        for (name, which) in [
            ("courier, memory broker", 0),
            ("hand-written aws-sdk-sqs, LocalStack", 1),
            ("courier, LocalStack", 2),
        ] {
            let mut rates = [0.0; 2];
            for (k, in_flight) in [1usize, 32].into_iter().enumerate() {
                rates[k] = match which {
                    0 => courier_variant(memory.clone(), in_flight, secs).await,
                    1 => sdk_variant(sqs.clone(), in_flight, secs).await,
                    _ => courier_variant(aws.clone(), in_flight, secs).await,
                };
            }
            println!("{name:<44} {:>12.0} {:>12.0}", rates[0], rates[1]);
            rows.push(rates);
        }
        println!(
            "courier / hand-written on LocalStack: {:.2} (1 in flight), {:.2} (32 in flight)",
            rows[2][0] / rows[1][0],
            rows[2][1] / rows[1][1]
        );
    });
}
