//! Sending: one message through the crate, batches through REST (`POST …/messages` with a
//! JSON array), which the crate lacks.

use std::collections::HashMap;

use azure_core::Method;
use azure_messaging_servicebus::prelude::QueueClient;
use azure_messaging_servicebus::service_bus::{SendMessageOptions, SettableBrokerProperties};
use courier_core::{Destination, Error, Message, Result};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::wire::{self, Outgoing};
use crate::{client, AzureBroker, MAX_DELAY};

/// Most messages in one batch call (Service Bus accepts 100 per batch under 256 KiB).
const BATCH_MESSAGES: usize = 100;
/// Batch calls in flight at once.
const BATCH_CONCURRENCY: usize = 4;

fn entity(destination: &Destination) -> (&str, String) {
    match destination {
        Destination::Queue(n) => (n, format!("queue '{n}'")),
        Destination::Topic(n) => (n, format!("topic '{n}'")),
    }
}

/// Checks what Service Bus REST cannot do, then encodes.
fn prepare(m: &Message, what: &str) -> Result<Outgoing> {
    if m.dedup_id.is_some() {
        return Err(Error::unsupported(format!(
            "dedup_id on {what}: courier's Service Bus backend has no FIFO destinations"
        )));
    }
    if let Some(d) = m.delay.filter(|d| *d > MAX_DELAY) {
        return Err(Error::unsupported(format!(
            "a delay of {d:?} on {what}: at most {MAX_DELAY:?}"
        )));
    }
    let mut out = wire::encode(m)?;
    out.message_id
        .get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
    Ok(out)
}

/// When to enqueue a delayed message: whole seconds, rounded up (Service Bus's format).
fn scheduled(out: &Outgoing) -> Option<OffsetDateTime> {
    out.delay.map(|d| {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
            + time::Duration::seconds(secs as i64 + 1)
    })
}

pub(crate) async fn one(b: &AzureBroker, destination: &Destination, m: &Message) -> Result<String> {
    let (name, what) = entity(destination);
    let out = prepare(m, &what)?;
    let client = QueueClient::new(
        b.http.clone(),
        b.conn.namespace.clone(),
        name,
        b.conn.key_name.clone(),
        b.conn.key.expose().to_owned(),
    )
    .map_err(|e| client::core_error(e, &what))?;
    let options = SendMessageOptions {
        content_type: out.content_type.clone(),
        broker_properties: Some(SettableBrokerProperties {
            message_id: out.message_id.clone(),
            correlation_id: out.correlation_id.clone(),
            label: out.label.clone(),
            reply_to: out.reply_to.clone(),
            time_to_live: out.time_to_live,
            scheduled_enqueue_time_utc: scheduled(&out),
            ..SettableBrokerProperties::default()
        }),
        custom_properties: Some(
            out.properties
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        ),
    };
    client
        .send_message(&out.body, Some(options))
        .await
        .map_err(|e| client::core_error(e, &what))?;
    Ok(out.message_id.unwrap_or_default())
}

fn batch_entry(out: &Outgoing) -> Value {
    let mut props = serde_json::Map::new();
    if let Some(v) = &out.message_id {
        props.insert("MessageId".into(), json!(v));
    }
    if let Some(v) = &out.correlation_id {
        props.insert("CorrelationId".into(), json!(v));
    }
    if let Some(v) = &out.label {
        props.insert("Label".into(), json!(v));
    }
    if let Some(v) = &out.reply_to {
        props.insert("ReplyTo".into(), json!(v));
    }
    if let Some(v) = out.time_to_live {
        props.insert("TimeToLive".into(), json!(v.as_secs_f64()));
    }
    if let Some(t) = scheduled(out) {
        props.insert(
            "ScheduledEnqueueTimeUtc".into(),
            json!(t
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap_or_default()),
        );
    }
    // In a batch, user properties are JSON values; the header form is a JSON text.
    let user: serde_json::Map<String, Value> = out
        .properties
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_str(v).unwrap_or_else(|_| json!(v)),
            )
        })
        .collect();
    json!({ "Body": out.body, "BrokerProperties": props, "UserProperties": user })
}

pub(crate) async fn batch(
    b: &AzureBroker,
    destination: &Destination,
    messages: Vec<Message>,
) -> Result<Vec<Result<String>>> {
    let (name, what) = entity(destination);
    let mut slots: Vec<Option<Result<String>>> = (0..messages.len()).map(|_| None).collect();
    let mut chunks: Vec<Vec<(usize, Outgoing)>> = Vec::new();
    let mut size = 0;
    for (i, m) in messages.iter().enumerate() {
        match prepare(m, &what) {
            Err(e) => slots[i] = Some(Err(e)),
            Ok(out) => {
                let s = out.size() + 200; // the JSON framing of one entry
                match chunks.last_mut() {
                    Some(last)
                        if last.len() < BATCH_MESSAGES && size + s <= wire::MAX_MESSAGE_SIZE =>
                    {
                        size += s;
                        last.push((i, out));
                    }
                    _ => {
                        size = s;
                        chunks.push(vec![(i, out)]);
                    }
                }
            }
        }
    }
    let what = &what;
    let results: Vec<Vec<(usize, Result<String>)>> = stream::iter(chunks)
        .map(|chunk| async move {
            let body =
                Value::Array(chunk.iter().map(|(_, o)| batch_entry(o)).collect()).to_string();
            let headers = [(
                "content-type",
                "application/vnd.microsoft.servicebus.json".to_owned(),
            )];
            let sent = client::call(
                &b.http,
                &b.conn,
                Method::Post,
                &format!("{name}/messages"),
                &headers,
                Some(body),
                what,
            )
            .await;
            let failure = match sent {
                Ok(a) if a.status.is_success() => None,
                Ok(a) => Some(client::status_error(a.status, what, &a.body)),
                Err(e) => Some(e),
            };
            let text = failure.as_ref().map(|e| (e.to_string(), e.is_transient()));
            chunk
                .into_iter()
                .map(|(i, o)| match &text {
                    None => (i, Ok(o.message_id.unwrap_or_default())),
                    Some((t, true)) => (i, Err(Error::transient(t.clone()))),
                    Some((t, false)) => (
                        i,
                        Err(Error::Backend {
                            message: t.clone(),
                            source: None,
                        }),
                    ),
                })
                .collect()
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    for (i, r) in results.into_iter().flatten() {
        slots[i] = Some(r);
    }
    let out: Vec<Result<String>> = slots
        .into_iter()
        .map(|s| {
            s.unwrap_or_else(|| {
                Err(Error::Backend {
                    message: "entry left out".into(),
                    source: None,
                })
            })
        })
        .collect();
    // A missing entity fails the whole call, as for the other backends.
    if !out.is_empty() && out.iter().all(|r| matches!(r, Err(Error::Backend { message, .. }) if message.contains("HTTP 404") || message.contains("HTTP 410"))) {
        return Err(Error::not_found(what.clone()));
    }
    Ok(out)
}
