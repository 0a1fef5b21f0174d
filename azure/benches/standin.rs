//! Publish N then consume+ack N through the Service Bus REST stand-in, two ways in one run:
//! a naive loop of the documented REST calls made one at a time with `reqwest` (one "Send
//! Message" with the event's attributes as custom properties, one "Peek-Lock Message", one
//! "Delete Message"), and courier (`publish_batch` + a `Worker` with concurrent pollers). `cargo bench -p courier-azure --bench standin -- [N]`
//! (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_azure::connection::sas_token;
use courier_azure::{AzureBroker, ConnectionString};
use courier_azure_standin::StandIn;
use courier_core::topology::{QueueSpec, Topology};
use courier_core::worker::{handler_fn, HandlerError, Worker};
use courier_core::{Broker, Destination, Event, Message, Publisher, Source};

async fn fresh_queue(b: &AzureBroker, tag: &str) -> String {
    let name = courier_core::conformance::unique(tag);
    let mut q = QueueSpec::new(&name);
    q.max_receive_count = 100;
    b.provision(&Topology {
        queues: vec![q],
        ..Topology::default()
    })
    .await
    .expect("provision");
    name
}

fn message(i: usize) -> Message {
    Event::new(
        "/bench",
        "OrderCreated",
        serde_json::json!({"order_id": format!("order-{i}"), "total_cents": 2500}),
    )
    .to_message()
    .expect("encode")
}

/// One documented REST call, signed as the SDKs sign.
fn call(
    http: &reqwest::Client,
    conn: &ConnectionString,
    endpoint: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let resource = format!(
        "{}/{}",
        conn.namespace_url(),
        path.split('?').next().unwrap()
    );
    http.request(method, format!("{endpoint}/{path}")).header(
        "authorization",
        sas_token(&resource, expiry, &conn.key_name, &conn.key),
    )
}

/// How long the two halves took: sending, then receiving and settling.
struct Phases {
    publish: Duration,
    consume: Duration,
}

async fn naive(b: &AzureBroker, conn: &ConnectionString, endpoint: &str, n: usize) -> Phases {
    let q = fresh_queue(b, "naive").await;
    let http = reqwest::Client::new();
    let start = Instant::now();
    for i in 0..n {
        // The same event, its attributes as custom properties (quoted strings).
        let m = message(i);
        let mut request = call(
            &http,
            conn,
            endpoint,
            reqwest::Method::POST,
            &format!("{q}/messages"),
        );
        for (k, v) in &m.attributes {
            request = request.header(k.as_str(), format!("\"{v}\""));
        }
        let res = request.body(m.body).send().await.expect("send");
        assert_eq!(res.status(), 201);
    }
    let publish = start.elapsed();
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        let path = format!("{q}/messages/head?timeout=1");
        let res = call(&http, conn, endpoint, reqwest::Method::POST, &path)
            .send()
            .await
            .expect("peek-lock");
        if res.status() != 201 {
            continue;
        }
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let lock = location.split_once(".servicebus.windows.net/").unwrap().1;
        let _body = res.bytes().await.expect("body");
        let done = call(&http, conn, endpoint, reqwest::Method::DELETE, lock)
            .send()
            .await
            .expect("complete");
        assert_eq!(done.status(), 200);
        got += 1;
    }
    Phases {
        publish,
        consume: start.elapsed(),
    }
}

async fn courier(b: &AzureBroker, n: usize) -> Phases {
    let q = fresh_queue(b, "courier").await;
    let start = Instant::now();
    let results = b
        .publish_batch(&Destination::queue(&q), (0..n).map(message).collect())
        .await
        .expect("publish");
    assert!(results.iter().all(Result::is_ok));
    let publish = start.elapsed();
    let start = Instant::now();
    let w = Worker::new(Arc::new(b.clone()) as Arc<dyn Broker>, Source::queue(&q))
        .pollers(8)
        .concurrency(32)
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
    let consumed = Arc::new(parking_lot::Mutex::new(None));
    let done = consumed.clone();
    let report = w
        .run(async move {
            while stats.snapshot().acked < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            *done.lock() = Some(start.elapsed());
        })
        .await
        .expect("worker");
    assert_eq!(report.acked, target);
    let consume = consumed.lock().expect("all acked");
    Phases { publish, consume }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let standin = StandIn::start("127.0.0.1:0".parse().unwrap()).await.expect("stand-in");
        let conn = ConnectionString::parse(standin.connection_string().expose()).expect("connection string");
        let b = AzureBroker::new(conn.clone(), Some(&standin.endpoint())).expect("broker");
        let start = Instant::now();
        let naive_phases = naive(&b, &conn, &standin.endpoint(), n).await;
        let naive_t = start.elapsed();
        let start = Instant::now();
        let courier_phases = courier(&b, n).await;
        let courier_t = start.elapsed();
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!("publish {n} then consume+ack {n} through the Service Bus REST stand-in (2 runtime threads, stand-in in the same process)");
        for (name, total, phases) in [
            ("naive REST loop (one call at a time)      ", naive_t, &naive_phases),
            ("courier (batch send, 8 pollers, 32 tasks) ", courier_t, &courier_phases),
        ] {
            println!(
                "{name} {:>8.0} msgs/s overall; publish {:>8.0} msgs/s, consume+ack {:>8.0} msgs/s",
                rate(total),
                rate(phases.publish),
                rate(phases.consume)
            );
        }
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "ratio: courier {:.2}x the naive loop overall; publish {:.2}x, consume+ack {:.2}x",
            ratio(naive_t, courier_t),
            ratio(naive_phases.publish, courier_phases.publish),
            ratio(naive_phases.consume, courier_phases.consume)
        );
    });
}
