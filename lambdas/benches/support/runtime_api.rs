//! A Lambda Runtime API on loopback, for the benchmark (the adapter measured the way a
//! function runs it: `courier_lambdas::run_sqs` on `lambda_runtime`, which polls `/next`,
//! reads the event, calls the handler and posts `/response`) and for `tests/runtime.rs`.
//!
//! Paths and headers as documented in "Using the Lambda runtime API for custom runtimes"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>). Each event is timed
//! in CPU time of this process (the function runs in it, on the same thread) from the
//! moment `/next` hands it out to the moment its `/response` arrives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// What the function posted.
#[derive(Debug)]
pub enum Answer {
    /// To `/invocation/{id}/response`, this long after `/next` handed the event out.
    Response { took: Duration, body: Bytes },
    /// To `/invocation/{id}/error`.
    Error { body: Bytes },
    /// To `/init/error`.
    InitError { body: Bytes },
}

impl Answer {
    /// The response's time and body; panics with what the function reported otherwise.
    pub fn response(self) -> (Duration, Bytes) {
        match self {
            Answer::Response { took, body } => (took, body),
            Answer::Error { body } => panic!(
                "the function failed the invocation: {}",
                String::from_utf8_lossy(&body)
            ),
            Answer::InitError { body } => panic!(
                "the function could not start: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

/// CPU time used by this process so far: on a loaded machine, unlike wall time, it does
/// not count the time other processes had the cores.
pub fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// An event to hand out, and how long before its deadline (`Lambda-Runtime-Deadline-Ms`).
pub struct Invocation {
    pub body: Vec<u8>,
    pub deadline_in: Duration,
}

struct Api {
    events: Mutex<VecDeque<Invocation>>,
    handed_out: Mutex<Option<Duration>>,
    answers: mpsc::UnboundedSender<Answer>,
    served: Mutex<u64>,
}

/// Serves `events` in order on a free loopback port; answers arrive on the receiver.
pub async fn serve(
    events: Vec<Invocation>,
) -> std::io::Result<(SocketAddr, mpsc::UnboundedReceiver<Answer>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        events: Mutex::new(events.into()),
        handed_out: Mutex::new(None),
        answers: tx,
        served: Mutex::new(0),
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, rx))
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    let Some(Invocation { body, deadline_in }) = api.events.lock().pop_front() else {
        // No more events: the function waits, as on Lambda between invocations.
        return std::future::pending().await;
    };
    let id = {
        let mut served = api.served.lock();
        *served += 1;
        format!("bench-{served}")
    };
    let deadline = SystemTime::now() + deadline_in;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
        .to_string();
    *api.handed_out.lock() = Some(cpu_time());
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline_ms),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn response(State(api): State<Arc<Api>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let took = api
        .handed_out
        .lock()
        .take()
        .map(|at| cpu_time().saturating_sub(at))
        .unwrap_or_default();
    let _ = api.answers.send(Answer::Response { took, body });
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<Api>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = api.answers.send(Answer::Error { body });
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api.answers.send(Answer::InitError { body });
    StatusCode::ACCEPTED
}
