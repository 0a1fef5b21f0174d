//! Error answers, in the service's shape: an HTTP status and an XML body
//! `<Error><Code>400</Code><Detail>…</Detail></Error>` (the `ServiceBusManagementError`
//! model of azure-servicebus, `Code` and `Detail`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::atom::xml::escape;

/// A request the stand-in refuses, with the status the service answers and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// What is wrong, named.
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Failure {
            status,
            detail: detail.into(),
        }
    }

    /// 400: the request is malformed or not allowed.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: the SAS token is missing, malformed, expired or does not cover the resource.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: "Quota exceeded or message too large" (Send Message).
    pub(crate) fn quota(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such lock, rule or entity (management).
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409: the entity exists.
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 410: the queue, topic or subscription of a messaging call does not exist.
    pub(crate) fn gone(entity: &str) -> Self {
        Self::new(
            StatusCode::GONE,
            format!("The messaging entity '{entity}' could not be found."),
        )
    }

    /// 501: something the service does that this stand-in does not model (never a
    /// silent no-op).
    pub(crate) fn not_modelled(what: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "{} is not modelled by the courier Service Bus stand-in",
                what.into()
            ),
        )
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.detail)
    }
}

impl std::error::Error for Failure {}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = format!(
            "<Error><Code>{}</Code><Detail>{}</Detail></Error>",
            self.status.as_u16(),
            escape(&self.detail)
        );
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        res
    }
}
