//! The stand-in's HTTP surface: one handler dispatching on method and path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use courier_core::{Consumer, Destination, Error, Message, Publisher};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use crate::atom;
use crate::sql::SqlFilter;
use crate::state::{lock, Entity, Kind, Lock, StandInState};

type S = Arc<StandInState>;

/// Attributes the stand-in keeps beside a message (not custom properties).
const BROKER: &str = "sb:broker";
const SEQ: &str = "sb:seq";
const ENQUEUED: &str = "sb:enqueued";

pub(crate) fn router(state: S) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

fn reply(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

fn rfc2822(t: OffsetDateTime) -> String {
    t.format(&Rfc2822).unwrap_or_default()
}

async fn handle(
    State(s): State<S>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_matches('/').to_owned();
    if let Err(why) = s.authorize(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        &path,
    ) {
        return reply(StatusCode::UNAUTHORIZED, why);
    }
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    if n >= 2 && segments[n - 1] == "messages" && method == Method::POST {
        return send(&s, &segments[..n - 1].join("/"), &headers, &body).await;
    }
    if n >= 3 && segments[n - 2] == "messages" && segments[n - 1] == "head" {
        let wait = Duration::from_secs(
            query
                .get("timeout")
                .and_then(|t| t.parse().ok())
                .unwrap_or(60)
                .min(230),
        );
        return receive(
            &s,
            &segments[..n - 2].join("/"),
            wait,
            method == Method::DELETE,
        )
        .await;
    }
    if n >= 4 && segments[n - 3] == "messages" {
        return settle(&s, &segments[..n - 3].join("/"), segments[n - 1], &method).await;
    }
    manage(&s, &path, &method, &headers, &body).await
}

/// Custom properties of a request: every header that is not HTTP or broker plumbing.
fn custom_properties(headers: &HeaderMap) -> BTreeMap<String, String> {
    const SKIP: &[&str] = &[
        "authorization",
        "content-type",
        "content-length",
        "host",
        "brokerproperties",
        "user-agent",
        "accept",
        "accept-encoding",
        "connection",
        "x-ms-version",
        "x-ms-date",
        "x-ms-client-request-id",
        "transfer-encoding",
    ];
    headers
        .iter()
        .filter(|(k, _)| !SKIP.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

/// A message as stored: body, custom properties (header form), broker properties.
fn stored(
    s: &StandInState,
    body: Vec<u8>,
    content_type: Option<String>,
    props: BTreeMap<String, String>,
    mut broker: serde_json::Map<String, Value>,
) -> Message {
    let seq = s.next_seq();
    broker
        .entry("MessageId")
        .or_insert_with(|| json!(uuid::Uuid::new_v4().simple().to_string()));
    let mut m = Message::new(body);
    m.content_type = content_type;
    m.message_id = broker
        .get("MessageId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    m.time_to_live = broker
        .get("TimeToLive")
        .and_then(Value::as_f64)
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64);
    if let Some(at) = broker
        .get("ScheduledEnqueueTimeUtc")
        .and_then(Value::as_str)
        .and_then(|t| OffsetDateTime::parse(t, &Rfc2822).ok())
    {
        let wait = at - OffsetDateTime::now_utc();
        m.delay = Duration::try_from(wait).ok().filter(|d| !d.is_zero());
    }
    m.attributes = props;
    m.attributes
        .insert(BROKER.into(), Value::Object(broker).to_string());
    m.attributes.insert(SEQ.into(), seq.to_string());
    m.attributes
        .insert(ENQUEUED.into(), rfc2822(OffsetDateTime::now_utc()));
    m
}

async fn send(s: &StandInState, entity: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let Some(e) = lock(&s.entities).get(entity).cloned() else {
        return reply(
            StatusCode::NOT_FOUND,
            format!("MessagingEntityNotFound: '{entity}'"),
        );
    };
    if e.kind == Kind::Subscription {
        return reply(StatusCode::BAD_REQUEST, "cannot send to a subscription");
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut messages = Vec::new();
    if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/vnd.microsoft.servicebus.json"))
    {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
            return reply(StatusCode::BAD_REQUEST, "a batch is a JSON array");
        };
        for item in items {
            let body = item
                .get("Body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .as_bytes()
                .to_vec();
            let broker = item
                .get("BrokerProperties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let props = item
                .get("UserProperties")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), ascii_json(v)))
                        .collect()
                })
                .unwrap_or_default();
            messages.push(stored(s, body, None, props, broker));
        }
    } else {
        let broker = headers
            .get("brokerproperties")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<serde_json::Map<String, Value>>(v).ok())
            .unwrap_or_default();
        messages.push(stored(
            s,
            body.to_vec(),
            content_type,
            custom_properties(headers),
            broker,
        ));
    }
    for m in messages {
        let id = m.message_id.clone().unwrap_or_default();
        if e.duplicate_detection && s.duplicate(entity, &id) {
            continue;
        }
        let targets = match e.kind {
            Kind::Queue => vec![entity.to_owned()],
            _ => {
                let props = m
                    .attributes
                    .iter()
                    .filter(|(k, _)| !k.starts_with("sb:"))
                    .map(|(k, v)| (k.clone(), property_text(v)))
                    .collect();
                s.matching_subscriptions(entity, &props)
            }
        };
        for t in targets {
            let dest = Destination::queue(StandInState::memory_name(&t));
            if let Err(err) = s.memory.publish(&dest, m.clone()).await {
                return reply(StatusCode::INTERNAL_SERVER_ERROR, err.to_string());
            }
        }
    }
    reply(StatusCode::CREATED, "")
}

/// JSON with every non-ASCII character escaped, so that it fits an HTTP header.
fn ascii_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The value of a header-form property, for SQL filters.
fn property_text(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => raw.to_owned(),
    }
}

async fn receive(s: &StandInState, entity: &str, wait: Duration, and_delete: bool) -> Response {
    let Some((base, source, e)) = s.source(entity) else {
        return reply(
            StatusCode::NOT_FOUND,
            format!("MessagingEntityNotFound: '{entity}'"),
        );
    };
    let delivery = match s.memory.receive(&source, 1, wait).await {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        Ok(_) => return reply(StatusCode::NO_CONTENT, ""),
        Err(err) => return reply(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    };
    let m = delivery.message().clone();
    let seq = m.attributes.get(SEQ).cloned().unwrap_or_default();
    let mut broker: serde_json::Map<String, Value> = m
        .attributes
        .get(BROKER)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let token = uuid::Uuid::new_v4().to_string();
    let locked_until = OffsetDateTime::now_utc() + time::Duration::seconds(i64::from(e.lock_secs));
    broker.insert("DeliveryCount".into(), json!(delivery.delivery_count()));
    broker.insert(
        "SequenceNumber".into(),
        json!(seq.parse::<i64>().unwrap_or_default()),
    );
    broker.insert("EnqueuedSequenceNumber".into(), json!(0));
    broker.insert("EnqueuedTimeUtc".into(), json!(m.attributes.get(ENQUEUED)));
    broker.insert("LockToken".into(), json!(token));
    broker.insert("LockedUntilUtc".into(), json!(rfc2822(locked_until)));
    broker.insert("State".into(), json!("Active"));
    broker
        .entry("TimeToLive")
        .or_insert(json!(922_337_203_685.0));
    if let Some(why) = m
        .attributes
        .get(courier_core::event::attr::DEAD_LETTER_REASON)
    {
        // Moved by the delivery count: reported as the service reports it.
        broker.insert("DeadLetterReason".into(), json!("MaxDeliveryCountExceeded"));
        broker.insert("DeadLetterErrorDescription".into(), json!(why));
    }
    let mut res = Response::new(axum::body::Body::from(m.body.clone()));
    *res.status_mut() = if and_delete {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let h = res.headers_mut();
    for (k, v) in m
        .attributes
        .iter()
        .filter(|(k, _)| !k.starts_with("sb:") && !k.starts_with("courier_dead_letter"))
    {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, value);
        }
    }
    if let Some(ct) = m
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-type", ct);
    }
    if let Ok(v) = HeaderValue::from_str(&Value::Object(broker).to_string()) {
        h.insert("brokerproperties", v);
    }
    if and_delete {
        let _ = delivery.ack().await;
    } else {
        let location = format!(
            "https://{}.servicebus.windows.net/{entity}/messages/{seq}/{token}",
            s.namespace
        );
        if let Ok(v) = HeaderValue::from_str(&location) {
            h.insert("location", v);
        }
        lock(&s.locks).insert(
            token,
            Lock {
                entity: base,
                delivery,
            },
        );
    }
    res
}

async fn settle(s: &StandInState, entity: &str, token: &str, method: &Method) -> Response {
    let Some((base, _, e)) = s.source(entity) else {
        return reply(
            StatusCode::GONE,
            format!("MessagingEntityNotFound: '{entity}'"),
        );
    };
    // Taken out while it is settled; a renewed lock is put back.
    let found = {
        let mut locks = lock(&s.locks);
        match locks.get(token) {
            Some(l) if l.entity == base => locks.remove(token),
            _ => None,
        }
    };
    let Some(held) = found else {
        return reply(
            StatusCode::NOT_FOUND,
            "MessageLockLost: the lock token is unknown or expired",
        );
    };
    let result = match *method {
        Method::DELETE => held.delivery.ack().await.map_err(|e| e.error),
        Method::PUT => held
            .delivery
            .nack(Duration::ZERO)
            .await
            .map_err(|e| e.error),
        Method::POST => {
            let renewed = held
                .delivery
                .extend(Duration::from_secs(e.lock_secs.into()))
                .await;
            if renewed.is_ok() {
                lock(&s.locks).insert(token.to_owned(), held);
            }
            renewed
        }
        _ => {
            lock(&s.locks).insert(token.to_owned(), held);
            return reply(StatusCode::METHOD_NOT_ALLOWED, "");
        }
    };
    match result {
        Ok(()) => reply(StatusCode::OK, ""),
        Err(Error::LockLost { .. }) => reply(StatusCode::NOT_FOUND, "MessageLockLost"),
        Err(err) => reply(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

fn describe(path: &str, xml: &str) -> Result<Entity, String> {
    let kind = if atom::has(xml, "QueueDescription") {
        Kind::Queue
    } else if atom::has(xml, "TopicDescription") {
        Kind::Topic
    } else if atom::has(xml, "SubscriptionDescription") {
        Kind::Subscription
    } else {
        return Err("the body is not a queue, topic or subscription description".into());
    };
    if (kind == Kind::Subscription) != path.contains("/subscriptions/") {
        return Err(format!("a {kind:?} cannot live at '{path}'"));
    }
    let lock_secs = atom::value(xml, "LockDuration")
        .map_or(Some(60.0), |d| atom::parse_duration(&d))
        .ok_or("LockDuration is not an ISO 8601 duration")?;
    if !(5.0..=300.0).contains(&lock_secs) {
        return Err(format!(
            "LockDuration must be between 5 seconds and 5 minutes, not {lock_secs} s"
        ));
    }
    let flag = |t: &str| atom::value(xml, t).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(Entity {
        kind,
        lock_secs: lock_secs as u32,
        max_delivery: atom::value(xml, "MaxDeliveryCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
        dead_letter_on_expiry: flag("DeadLetteringOnMessageExpiration"),
        // The service's default is true.
        dead_letter_on_filter_errors: atom::value(xml, "DeadLetteringOnFilterEvaluationExceptions")
            .is_none_or(|v| v.eq_ignore_ascii_case("true")),
        duplicate_detection: flag("RequiresDuplicateDetection"),
    })
}

fn entity_xml(path: &str, e: &Entity) -> String {
    let name = match e.kind {
        Kind::Queue => "QueueDescription",
        Kind::Topic => "TopicDescription",
        Kind::Subscription => "SubscriptionDescription",
    };
    let mut children: Vec<(&str, String)> = match e.kind {
        Kind::Topic => vec![(
            "RequiresDuplicateDetection",
            e.duplicate_detection.to_string(),
        )],
        _ => vec![
            ("LockDuration", atom::duration(e.lock_secs.into())),
            (
                "RequiresDuplicateDetection",
                e.duplicate_detection.to_string(),
            ),
            (
                "DeadLetteringOnMessageExpiration",
                e.dead_letter_on_expiry.to_string(),
            ),
            ("MaxDeliveryCount", e.max_delivery.to_string()),
        ],
    };
    if e.kind == Kind::Subscription {
        children.insert(
            3,
            (
                "DeadLetteringOnFilterEvaluationExceptions",
                e.dead_letter_on_filter_errors.to_string(),
            ),
        );
    }
    atom::entry(name, &children).replace(
        "<entry xmlns=\"http://www.w3.org/2005/Atom\">",
        &format!(
            "<entry xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">{path}</title>"
        ),
    )
}

async fn manage(
    s: &StandInState,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some((sub, rule)) = path.split_once("/rules/") {
        return manage_rule(s, sub, rule, method, headers, body);
    }
    let exists = lock(&s.entities).get(path).cloned();
    match (method.clone(), exists) {
        (Method::GET, Some(e)) => reply(StatusCode::OK, entity_xml(path, &e)),
        (Method::GET, None) | (Method::DELETE, None) => {
            reply(StatusCode::NOT_FOUND, format!("'{path}' does not exist"))
        }
        (Method::DELETE, Some(_)) => {
            lock(&s.entities).retain(|k, _| k != path && !k.starts_with(&format!("{path}/")));
            lock(&s.rules).retain(|k, _| k != path && !k.starts_with(&format!("{path}/")));
            reply(StatusCode::OK, "")
        }
        (Method::PUT, existing) => {
            if existing.is_some() && headers.get("if-match").is_none() {
                return reply(
                    StatusCode::CONFLICT,
                    format!("MessagingEntityAlreadyExists: '{path}'"),
                );
            }
            let xml = String::from_utf8_lossy(body);
            let e = match describe(path, &xml) {
                Ok(e) => e,
                Err(why) => return reply(StatusCode::BAD_REQUEST, why),
            };
            if e.kind == Kind::Subscription {
                let topic = path.split("/subscriptions/").next().unwrap_or_default();
                if lock(&s.entities)
                    .get(topic)
                    .is_none_or(|t| t.kind != Kind::Topic)
                {
                    return reply(
                        StatusCode::NOT_FOUND,
                        format!("topic '{topic}' does not exist"),
                    );
                }
            }
            if e.kind != Kind::Topic {
                if let Err(err) = s.provision_memory(path, &e).await {
                    return reply(StatusCode::INTERNAL_SERVER_ERROR, err.to_string());
                }
            }
            if e.kind == Kind::Subscription && existing.is_none() {
                let default = SqlFilter::parse("1=1").expect("1=1 parses");
                lock(&s.rules)
                    .entry(path.to_owned())
                    .or_default()
                    .insert("$Default".into(), ("1=1".into(), default));
            }
            let status = if existing.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let xml = entity_xml(path, &e);
            lock(&s.entities).insert(path.to_owned(), e);
            reply(status, xml)
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}

fn manage_rule(
    s: &StandInState,
    sub: &str,
    rule: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if lock(&s.entities)
        .get(sub)
        .is_none_or(|e| e.kind != Kind::Subscription)
    {
        return reply(
            StatusCode::NOT_FOUND,
            format!("subscription '{sub}' does not exist"),
        );
    }
    let mut rules = lock(&s.rules);
    let set = rules.entry(sub.to_owned()).or_default();
    match method.clone() {
        Method::GET => match set.get(rule) {
            Some((sql, _)) => reply(StatusCode::OK, atom::rule_entry(sql)),
            None => reply(
                StatusCode::NOT_FOUND,
                format!("rule '{rule}' does not exist"),
            ),
        },
        Method::DELETE => match set.remove(rule) {
            Some(_) => reply(StatusCode::OK, ""),
            None => reply(
                StatusCode::NOT_FOUND,
                format!("rule '{rule}' does not exist"),
            ),
        },
        Method::PUT => {
            if set.contains_key(rule) && headers.get("if-match").is_none() {
                return reply(StatusCode::CONFLICT, format!("rule '{rule}' exists"));
            }
            let xml = String::from_utf8_lossy(body);
            let sql = atom::value(&xml, "SqlExpression").unwrap_or_else(|| "1=1".into());
            match SqlFilter::parse(&sql) {
                Ok(f) => {
                    set.insert(rule.to_owned(), (sql.clone(), f));
                    reply(StatusCode::CREATED, atom::rule_entry(&sql))
                }
                Err(why) => reply(
                    StatusCode::BAD_REQUEST,
                    format!("the SQL filter is invalid: {why}"),
                ),
            }
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}
