//! The HTTP surface: authorize every request (SAS), then dispatch on path and method to
//! the runtime operations or to management.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::failure::Failure;
use crate::management::{self, Resource};
use crate::messaging;
use crate::sas::Authority;
use crate::store::{Kind, Store, SubQueue};

/// What the handler needs.
pub(crate) struct Service {
    pub(crate) store: Store,
    pub(crate) authority: Authority,
    /// `NAMESPACE.servicebus.windows.net`
    pub(crate) host: String,
}

pub(crate) fn router(service: Arc<Service>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(service)
}

async fn handle(
    State(s): State<Arc<Service>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&s, &method, &uri, &headers, body).await {
        Ok(res) => res,
        Err(failure) => {
            tracing::debug!(%method, path = uri.path(), status = failure.status.as_u16(), detail = %failure.detail, "refused");
            failure.into_response()
        }
    }
}

/// A messaging address: the entity path and which of its queues.
fn messaging_entity(segments: &[&str]) -> (String, SubQueue) {
    match segments.split_last() {
        Some((last, rest)) if last.eq_ignore_ascii_case("$DeadLetterQueue") => {
            (rest.join("/"), SubQueue::DeadLetter)
        }
        _ => (segments.join("/"), SubQueue::Main),
    }
}

async fn dispatch(
    s: &Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let decoded = percent_decode_str(uri.path())
        .decode_utf8()
        .map_err(|_| Failure::bad_request("the path is not UTF-8"))?;
    let path = decoded.trim_matches('/').to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    s.authority.check(authorization, &path)?;
    let segments: Vec<&str> = path.split('/').collect();
    let lower: Vec<String> = segments.iter().map(|p| p.to_ascii_lowercase()).collect();
    let n = segments.len();
    let is = |i: usize, word: &str| lower.get(i).is_some_and(|w| w == word);
    if n >= 2 && is(n - 1, "messages") && *method == Method::POST {
        let (entity, which) = messaging_entity(&segments[..n - 1]);
        if which == SubQueue::DeadLetter {
            return Err(Failure::bad_request(
                "messages cannot be sent to a dead-letter queue",
            ));
        }
        return messaging::send(&s.store, &entity, headers, body);
    }
    if n >= 3 && is(n - 2, "messages") && is(n - 1, "head") {
        let (entity, which) = messaging_entity(&segments[..n - 2]);
        let peek_lock = match *method {
            Method::POST => true,
            Method::DELETE => false,
            _ => {
                return Err(Failure::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} on messages/head"),
                ))
            }
        };
        let wait = messaging::wait_of(uri.query());
        return messaging::receive(&s.store, &s.host, &entity, which, peek_lock, wait).await;
    }
    if n >= 4 && is(n - 3, "messages") {
        let (entity, which) = messaging_entity(&segments[..n - 3]);
        return messaging::settle(
            &s.store,
            &entity,
            which,
            segments[n - 2],
            segments[n - 1],
            method,
        );
    }
    let resource = resource(&segments, &lower)?;
    match *method {
        Method::PUT => management::put(&s.store, &s.host, &resource, headers, &body),
        Method::GET => management::get(&s.store, &s.host, &resource, uri.query()),
        Method::DELETE => management::delete(&s.store, &resource),
        _ => Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not a management operation"),
        )),
    }
}

fn resource(segments: &[&str], lower: &[String]) -> Result<Resource, Failure> {
    if segments.iter().any(|s| s.is_empty()) {
        return Err(Failure::bad_request("the path has an empty segment"));
    }
    match lower {
        [r, q] if r == "$resources" && q == "queues" => return Ok(Resource::List(Kind::Queue)),
        [r, t] if r == "$resources" && t == "topics" => return Ok(Resource::List(Kind::Topic)),
        [n] if n == "$namespaceinfo" => return Ok(Resource::Namespace),
        _ => {}
    }
    let Some(i) = lower
        .iter()
        .position(|w| w == "subscriptions")
        .filter(|i| *i > 0)
    else {
        return Ok(Resource::Entity(segments.join("/")));
    };
    let topic = segments[..i].join("/");
    let rest = &segments[i + 1..];
    let is_rules = |w: &str| w.eq_ignore_ascii_case("rules");
    Ok(match rest {
        [] => Resource::Subscriptions(topic),
        [name] => Resource::Subscription {
            topic,
            name: (*name).to_owned(),
        },
        [sub, r] if is_rules(r) => Resource::Rules {
            topic,
            subscription: (*sub).to_owned(),
        },
        [sub, r, name] if is_rules(r) => Resource::Rule {
            topic,
            subscription: (*sub).to_owned(),
            name: (*name).to_owned(),
        },
        _ => {
            return Err(Failure::bad_request(format!(
                "'{}' is not a Service Bus resource path",
                segments.join("/")
            )))
        }
    })
}
