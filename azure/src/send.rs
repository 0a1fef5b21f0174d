//! Sending: "Send Message" (`POST {entity}/messages`, the body as is, properties as
//! headers) and "Send Message Batch" (the same URI, `application/vnd.microsoft.servicebus.json`,
//! a JSON array). A message whose properties a header cannot carry goes as a batch of one;
//! both forms put the same message on the service (see [`crate::wire`]).

use std::sync::Arc;

use courier_core::batch::{split, Slots};
use courier_core::{Destination, Error, Message, Result};
use futures_util::{stream, StreamExt};
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Call, Operation};
use crate::rest::RestClient;
use crate::wire::{ServiceBusMessage, MAX_MESSAGE_SIZE};
use crate::MAX_DELAY;

/// Most messages in one batch call.
const BATCH_MESSAGES: usize = 100;
/// Batch calls in flight at once.
const BATCH_CONCURRENCY: usize = 4;
/// The JSON around one entry of a batch (keys, quotes, escapes of a plain body).
const BATCH_ENTRY_FRAMING: usize = 200;

const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

fn target(destination: &Destination) -> (&str, String) {
    match destination {
        Destination::Queue(n) => (n, format!("queue '{n}'")),
        Destination::Topic(n) => (n, format!("topic '{n}'")),
    }
}

/// Checks what Service Bus REST cannot do, then encodes (addressed to `to_subscription`,
/// if any).
fn prepare(m: &Message, target: &str, to_subscription: Option<&str>) -> Result<ServiceBusMessage> {
    if m.dedup_id.is_some() {
        return Err(Error::unsupported(format!(
            "dedup_id on {target}: courier's Service Bus backend has no FIFO destinations"
        )));
    }
    if let Some(d) = m.delay.filter(|d| *d > MAX_DELAY) {
        return Err(Error::unsupported(format!(
            "a delay of {d:?} on {target}: at most {MAX_DELAY:?}"
        )));
    }
    ServiceBusMessage::encode(m, to_subscription)
}

/// "Send Message" of one message.
pub(crate) async fn one(
    rest: &Arc<RestClient>,
    destination: &Destination,
    m: &Message,
) -> Result<String> {
    let (entity, target) = target(destination);
    let out = prepare(m, &target, None)?;
    send_one(rest, entity, &target, out).await
}

/// Sends `m` to `topic` addressed to its one subscription `subscription` (see
/// [`crate::sql`]): only that subscription's rule admits it.
pub(crate) async fn to_subscription(
    rest: &Arc<RestClient>,
    topic: &str,
    subscription: &str,
    m: &Message,
) -> Result<String> {
    let target = format!("subscription '{topic}/{subscription}'");
    let out = prepare(m, &target, Some(subscription))?;
    send_one(rest, topic, &target, out).await
}

async fn send_one(
    rest: &Arc<RestClient>,
    entity: &str,
    target: &str,
    out: ServiceBusMessage,
) -> Result<String> {
    let call = Call {
        operation: Operation::Send,
        target,
    };
    let now = OffsetDateTime::now_utc();
    let request = rest.request(Method::POST, &format!("{entity}/messages"), "");
    let request = match out.headers(now) {
        Some(headers) => headers
            .into_iter()
            .fold(request, |r, (k, v)| r.header(k, v))
            .body(out.body.clone()),
        None => batch_request(request, &[&out], now),
    };
    rest.send(request, call, rest.operation_timeout()).await?;
    Ok(out.message_id)
}

fn batch_request(
    request: reqwest::RequestBuilder,
    entries: &[&ServiceBusMessage],
    now: OffsetDateTime,
) -> reqwest::RequestBuilder {
    let body = Value::Array(entries.iter().map(|m| m.batch_entry(now)).collect());
    request
        .header(reqwest::header::CONTENT_TYPE, BATCH_CONTENT_TYPE)
        .body(body.to_string())
}

/// One "Send Message Batch" call for `chunk`.
async fn send_chunk(
    rest: &RestClient,
    entity: &str,
    target: &str,
    chunk: &[(usize, ServiceBusMessage)],
) -> Result<()> {
    let call = Call {
        operation: Operation::Send,
        target,
    };
    let entries: Vec<&ServiceBusMessage> = chunk.iter().map(|(_, m)| m).collect();
    let request = rest.request(Method::POST, &format!("{entity}/messages"), "");
    let request = batch_request(request, &entries, OffsetDateTime::now_utc());
    rest.send(request, call, rest.operation_timeout())
        .await
        .map(drop)
}

/// What became of one chunk of a batch: its entries (index, message id) and the call's
/// result.
struct ChunkOutcome {
    entries: Vec<(usize, String)>,
    sent: Result<()>,
}

/// Sends the chunks, a few calls at a time.
async fn send_chunks(
    rest: &RestClient,
    entity: &str,
    target: &str,
    chunks: Vec<Vec<(usize, ServiceBusMessage)>>,
) -> Vec<ChunkOutcome> {
    stream::iter(chunks)
        .map(|chunk| async move {
            let sent = send_chunk(rest, entity, target, &chunk).await;
            let entries = chunk.into_iter().map(|(i, m)| (i, m.message_id)).collect();
            ChunkOutcome { entries, sent }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await
}

pub(crate) async fn batch(
    rest: &Arc<RestClient>,
    destination: &Destination,
    messages: Vec<Message>,
) -> Result<Vec<Result<String>>> {
    let (entity, target) = target(destination);
    let mut slots = Slots::new(messages.len());
    let mut ready = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match prepare(m, &target, None) {
            Ok(out) => ready.push((i, out)),
            Err(e) => slots.fill(i, Err(e)),
        }
    }
    let chunks = split(ready, BATCH_MESSAGES, MAX_MESSAGE_SIZE, |m| {
        m.size() + BATCH_ENTRY_FRAMING
    });
    let mut sent_any = false;
    let mut missing = None;
    for outcome in send_chunks(rest, entity, &target, chunks).await {
        match outcome.sent {
            Ok(()) => {
                sent_any = true;
                for (i, id) in outcome.entries {
                    slots.fill(i, Ok(id));
                }
            }
            Err(e) => {
                let shared = e.into_shared();
                if shared.is_not_found() {
                    missing = Some(Error::NotFound {
                        what: target.clone(),
                        source: Some(Box::new(Error::Shared(shared.clone()))),
                    });
                }
                let indexes: Vec<usize> = outcome.entries.iter().map(|(i, _)| *i).collect();
                slots.fail_all(&indexes, Error::Shared(shared));
            }
        }
    }
    // The entity does not exist and nothing was sent: the whole call fails, typed.
    match missing {
        Some(not_found) if !sent_any => Err(not_found),
        _ => Ok(slots.into_results(&target)),
    }
}
