//! Receiving: "Peek-Lock Message" (`POST {entity}/messages/head?timeout=N` → 201 with the
//! message, or 204 when none arrived within N seconds), long-polled.
//!
//! The first call waits (whole seconds, rounded up, so a short wait never becomes a burst
//! of `timeout=0` polls — each one a billed operation); once a message arrived, the next
//! ones are taken without waiting. A call that fails after messages were locked returns
//! those messages: dropping them would leave them locked for nobody. A whole receive ends
//! within its wait (in whole seconds) plus one operation timeout
//! ([`Timeouts`](crate::Timeouts)): the long poll is never shortened to fit the timeout
//! (each poll is a billed operation), the timeout is the margin beyond it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use courier_core::duration::{deadline_after, whole_seconds_up};
use courier_core::{display_chain, Delivery, DeliveryInfo, Entity, Result, Source};
use reqwest::header::{HeaderMap, DATE, LOCATION};
use reqwest::{Method, StatusCode};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::broker_properties::ReceivedProperties;
use crate::error::{self, Call, Operation};
use crate::rest::RestClient;
use crate::settle::LockedMessage;
use crate::{http_date, wire};

/// Longest long poll asked of the service (callers loop; a short one keeps shutdown quick).
const MAX_WAIT_SECS: u64 = 55;

/// The REST path of a source: `{queue}` or `{topic}/subscriptions/{name}`, with
/// `/$DeadLetterQueue` for its dead-letter queue.
pub(crate) fn entity_path(source: &Source) -> String {
    let path = match source.entity() {
        Entity::Queue(q) => q.clone(),
        Entity::Subscription { topic, name } => format!("{topic}/subscriptions/{name}"),
    };
    if source.is_dead_letter() {
        format!("{path}/$DeadLetterQueue")
    } else {
        path
    }
}

pub(crate) async fn receive(
    rest: &Arc<RestClient>,
    source: &Source,
    max: usize,
    wait: Duration,
) -> Result<Vec<Delivery>> {
    let deadline = deadline_after(wait);
    let give_up = deadline_after(
        Duration::from_secs(whole_seconds_up(wait)).saturating_add(rest.operation_timeout()),
    );
    let mut out = Vec::new();
    while out.len() < max.max(1) {
        let waiting = out.is_empty();
        let timeout = if waiting {
            whole_seconds_up(deadline.saturating_duration_since(Instant::now())).min(MAX_WAIT_SECS)
        } else {
            0
        };
        let polled_at = Instant::now();
        let limit = (Duration::from_secs(timeout) + rest.operation_timeout())
            .min(give_up.saturating_duration_since(polled_at));
        if limit.is_zero() {
            break;
        }
        match peek_lock(rest, source, timeout, limit).await {
            Ok(Some(delivery)) => out.push(delivery),
            Ok(None) if waiting && timeout > 0 && Instant::now() < deadline => {
                // An answer before the poll's time is up must not turn into a burst of polls.
                let poll_end = polled_at + Duration::from_secs(timeout);
                tokio::time::sleep_until(poll_end.min(deadline)).await;
            }
            Ok(None) => break,
            Err(e) if out.is_empty() => return Err(e),
            Err(e) => {
                tracing::warn!(%source, error = %display_chain(&e), kept = out.len(), "receive failed after locking messages; returning those");
                break;
            }
        }
        if waiting && out.is_empty() && Instant::now() >= deadline {
            break;
        }
    }
    Ok(out)
}

/// One peek-lock waiting up to `timeout` seconds, the call bounded by `limit`; `None` when
/// no message came.
async fn peek_lock(
    rest: &Arc<RestClient>,
    source: &Source,
    timeout: u64,
    limit: Duration,
) -> Result<Option<Delivery>> {
    let target = source.to_string();
    let call = Call {
        operation: Operation::Receive,
        target: &target,
    };
    let path = entity_path(source);
    let sent_at = Instant::now();
    let request = rest.request(
        Method::POST,
        &format!("{path}/messages/head"),
        &format!("timeout={timeout}"),
    );
    let response = rest.send(request, call, limit).await?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    let mut response = response;
    let headers = std::mem::take(response.headers_mut());
    let body = response
        .bytes()
        .await
        .map_err(|e| error::from_transport(call, e, limit))?;
    Ok(Some(locked(
        rest,
        source,
        &path,
        &headers,
        body.to_vec(),
        sent_at,
    )))
}

/// How long the lock is held, by the server's own clock: `LockedUntilUtc` against the
/// response's `Date` (both the service's), less a second for their whole-second
/// resolution. Without a `Date`, the local clock is all there is.
pub(crate) fn lock_duration(headers: &HeaderMap, broker: &ReceivedProperties) -> Option<Duration> {
    let until = broker.locked_until?;
    let server_now = headers
        .get(DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(http_date::parse)
        .unwrap_or_else(OffsetDateTime::now_utc);
    let left = until - server_now - time::Duration::SECOND;
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// The lock URI's path: from `Location` ("The URI is provided in the Location header of
/// the peeked message"), else built from the sequence number and lock token.
fn lock_path(headers: &HeaderMap, entity: &str, broker: &ReceivedProperties) -> Option<String> {
    let from_location = headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .filter(|p| !p.is_empty());
    from_location.or_else(|| {
        let token = broker.lock_token.as_ref()?;
        let id = broker
            .sequence_number
            .map(|n| n.to_string())
            .or_else(|| broker.message_id.clone())?;
        Some(format!("{entity}/messages/{id}/{token}"))
    })
}

/// The delivery of a locked message. Never fails: a message courier cannot read is still
/// delivered (its bytes, its properties) for the pipeline to judge.
fn locked(
    rest: &Arc<RestClient>,
    source: &Source,
    entity: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
    sent_at: Instant,
) -> Delivery {
    let broker = headers
        .get("brokerproperties")
        .and_then(|b| b.to_str().ok())
        .map(ReceivedProperties::parse)
        .unwrap_or_default();
    let held_for = lock_duration(headers, &broker);
    let message = wire::decode(body, headers, &broker);
    let info = DeliveryInfo {
        source: source.clone(),
        broker_message_id: broker
            .sequence_number
            .map(|n| n.to_string())
            .or_else(|| broker.message_id.clone())
            .unwrap_or_default(),
        delivery_count: broker.delivery_count.unwrap_or(1).max(1),
        enqueued_at: broker.enqueued_at.map(SystemTime::from),
        locked_until: held_for.map(|d| sent_at + d),
    };
    let lock = LockedMessage::new(
        rest.clone(),
        lock_path(headers, entity, &broker),
        source.to_string(),
        held_for,
    );
    Delivery::new(message, info, Box::new(lock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_lock_is_measured_on_the_server_clock() {
        // The server's clock is hours behind the local one: what counts is LockedUntilUtc
        // against the same server's Date.
        let broker = ReceivedProperties::parse(
            r#"{"LockedUntilUtc":"Sun, 06 Nov 1994 08:50:07 GMT","SequenceNumber":5000000000,"LockToken":"t"}"#,
        );
        let h = headers(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(lock_duration(&h, &broker), Some(Duration::from_secs(29)));
        assert_eq!(
            lock_path(&h, "q", &broker).as_deref(),
            Some("q/messages/5000000000/t")
        );
        let h = headers(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            (
                "location",
                "https://ns.servicebus.windows.net/t/subscriptions/s/messages/7/abc",
            ),
        ]);
        assert_eq!(
            lock_path(&h, "q", &broker).as_deref(),
            Some("t/subscriptions/s/messages/7/abc"),
            "the Location the service gave"
        );
        assert_eq!(lock_duration(&h, &ReceivedProperties::default()), None);
    }

    #[test]
    fn paths_of_sources() {
        assert_eq!(entity_path(&Source::queue("q")), "q");
        assert_eq!(
            entity_path(&Source::subscription("t", "s").dead_letter()),
            "t/subscriptions/s/$DeadLetterQueue"
        );
    }
}
