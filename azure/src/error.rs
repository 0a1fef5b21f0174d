//! What an HTTP answer of Service Bus means, by status and by the operation that got it
//! (the REST reference lists each operation's codes), as courier's typed errors. The
//! service's answer is kept as the error's `source`; nothing is recognised by its text.

use std::time::Duration;

use courier_core::Error;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::http_date;

/// The operation an HTTP status answers: the same status means different things for
/// different operations (a 404 on a lock URI is a lost lock, on an entity a missing one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// "Send Message" / "Send Message Batch".
    Send,
    /// "Peek-Lock Message".
    Receive,
    /// "Delete Message", "Unlock Message", "Renew-Lock for a Message".
    Settle,
    /// Management: entities and rules (Atom).
    Manage,
}

/// An operation on one entity, for error texts (`Send Message to queue 'orders'`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) operation: Operation,
    /// The entity, as courier names it (e.g. `queue 'orders'`).
    pub(crate) target: &'a str,
}

impl Call<'_> {
    fn name(&self) -> &'static str {
        match self.operation {
            Operation::Send => "send to",
            Operation::Receive => "peek-lock on",
            Operation::Settle => "settle a message of",
            Operation::Manage => "manage",
        }
    }

    /// `send to queue 'orders'`.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.name(), self.target)
    }
}

/// The answer of Service Bus to a call that failed: kept as the `source` of the
/// [`courier_core::Error`] the call returns.
#[derive(Debug, thiserror::Error)]
#[error("{call}: Service Bus answered HTTP {status}{}", detail_suffix(.detail))]
pub struct ServiceBusError {
    /// The HTTP status.
    pub status: u16,
    /// The call, e.g. `send to queue 'orders'`.
    pub call: String,
    /// The service's explanation (the `Detail` of its error body), if it gave one.
    pub detail: String,
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// The explanation in a Service Bus error body (`<Error><Code>…</Code><Detail>…</Detail>`),
/// or the start of the body when it is not that.
fn detail_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let detail = roxmltree::Document::parse(&text).ok().and_then(|doc| {
        doc.descendants()
            .find(|n| n.has_tag_name("Detail"))
            .and_then(|n| n.text())
            .map(str::to_owned)
    });
    detail
        .unwrap_or_else(|| text.into_owned())
        .chars()
        .take(300)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date::parse(value)?;
    Duration::try_from(at - time::OffsetDateTime::now_utc()).ok()
}

/// The typed error for a failed answer of `call`.
pub(crate) fn from_status(
    call: Call<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let answer = ServiceBusError {
        status: status.as_u16(),
        call: call.describe(),
        detail: detail_of(body),
    };
    let message = answer.to_string();
    let source = Some(Box::new(answer) as courier_core::BoxError);
    let target = call.target.to_owned();
    match (status.as_u16(), call.operation) {
        (401, _) => Error::Unauthorized { message, source },
        // "Send Message": 403 is "Quota exceeded or message too large"; creating an entity
        // beyond the namespace's quota answers 403 as well.
        (403, Operation::Send | Operation::Manage) => Error::QuotaExceeded { message, source },
        (403, _) => Error::Unauthorized { message, source },
        // A lock URI that is gone: the lock expired or the message was settled elsewhere.
        (404, Operation::Settle) => Error::LockLost { message, source },
        (404 | 410, _) => Error::NotFound {
            what: target,
            source,
        },
        (409, _) => Error::Conflict {
            what: message,
            source,
        },
        (400 | 413, _) => Error::InvalidInput { message, source },
        (429 | 500..=599, _) => Error::Transient {
            message,
            retry_after: retry_after(headers),
            source,
        },
        _ => Error::Backend { message, source },
    }
}

/// The error for a call that got no answer.
pub(crate) fn from_transport(call: Call<'_>, err: reqwest::Error, timeout: Duration) -> Error {
    if err.is_timeout() {
        return Error::Timeout {
            what: call.describe(),
            after: timeout,
        };
    }
    if err.is_builder() {
        return Error::InvalidInput {
            message: format!("{}: the request cannot be made", call.describe()),
            source: Some(Box::new(err)),
        };
    }
    // Connection refused, reset, TLS, a broken body: another attempt may succeed.
    Error::Transient {
        message: call.describe(),
        retry_after: None,
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(operation: Operation) -> Call<'static> {
        Call {
            operation,
            target: "queue 'orders'",
        }
    }

    fn error(operation: Operation, status: u16, headers: &[(&str, &str)]) -> Error {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let body = b"<Error><Code>403</Code><Detail>The maximum entity size has been reached. TrackingId:1</Detail></Error>";
        from_status(
            call(operation),
            StatusCode::from_u16(status).unwrap(),
            &map,
            body,
        )
    }

    #[test]
    fn statuses_mean_what_the_operation_documents() {
        use Operation::*;
        // "Send Message" / "Send Message Batch" response codes.
        assert!(matches!(error(Send, 403, &[]), Error::QuotaExceeded { .. }));
        assert!(matches!(error(Send, 401, &[]), Error::Unauthorized { .. }));
        assert!(matches!(error(Send, 410, &[]), Error::NotFound { .. }));
        assert!(matches!(error(Send, 400, &[]), Error::InvalidInput { .. }));
        // "Unlock Message", "Delete Message", "Renew-Lock": 404 is an unknown lock, 410 a
        // missing entity.
        assert!(matches!(error(Settle, 404, &[]), Error::LockLost { .. }));
        assert!(matches!(error(Settle, 410, &[]), Error::NotFound { .. }));
        assert!(matches!(
            error(Receive, 403, &[]),
            Error::Unauthorized { .. }
        ));
        assert!(matches!(error(Manage, 409, &[]), Error::Conflict { .. }));
        let e = error(Receive, 500, &[]);
        assert!(e.is_transient() && e.retry_after().is_none());
    }

    #[test]
    fn throttling_says_when_to_come_back() {
        let e = error(Operation::Send, 429, &[("retry-after", "12")]);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        let later =
            http_date::format(time::OffsetDateTime::now_utc() + time::Duration::seconds(90));
        let e = error(Operation::Receive, 503, &[("retry-after", &later)]);
        let after = e.retry_after().expect("an HTTP-date Retry-After");
        assert!(after > Duration::from_secs(80) && after <= Duration::from_secs(90));
    }

    #[test]
    fn the_answer_is_kept_as_the_source_with_its_detail() {
        let e = error(Operation::Send, 403, &[]);
        let source = std::error::Error::source(&e).expect("the answer");
        let answer = source.downcast_ref::<ServiceBusError>().expect("typed");
        assert_eq!(answer.status, 403);
        assert_eq!(
            answer.detail,
            "The maximum entity size has been reached. TrackingId:1"
        );
        assert!(e.to_string().contains("send to queue 'orders'"), "{e}");
    }
}
