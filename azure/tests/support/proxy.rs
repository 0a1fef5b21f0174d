//! A loopback HTTP proxy between courier and the stand-in (or a real namespace): it
//! records every request and can answer some of them itself (a 503 with `Retry-After`, a
//! 403, a 500) or rewrite the answers it forwards (a server clock that is off).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use parking_lot::Mutex;

type Matcher = Box<dyn Fn(&Method, &str) -> bool + Send + Sync>;
type Rewrite = Box<dyn Fn(&Method, &str, &mut HeaderMap) + Send + Sync>;

struct Injection {
    matches: Matcher,
    status: u16,
    headers: Vec<(&'static str, String)>,
    remaining: usize,
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    log: Mutex<Vec<(Method, String)>>,
    injections: Mutex<Vec<Injection>>,
    rewrite: Mutex<Option<Rewrite>>,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy forwarding to `upstream` (a base URL).
    pub async fn start(upstream: String) -> Self {
        let state = Arc::new(ProxyState {
            upstream,
            ..ProxyState::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { addr, state, task }
    }

    /// The endpoint to give courier.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far: method and path with query.
    pub fn log(&self) -> Vec<(Method, String)> {
        self.state.log.lock().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.state.log.lock().clear();
    }

    /// Answers the next `times` requests that `matches` itself, with `status` and `headers`.
    pub fn inject(
        &self,
        matches: impl Fn(&Method, &str) -> bool + Send + Sync + 'static,
        status: u16,
        headers: &[(&'static str, &str)],
        times: usize,
    ) {
        self.state.injections.lock().push(Injection {
            matches: Box::new(matches),
            status,
            headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            remaining: times,
        });
    }

    /// Rewrites the headers of every forwarded answer.
    pub fn rewrite(&self, f: impl Fn(&Method, &str, &mut HeaderMap) + Send + Sync + 'static) {
        *self.state.rewrite.lock() = Some(Box::new(f));
    }
}

fn injected(state: &ProxyState, method: &Method, path: &str) -> Option<Response> {
    let mut injections = state.injections.lock();
    let hit = injections
        .iter_mut()
        .find(|i| i.remaining > 0 && (i.matches)(method, path))?;
    hit.remaining -= 1;
    let mut res = Response::new(Body::from("<Error><Code>injected</Code></Error>"));
    *res.status_mut() = StatusCode::from_u16(hit.status).unwrap();
    for (k, v) in &hit.headers {
        res.headers_mut().insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Some(res)
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().trim_start_matches('/').to_owned())
        .unwrap_or_default();
    state.log.lock().push((method.clone(), path.clone()));
    if let Some(res) = injected(&state, &method, &path) {
        return res;
    }
    let mut req =
        reqwest::Client::new().request(method.clone(), format!("{}/{path}", state.upstream));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let upstream = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            let mut res = Response::new(Body::from(e.to_string()));
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            return res;
        }
    };
    let status = upstream.status();
    let mut out_headers = upstream.headers().clone();
    out_headers.remove("content-length");
    out_headers.remove("transfer-encoding");
    let body = upstream.bytes().await.unwrap_or_default();
    if let Some(rewrite) = state.rewrite.lock().as_ref() {
        rewrite(&method, &path, &mut out_headers);
    }
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    *res.headers_mut() = out_headers;
    res
}
