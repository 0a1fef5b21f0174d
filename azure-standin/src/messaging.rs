//! The runtime REST operations: "Send Message", "Send Message Batch", "Peek-Lock Message
//! (Non-Destructive Read)", "Receive and Delete Message (Destructive Read)", "Delete
//! Message" (complete), "Unlock Message" (abandon) and "Renew-Lock for a Message".

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};
use time::OffsetDateTime;

use crate::failure::Failure;
use crate::http_date;
use crate::message::{Message, SystemProperties};
use crate::properties::{self, Properties, Value};
use crate::store::routing::{Attempt, Settlement};
use crate::store::{Delivered, Store, SubQueue};

/// "Message size for a queue, topic, or subscription entity": 256 KB in the Standard tier,
/// properties (system and user) included.
pub(crate) const MAX_MESSAGE_SIZE: usize = 256 * 1024;
/// "Maximum message property size for each property is 32 KB."
const MAX_PROPERTY_SIZE: usize = 32 * 1024;
/// "Cumulative size of all properties can't exceed 64 KB."
const MAX_PROPERTIES_SIZE: usize = 64 * 1024;
/// Longest long poll the stand-in holds a request open (seconds).
const MAX_WAIT_SECS: u64 = 230;
/// The long poll when the request names none (seconds).
const DEFAULT_WAIT_SECS: u64 = 60;

const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

/// Send Message / Send Message Batch → 201.
pub(crate) fn send(
    store: &Store,
    entity: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let messages = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with(BATCH_CONTENT_TYPE))
    {
        batch(&body)?
    } else {
        vec![single(headers, content_type, body)?]
    };
    let total: usize = messages.iter().map(Message::size).sum();
    if total > MAX_MESSAGE_SIZE {
        return Err(Failure::quota(format!(
            "The message size of {total} bytes exceeds the limit of {MAX_MESSAGE_SIZE} bytes of the Standard tier (body and properties)."
        )));
    }
    store.send(entity, messages, OffsetDateTime::now_utc())?;
    Ok(StatusCode::CREATED.into_response())
}

fn single(
    headers: &HeaderMap,
    content_type: Option<String>,
    body: Bytes,
) -> Result<Message, Failure> {
    let system = match headers.get("brokerproperties") {
        None => SystemProperties::default(),
        Some(raw) => {
            let json: Map<String, Json> = raw
                .to_str()
                .ok()
                .and_then(|t| serde_json::from_str(t).ok())
                .ok_or_else(|| {
                    Failure::bad_request("the BrokerProperties header is not a JSON object")
                })?;
            SystemProperties::from_json(&json).map_err(Failure::bad_request)?
        }
    };
    let mut props = Properties::default();
    for (name, value) in headers {
        if properties::is_plumbing(name.as_str()) {
            continue;
        }
        let typed = properties::parse_header(name.as_str(), value.as_bytes())
            .map_err(Failure::bad_request)?;
        props.set(name.as_str(), typed);
    }
    let message = Message {
        body,
        content_type,
        system,
        properties: props,
    };
    check_properties(&message)?;
    Ok(message)
}

fn batch(body: &[u8]) -> Result<Vec<Message>, Failure> {
    let Ok(Json::Array(items)) = serde_json::from_slice::<Json>(body) else {
        return Err(Failure::bad_request(
            "a batch (application/vnd.microsoft.servicebus.json) is a JSON array",
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item = item
            .as_object()
            .ok_or_else(|| Failure::bad_request(format!("batch entry {i} is not a JSON object")))?;
        let body = match item.get("Body") {
            None | Some(Json::Null) => String::new(),
            Some(Json::String(s)) => s.clone(),
            Some(_) => {
                return Err(Failure::bad_request(format!(
                    "batch entry {i}: Body must be a string"
                )))
            }
        };
        let system = match item.get("BrokerProperties") {
            None | Some(Json::Null) => SystemProperties::default(),
            Some(Json::Object(o)) => SystemProperties::from_json(o)
                .map_err(|e| Failure::bad_request(format!("batch entry {i}: {e}")))?,
            Some(_) => {
                return Err(Failure::bad_request(format!(
                    "batch entry {i}: BrokerProperties must be an object"
                )))
            }
        };
        let mut props = Properties::default();
        match item.get("UserProperties") {
            None | Some(Json::Null) => {}
            Some(Json::Object(o)) => {
                for (name, value) in o {
                    if HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(Failure::bad_request(format!(
                            "batch entry {i}: the property name '{name}' cannot be carried over HTTP"
                        )));
                    }
                    let v = properties::from_json(name, value)
                        .map_err(|e| Failure::bad_request(format!("batch entry {i}: {e}")))?;
                    props.set(name, v);
                }
            }
            Some(_) => {
                return Err(Failure::bad_request(format!(
                    "batch entry {i}: UserProperties must be an object"
                )))
            }
        }
        let message = Message {
            body: Bytes::from(body),
            content_type: None,
            system,
            properties: props,
        };
        check_properties(&message)?;
        out.push(message);
    }
    if out.is_empty() {
        return Err(Failure::bad_request("the batch is empty"));
    }
    Ok(out)
}

fn check_properties(m: &Message) -> Result<(), Failure> {
    for (name, value) in m.properties.iter() {
        let size = name.len() + properties::render_header(value).len();
        if size > MAX_PROPERTY_SIZE {
            return Err(Failure::bad_request(format!(
                "the property '{name}' is {size} bytes; a property may have {MAX_PROPERTY_SIZE}"
            )));
        }
        if let Value::Str(s) = value {
            if s.chars().any(char::is_control) {
                return Err(Failure::bad_request(format!("the property '{name}' holds control characters, which HTTP headers cannot carry")));
            }
        }
    }
    let total = m.properties.size();
    if total > MAX_PROPERTIES_SIZE {
        return Err(Failure::bad_request(format!(
            "the properties take {total} bytes; at most {MAX_PROPERTIES_SIZE} are allowed"
        )));
    }
    Ok(())
}

/// The long-poll wait of a receive (`timeout` in seconds).
pub(crate) fn wait_of(query: Option<&str>) -> Duration {
    let secs = query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "timeout"))
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WAIT_SECS);
    Duration::from_secs(secs.min(MAX_WAIT_SECS))
}

/// Peek-lock (`POST …/messages/head` → 201) or receive-and-delete (`DELETE` → 200);
/// 204 when nothing arrives within the wait.
pub(crate) async fn receive(
    store: &Store,
    host: &str,
    path: &str,
    which: SubQueue,
    peek_lock: bool,
    wait: Duration,
) -> Result<Response, Failure> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notify = store.notify_of(path)?;
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = OffsetDateTime::now_utc();
        let next_due = match store.receive_once(path, which, peek_lock, now)? {
            Attempt::Got(delivered) => {
                return Ok(delivery(host, path, which, &delivered, peek_lock))
            }
            Attempt::Empty(next_due) => next_due,
        };
        let mut wake = deadline;
        if let Some(due) = next_due {
            let in_ = Duration::try_from(due - now).unwrap_or(Duration::ZERO);
            wake = wake.min(tokio::time::Instant::now() + in_);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            // One last look, then none.
            return match store.receive_once(path, which, peek_lock, OffsetDateTime::now_utc())? {
                Attempt::Got(d) => Ok(delivery(host, path, which, &d, peek_lock)),
                Attempt::Empty(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            };
        }
    }
}

/// The response carrying a delivered message: its body, Content-Type, `BrokerProperties`,
/// one header per custom property (`DeadLetterReason` and `DeadLetterErrorDescription`
/// among them when the broker dead-lettered it) and, for peek-lock, `Location`.
fn delivery(host: &str, path: &str, which: SubQueue, d: &Delivered, peek_lock: bool) -> Response {
    let s = &d.stored;
    let m = &s.message;
    let mut broker = Map::new();
    broker.insert("DeliveryCount".into(), json!(s.delivery_count));
    broker.insert("EnqueuedSequenceNumber".into(), json!(s.sequence_number));
    broker.insert(
        "EnqueuedTimeUtc".into(),
        json!(http_date::format(s.enqueued_at)),
    );
    if let Some((token, until)) = d.lock {
        broker.insert("LockToken".into(), json!(token.to_string()));
        broker.insert("LockedUntilUtc".into(), json!(http_date::format(until)));
    }
    m.system.write_json(&mut broker);
    broker.insert("SequenceNumber".into(), json!(s.sequence_number));
    broker.insert("State".into(), json!("Active"));
    broker.insert("TimeToLive".into(), json!(s.time_to_live.as_secs_f64()));
    let mut res = Response::new(Body::from(m.body.clone()));
    *res.status_mut() = if peek_lock {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let h = res.headers_mut();
    if let Some(ct) = m
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Ok(v) = HeaderValue::from_str(&Json::Object(broker).to_string()) {
        h.insert("brokerproperties", v);
    }
    let mut props = m.properties.clone();
    if let Some(why) = &s.dead_letter {
        props.set("DeadLetterReason", Value::Str(why.reason.clone()));
        props.set(
            "DeadLetterErrorDescription",
            Value::Str(why.description.clone()),
        );
    }
    for (name, value) in props.iter() {
        // Names and values were checked on the way in; both fit a header.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(properties::render_header(value).as_bytes()),
        ) {
            h.append(n, v);
        }
    }
    if let Some((token, _)) = d.lock {
        let entity = match which {
            SubQueue::Main => path.to_owned(),
            SubQueue::DeadLetter => format!("{path}/$DeadLetterQueue"),
        };
        let location = format!(
            "https://{host}/{entity}/messages/{}/{token}",
            s.sequence_number
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            h.insert(header::LOCATION, v);
        }
    }
    res
}

/// Complete (DELETE), unlock (PUT) or renew (POST) on a lock URI → 200.
pub(crate) fn settle(
    store: &Store,
    path: &str,
    which: SubQueue,
    id: &str,
    token: &str,
    method: &Method,
) -> Result<Response, Failure> {
    let settlement = match *method {
        Method::DELETE => Settlement::Complete,
        Method::PUT => Settlement::Abandon,
        Method::POST => Settlement::Renew,
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not a settlement"),
            ))
        }
    };
    store.settle(
        path,
        which,
        id,
        token,
        settlement,
        OffsetDateTime::now_utc(),
    )?;
    let mut res = StatusCode::OK.into_response();
    if settlement == Settlement::Renew {
        // "Renew-Lock for a Message": Content-Type application/atom+xml;type=entry;charset=utf-8, no body.
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml;type=entry;charset=utf-8"),
        );
    }
    Ok(res)
}
