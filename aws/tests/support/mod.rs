//! What the AWS tests share: LocalStack's address, SDK configurations, and small TCP
//! servers that misbehave on purpose (a stall, a fault-injecting proxy, canned answers).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// LocalStack's URL: `COURIER_TEST_LOCALSTACK_URL`, else `AWS_ENDPOINT_URL`, else
/// `http://127.0.0.1:${LOCALSTACK_PORT:-4566}`.
pub fn localstack() -> String {
    std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            format!(
                "http://127.0.0.1:{}",
                std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".into())
            )
        })
}

/// An SDK configuration for `endpoint` with LocalStack's test credentials, and the given
/// timeouts and retries (`None`: the SDK's defaults).
pub async fn sdk_config(
    endpoint: &str,
    timeouts: Option<TimeoutConfig>,
    retry: Option<RetryConfig>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "courier-tests",
        ));
    if let Some(t) = timeouts {
        loader = loader.timeout_config(t);
    }
    if let Some(r) = retry {
        loader = loader.retry_config(r);
    }
    loader.load().await
}

/// A server that accepts connections and never answers: a peer gone half-open.
pub async fn stall() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // kept open, never read, never answered
        }
    });
    url
}

/// A TCP proxy to `upstream` (an `http://host:port` URL) that forwards until
/// [`Proxy::stall`], then stops forwarding in both directions on every connection, old
/// and new, keeping them open: calls through it hang as on a half-open connection.
pub struct Proxy {
    /// The proxy's URL.
    pub url: String,
    stalled: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, flag) = (upstream.clone(), flag.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        forward_both(client, server, flag).await;
                    }
                });
            }
        });
        Proxy { url, stalled }
    }

    /// From now on nothing passes.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

async fn forward_both(client: TcpStream, server: TcpStream, stalled: Arc<AtomicBool>) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = tokio::spawn(forward(cr, sw, stalled.clone()));
    let down = tokio::spawn(forward(sr, cw, stalled));
    let _ = tokio::join!(up, down);
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if stalled.load(Ordering::SeqCst) {
            // Half-open: hold both ends, pass nothing.
            std::future::pending::<()>().await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// One canned HTTP answer.
#[derive(Clone)]
pub struct CannedResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

impl CannedResponse {
    /// A 200 with this JSON body.
    pub fn ok(body: serde_json::Value) -> CannedResponse {
        CannedResponse {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// An SQS error as the JSON protocol with query compatibility sends it: the shape's
    /// `__type` in the body and the query error code in `x-amzn-query-error`
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-api-responses.html>).
    pub fn sqs_error(status: u16, shape: &str, query_code: &str, fault: &str) -> CannedResponse {
        CannedResponse {
            status,
            headers: vec![(
                "x-amzn-query-error".into(),
                format!("{query_code};{fault}"),
            )],
            body: serde_json::json!({"__type": format!("com.amazonaws.sqs#{shape}"), "message": "canned by the test"}).to_string(),
        }
    }
}

/// A fake SQS endpoint answering each `X-Amz-Target` operation (e.g.
/// `AmazonSQS.ReceiveMessage`) from `answers`; anything else gets a 500.
pub async fn fake_sqs(answers: Vec<(&'static str, CannedResponse)>) -> String {
    fake_sqs_in_turn(answers.into_iter().map(|(op, a)| (op, vec![a])).collect()).await
}

/// Canned answers per operation, given in turn.
type AnswersInTurn = parking_lot::Mutex<Vec<(&'static str, VecDeque<CannedResponse>)>>;

/// A fake SQS endpoint answering each operation with its answers in turn, the last one
/// again and again; anything else gets a 500.
pub async fn fake_sqs_in_turn(answers: Vec<(&'static str, Vec<CannedResponse>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let answers: Arc<AnswersInTurn> = Arc::new(parking_lot::Mutex::new(
        answers
            .into_iter()
            .map(|(op, a)| (op, VecDeque::from(a)))
            .collect(),
    ));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let _ = answer_requests(socket, &answers).await;
            });
        }
    });
    url
}

/// The next answer to `target`, if there is one.
fn next_answer(answers: &AnswersInTurn, target: &str) -> Option<CannedResponse> {
    let mut answers = answers.lock();
    let (_, queue) = answers.iter_mut().find(|(op, _)| *op == target)?;
    if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().cloned()
    }
}

async fn answer_requests(mut socket: TcpStream, answers: &AnswersInTurn) -> std::io::Result<()> {
    loop {
        let Some((head, _body)) = read_request(&mut socket).await? else {
            return Ok(());
        };
        let target = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-amz-target")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        let answer = next_answer(answers, &target).unwrap_or_else(|| CannedResponse {
            status: 500,
            headers: Vec::new(),
            body: format!("{{\"message\":\"the fake has no answer for '{target}'\"}}"),
        });
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (k, v) in &answer.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&answer.body);
        socket.write_all(out.as_bytes()).await?;
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body); `None` at end of stream.
async fn read_request(socket: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await?;
    Ok(Some((head, body)))
}

/// Short timeouts for tests of hung calls: `attempt` per attempt, `operation` in all.
pub fn short_timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}
