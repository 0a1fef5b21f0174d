//! A client of the Lambda Runtime API (`2018-06-01`), the HTTP interface on
//! `AWS_LAMBDA_RUNTIME_API` a custom runtime polls for events and answers on. Paths,
//! headers and error bodies as "Using the Lambda runtime API for custom runtimes"
//! documents them (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

/// Boxed errors, as a runtime reports them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One invocation, as `GET /runtime/invocation/next` hands it over.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: when the function times out (Unix ms).
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Trace-Id`, the X-Ray header.
    pub trace_id: Option<String>,
    /// The event JSON.
    pub body: Bytes,
}

impl Invocation {
    /// Time left until the deadline (zero when it has passed).
    pub fn remaining(&self) -> Duration {
        let deadline = UNIX_EPOCH + Duration::from_millis(self.deadline_ms);
        deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }
}

/// The Runtime API of this execution environment, over one kept-alive connection.
pub struct RuntimeApi {
    host: String,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("host", &self.host)
            .finish()
    }
}

impl RuntimeApi {
    /// The API at `AWS_LAMBDA_RUNTIME_API` (`host:port`).
    pub fn from_env() -> Result<Self, BoxError> {
        let host = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| {
            "AWS_LAMBDA_RUNTIME_API is not set: this binary is a Lambda bootstrap (run it under Lambda or `courier lambda run`)"
        })?;
        Ok(Self::new(host))
    }

    /// The API at `host:port`.
    pub fn new(host: impl Into<String>) -> Self {
        RuntimeApi {
            host: host.into(),
            connection: Mutex::new(None),
        }
    }

    /// Waits for the next invocation (no timeout: Lambda freezes the environment here).
    pub async fn next(&self) -> Result<Invocation, BoxError> {
        let (status, headers, body) = self
            .call(
                Method::GET,
                "/2018-06-01/runtime/invocation/next",
                Vec::new(),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            return Err(format!("GET /runtime/invocation/next answered {status}").into());
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("lambda-runtime-aws-request-id")
            .ok_or("the next invocation has no Lambda-Runtime-Aws-Request-Id")?;
        let deadline_ms = header("lambda-runtime-deadline-ms")
            .and_then(|d| d.parse().ok())
            .ok_or("the next invocation has no valid Lambda-Runtime-Deadline-Ms")?;
        Ok(Invocation {
            request_id,
            deadline_ms,
            trace_id: header("lambda-runtime-trace-id"),
            body,
        })
    }

    /// `POST /runtime/invocation/{id}/response`.
    pub async fn respond(&self, request_id: &str, body: Vec<u8>) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
        self.post(&path, body, None).await
    }

    /// `POST /runtime/invocation/{id}/error`: the invocation failed.
    pub async fn fail(
        &self,
        request_id: &str,
        error_type: &str,
        message: &str,
    ) -> Result<(), BoxError> {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/error");
        self.post(&path, error_body(error_type, message), Some(error_type))
            .await
    }

    /// `POST /runtime/init/error`: the function could not start.
    pub async fn init_error(&self, error_type: &str, message: &str) -> Result<(), BoxError> {
        self.post(
            "/2018-06-01/runtime/init/error",
            error_body(error_type, message),
            Some(error_type),
        )
        .await
    }

    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> Result<(), BoxError> {
        let (status, _, answer) = self.call(Method::POST, path, body, error_type).await?;
        if !status.is_success() {
            return Err(format!(
                "POST {path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            )
            .into());
        }
        Ok(())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = error_type {
            request = request.header("lambda-runtime-function-error-type", t);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let mut connection = self.connection.lock().await;
        let mut sender = match connection.take() {
            Some(mut kept) => match kept.ready().await {
                Ok(()) => kept,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let response = sender.send_request(request).await?;
        let (parts, incoming) = response.into_parts();
        let bytes = incoming.collect().await?.to_bytes();
        *connection = Some(sender);
        Ok((parts.status, parts.headers, bytes))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, BoxError> {
        let stream = tokio::net::TcpStream::connect(&self.host).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "runtime API connection closed");
            }
        });
        Ok(sender)
    }
}

/// The error document Lambda expects: `{"errorMessage": …, "errorType": …}`.
fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "errorMessage": message, "errorType": error_type })
        .to_string()
        .into_bytes()
}
