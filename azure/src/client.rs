//! REST calls: the crate's where it has them, courier's own (same client, same signing)
//! where it does not (batch send, management).

use std::sync::Arc;

use azure_core::{HttpClient, Method, Request, StatusCode, Url};
use courier_core::{Error, Result};

use crate::connection::ConnectionString;

/// Maps an HTTP status of a call on `what` to courier's error.
pub(crate) fn status_error(status: StatusCode, what: &str, detail: &str) -> Error {
    let code = u16::from(status);
    let message = format!(
        "{what}: HTTP {code} {}",
        detail.chars().take(300).collect::<String>()
    )
    .trim_end()
    .to_owned();
    match code {
        401 | 403 => Error::Unauthorized {
            message,
            source: None,
        },
        404 | 410 => Error::NotFound {
            what: what.to_owned(),
            source: None,
        },
        409 => Error::Conflict {
            what: message,
            source: None,
        },
        400 | 413 => Error::invalid_input(message),
        429 | 500..=599 => Error::transient(message),
        _ => Error::Backend {
            message,
            source: None,
        },
    }
}

/// Maps an `azure_core` error of a call on `what`.
pub(crate) fn core_error(err: azure_core::Error, what: &str) -> Error {
    if let azure_core::error::ErrorKind::HttpResponse { status, error_code } = err.kind() {
        return status_error(*status, what, error_code.as_deref().unwrap_or(""));
    }
    let io = matches!(err.kind(), azure_core::error::ErrorKind::Io);
    let message = format!("{what}: {err}");
    if io {
        Error::Transient {
            message,
            retry_after: None,
            source: Some(Box::new(err)),
        }
    } else {
        Error::Backend {
            message,
            source: Some(Box::new(err)),
        }
    }
}

/// A response: status and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

/// Sends one request to `https://NS.servicebus.windows.net/{path}` (signed by the client).
pub(crate) async fn call(
    http: &Arc<dyn HttpClient>,
    conn: &ConnectionString,
    method: Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Option<String>,
    what: &str,
) -> Result<Answer> {
    let url = Url::parse(&format!("{}/{path}", conn.namespace_url()))
        .map_err(|e| Error::invalid_input(format!("{what}: bad path '{path}': {e}")))?;
    let mut req = Request::new(url, method);
    for (k, v) in headers {
        req.insert_header(*k, v.clone());
    }
    match body {
        Some(b) => {
            req.insert_header("content-length", b.len().to_string());
            req.set_body(b);
        }
        None => {
            req.insert_header("content-length", "0");
            req.set_body(azure_core::EMPTY_BODY);
        }
    }
    let res = http
        .execute_request(&req)
        .await
        .map_err(|e| core_error(e, what))?;
    let status = res.status();
    let body = res
        .into_body()
        .collect_string()
        .await
        .map_err(|e| core_error(e, what))?;
    Ok(Answer { status, body })
}
