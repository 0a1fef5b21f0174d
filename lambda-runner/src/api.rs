//! A local Lambda Runtime API (the `2018-06-01` interface a `bootstrap` polls).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What the function answered for one invocation.
#[derive(Debug)]
pub(crate) enum FunctionAnswer {
    /// `POST …/response`: the function's result.
    Response(Bytes),
    /// `POST …/error`: the function failed.
    Error(Bytes),
}

/// One event handed to the function.
pub(crate) struct Invocation {
    pub(crate) id: String,
    pub(crate) body: Vec<u8>,
    pub(crate) deadline_ms: u64,
    pub(crate) function_arn: String,
    pub(crate) answer: oneshot::Sender<FunctionAnswer>,
}

/// What the runner learns from the function's requests.
#[derive(Default)]
pub(crate) struct Observed {
    /// When the function (its current process) first asked for an event.
    pub(crate) first_poll: Option<Instant>,
    /// What it reported to `/runtime/init/error`.
    pub(crate) init_error: Option<String>,
}

struct ApiState {
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<FunctionAnswer>>>,
    observed: Arc<Mutex<Observed>>,
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    {
        let mut seen = state.observed.lock();
        seen.first_poll.get_or_insert_with(Instant::now);
    }
    let Some(inv) = state.next.lock().await.recv().await else {
        return (StatusCode::GONE, "the runner is stopping").into_response();
    };
    state.pending.lock().insert(inv.id.clone(), inv.answer);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &inv.id);
    set("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &inv.function_arn);
    set(
        "lambda-runtime-trace-id",
        &format!(
            "Root=1-{}-{}",
            &inv.id[..8],
            inv.id.replace('-', "")[..24].to_owned()
        ),
    );
    set("content-type", "application/json");
    (StatusCode::OK, headers, inv.body).into_response()
}

async fn answer(state: &ApiState, id: &str, answer: FunctionAnswer) -> StatusCode {
    match state.pending.lock().remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, FunctionAnswer::Response(body)).await
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, FunctionAnswer::Error(body)).await
}

async fn init_error(State(state): State<Arc<ApiState>>, body: Bytes) -> StatusCode {
    state.observed.lock().init_error = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A Runtime API served on a free loopback port, for one process of the function: a
/// restarted function gets a new one, so nothing of the old process (a request it left
/// waiting for an event) can take the new process's events.
pub(crate) struct RuntimeApiServer {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApiServer {
    pub(crate) async fn start(
        invocations: mpsc::Receiver<Invocation>,
        observed: Arc<Mutex<Observed>>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(ApiState {
            next: tokio::sync::Mutex::new(invocations),
            pending: Mutex::default(),
            observed,
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "runtime API server stopped");
            }
        });
        Ok(RuntimeApiServer { addr, task })
    }
}

impl Drop for RuntimeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
