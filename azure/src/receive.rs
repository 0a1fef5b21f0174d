//! Peek-lock receive through the crate, and settlement of Service Bus deliveries.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use azure_core::headers::Headers;
use azure_messaging_servicebus::prelude::{QueueClient, TopicClient};
use azure_messaging_servicebus::service_bus::PeekLockResponse;
use courier_core::{Delivery, DeliveryInfo, Entity, Error, Message, Result, Settle, Source};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::{client, wire, AzureBroker};

/// Service Bus's longest long poll over REST (its documented maximum timeout is far
/// longer, but a short one keeps shutdown quick; callers loop).
const MAX_WAIT_SECS: u64 = 55;

/// The headers of a response, by lower-case name.
struct HeaderMap(BTreeMap<String, String>);

impl From<Headers> for HeaderMap {
    fn from(h: Headers) -> Self {
        HeaderMap(
            h.iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_owned()))
                .collect(),
        )
    }
}

/// Entity path and subscription of a source (dead-letter queues are `…/$DeadLetterQueue`).
fn path_of(source: &Source) -> (String, Option<String>) {
    let dlq = if source.is_dead_letter() {
        "/$DeadLetterQueue"
    } else {
        ""
    };
    match source.entity() {
        Entity::Queue(q) => (format!("{q}{dlq}"), None),
        Entity::Subscription { topic, name } => (topic.clone(), Some(format!("{name}{dlq}"))),
    }
}

async fn peek_lock(b: &AzureBroker, source: &Source, wait: Duration) -> Result<PeekLockResponse> {
    let what = source.to_string();
    let (entity, subscription) = path_of(source);
    let (ns, name, key) = (
        b.conn.namespace.clone(),
        b.conn.key_name.clone(),
        b.conn.key.expose().to_owned(),
    );
    let timeout = Some(Duration::from_secs(wait.as_secs().min(MAX_WAIT_SECS)));
    let res = match subscription {
        None => {
            QueueClient::new(b.http.clone(), ns, entity, name, key)
                .map_err(|e| client::core_error(e, &what))?
                .peek_lock_message2(timeout)
                .await
        }
        Some(sub) => {
            let topic = TopicClient::new(b.http.clone(), ns, entity, name, key)
                .map_err(|e| client::core_error(e, &what))?;
            topic
                .subscription_receiver(&sub)
                .peek_lock_message2(timeout)
                .await
        }
    };
    res.map_err(|e| client::core_error(e, &what))
}

pub(crate) async fn receive(
    b: &AzureBroker,
    source: &Source,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery>> {
    let what = source.to_string();
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < max.max(1) {
        // Wait only for the first message; then take what is there.
        let left = if out.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        let res = peek_lock(b, source, left).await?;
        // The crate returns every status as Ok: 201 is a message, 204 none.
        match u16::from(*res.status()) {
            201 | 200 => out.push(delivery(source, res)?),
            204 if out.is_empty() && Instant::now() + Duration::from_millis(50) < deadline => {
                // Timeouts are whole seconds: under one, poll gently instead of spinning.
                if left < Duration::from_secs(1) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
            204 => break,
            _ => return Err(client::status_error(*res.status(), &what, &res.body())),
        }
    }
    Ok(out)
}

fn delivery(source: &Source, res: PeekLockResponse) -> Result<Delivery> {
    let props = res.broker_properties().ok_or_else(|| Error::Backend {
        message: format!("{source}: a locked message came without BrokerProperties"),
        source: None,
    })?;
    let headers: HeaderMap = res
        .custom_properties()
        .unwrap_or(HeaderMap(BTreeMap::new()));
    let mut message = wire::decode(res.body(), &headers.0);
    message.message_id = Some(props.message_id.clone());
    // The crate's BrokerProperties leaves out why a message was dead-lettered.
    let raw = headers
        .0
        .get("brokerproperties")
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    if let Some(reason) = raw
        .as_ref()
        .and_then(|r| r.get("DeadLetterReason"))
        .and_then(|r| r.as_str())
    {
        let detail = raw
            .as_ref()
            .and_then(|r| r.get("DeadLetterErrorDescription"))
            .and_then(|d| d.as_str());
        let text = detail.map_or_else(|| reason.to_owned(), |d| format!("{reason}: {d}"));
        message
            .attributes
            .insert(courier_core::event::attr::DEAD_LETTER_REASON.into(), text);
    }
    let now = OffsetDateTime::now_utc();
    let left = (props.locked_until_utc - now).max(time::Duration::ZERO);
    let info = DeliveryInfo {
        source: source.clone(),
        broker_message_id: props.sequence_number.to_string(),
        delivery_count: u32::try_from(props.delivery_count).unwrap_or(1).max(1),
        enqueued_at: props.enqueued_time_utc.map(SystemTime::from),
        locked_until: Some(Instant::now() + Duration::try_from(left).unwrap_or_default()),
    };
    Ok(Delivery::new(
        message,
        info,
        Box::new(LockedMessage {
            res,
            what: source.to_string(),
        }),
    ))
}

/// A peek-locked message: settled through its lock URI.
struct LockedMessage {
    res: PeekLockResponse,
    what: String,
}

impl LockedMessage {
    fn map(&self, e: azure_core::Error) -> Error {
        match client::core_error(e, &self.what) {
            // An unknown lock: it expired, or the message was settled elsewhere.
            e @ Error::NotFound { .. } => Error::LockLost {
                message: format!("{}: the lock is gone (expired or settled)", self.what),
                source: Some(Box::new(e)),
            },
            other => other,
        }
    }
}

#[async_trait]
impl Settle for LockedMessage {
    async fn ack(&self) -> Result<()> {
        self.res
            .delete_message()
            .await
            .map(drop)
            .map_err(|e| self.map(e))
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        if !after.is_zero() {
            return Err(Error::unsupported(format!(
                "nack after {after:?} on {}: Service Bus REST can only release a message at once (or let its lock expire)",
                self.what
            )));
        }
        self.res.unlock_message().await.map_err(|e| self.map(e))
    }

    async fn dead_letter(&self, _message: &Message, reason: &str) -> Result<()> {
        Err(Error::unsupported(format!(
            "dead-lettering on request ({reason}) on {}: Service Bus REST has no dead-letter operation; the message moves to $DeadLetterQueue after MaxDeliveryCount deliveries",
            self.what
        )))
    }

    async fn extend(&self, _by: Duration) -> Result<()> {
        // Service Bus renews for the entity's lock duration, whatever `by` says.
        self.res.renew_message_lock().await.map_err(|e| self.map(e))
    }
}
