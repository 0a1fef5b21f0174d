//! The pipeline's decisions, one by one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::event::STRUCTURED_CONTENT_TYPE;
use crate::worker::{handler_fn, MemoryIdempotencyStore};
use crate::{Event, Message, Source};

fn ctx(message: Message, delivery_count: u32) -> Context {
    Context::new(
        Source::subscription("orders", "inventory"),
        delivery_count,
        "m-1",
        message,
    )
}

fn counting(calls: &Arc<AtomicUsize>, result: Result<(), HandlerError>) -> Pipeline {
    let calls = calls.clone();
    Pipeline::new(Router::new().handle(
        "OrderCreated",
        handler_fn(move |_e: Event<Value>, _ctx| {
            let calls = calls.clone();
            let result = result.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                result
            }
        }),
    ))
}

fn order() -> Message {
    Event::new("/shop", "OrderCreated", json!({"order_id": "o-1"}))
        .with_id("e-1")
        .to_message()
        .unwrap()
}

#[tokio::test]
async fn structured_mode_events_are_routed_on_their_decoded_type() {
    let calls = Arc::new(AtomicUsize::new(0));
    let p = counting(&calls, Ok(())).unrouted(Unrouted::Ack);
    let body = json!({"specversion": "1.0", "id": "e-9", "source": "/legacy", "type": "OrderCreated", "data": {}});
    let m = Message::new(body.to_string()).with_content_type(STRUCTURED_CONTENT_TYPE);
    assert_eq!(p.process(ctx(m, 1)).await, Outcome::Ack);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the handler ran: not acked unrouted"
    );
}

#[tokio::test]
async fn unrouted_and_foreign_messages_follow_the_policy() {
    let calls = Arc::new(AtomicUsize::new(0));
    let p = counting(&calls, Ok(()));
    let mut other = order();
    other
        .attributes
        .insert("ce_type".into(), "OrderShipped".into());
    assert_eq!(
        p.process(ctx(other.clone(), 1)).await,
        Outcome::DeadLetter {
            reason: "no handler for event type 'OrderShipped'".into()
        }
    );
    let foreign = p.process(ctx(Message::new("plain text"), 1)).await;
    assert!(
        matches!(&foreign, Outcome::DeadLetter { reason } if reason.contains("not a CloudEvent")),
        "{foreign:?}"
    );
    let p = p.unrouted(Unrouted::Ack);
    assert_eq!(p.process(ctx(other, 1)).await, Outcome::Ack);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failures_become_retries_then_dead_letters() {
    let calls = Arc::new(AtomicUsize::new(0));
    let p = counting(&calls, Err(HandlerError::retry("gateway timeout")))
        .max_attempts(Some(3))
        .backoff(Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: false,
        });
    assert_eq!(
        p.process(ctx(order(), 2)).await,
        Outcome::Retry {
            reason: "gateway timeout".into(),
            after: Duration::from_secs(2)
        }
    );
    assert_eq!(
        p.process(ctx(order(), 3)).await,
        Outcome::DeadLetter {
            reason: "gave up after 3 attempts: gateway timeout".into()
        }
    );
    let p = counting(&calls, Err(HandlerError::permanent("unknown SKU")));
    assert_eq!(
        p.process(ctx(order(), 1)).await,
        Outcome::DeadLetter {
            reason: "permanent: unknown SKU".into()
        }
    );
    let mut bad = order();
    bad.body = b"[1,2".to_vec();
    let undecodable = p.process(ctx(bad, 1)).await;
    assert!(
        matches!(&undecodable, Outcome::DeadLetter { reason } if reason.contains("cannot decode")),
        "{undecodable:?}"
    );
}

#[tokio::test]
async fn a_panic_is_a_retry_with_its_message() {
    let p = Pipeline::new(Router::new().handle(
        "OrderCreated",
        handler_fn(|_e: Event<Value>, _ctx| async move {
            if true {
                panic!("index out of bounds");
            }
            Ok::<(), HandlerError>(())
        }),
    ));
    let outcome = p.process(ctx(order(), 1)).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason == "handler panicked: index out of bounds"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn idempotency_claims_skip_duplicates_and_free_failures() {
    let store = Arc::new(MemoryIdempotencyStore::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let lease = Duration::from_secs(60);
    let ok = counting(&calls, Ok(())).idempotency(store.clone(), lease);
    let failing =
        counting(&calls, Err(HandlerError::retry("down"))).idempotency(store.clone(), lease);

    assert!(matches!(
        failing.process(ctx(order(), 1)).await,
        Outcome::Retry { .. }
    ));
    assert_eq!(ok.process(ctx(order(), 2)).await, Outcome::Ack, "released");
    assert_eq!(
        ok.process(ctx(order(), 3)).await,
        Outcome::Duplicate,
        "completed"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let other_sub = Context::new(Source::subscription("orders", "payment"), 1, "m-2", order());
    assert_eq!(
        ok.process(other_sub).await,
        Outcome::Ack,
        "another subscription handles it too"
    );

    let key = IdempotencyKey::new("subscription:orders/inventory", "/shop", "e-9");
    store.claim(&key, lease).await.unwrap();
    let held = Event::new("/shop", "OrderCreated", json!({}))
        .with_id("e-9")
        .to_message()
        .unwrap();
    let outcome = ok.process(ctx(held, 1)).await;
    assert!(
        matches!(&outcome, Outcome::Retry { after, .. } if *after <= lease && !after.is_zero()),
        "held by another consumer: retried after its lease, {outcome:?}"
    );
}

/// A caller that stops waiting (the Lambda adapter at its deadline, a shutdown) drops
/// the pipeline's future mid-handler: the claim must be released, not left "in progress"
/// for the whole lease, so that the redelivery is handled at once.
#[tokio::test(start_paused = true)]
async fn a_claim_is_released_when_processing_is_dropped_before_it_finishes() {
    let store = Arc::new(MemoryIdempotencyStore::default());
    let lease = Duration::from_secs(300);
    let hung = Pipeline::new(Router::new().handle(
        "OrderCreated",
        handler_fn(|_e: Event<Value>, _ctx| std::future::pending::<Result<(), HandlerError>>()),
    ))
    .idempotency(store.clone(), lease);
    let cut_off = tokio::time::timeout(Duration::from_secs(1), hung.process(ctx(order(), 1))).await;
    assert!(cut_off.is_err(), "the handler never finishes: {cut_off:?}");
    // The release runs as its own task; let it.
    tokio::task::yield_now().await;

    let calls = Arc::new(AtomicUsize::new(0));
    let ok = counting(&calls, Ok(())).idempotency(store.clone(), lease);
    assert_eq!(
        ok.process(ctx(order(), 2)).await,
        Outcome::Ack,
        "the redelivery is handled, not retried after the lease"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn replying_to_a_message_that_is_not_a_request_is_a_clear_error() {
    let ctx = ctx(order(), 1).with_replies(Arc::new(crate::MemoryBroker::new()));
    let err = ctx
        .reply(&Event::new("/x", "Answer", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, crate::Error::InvalidInput { .. })
            && err
                .to_string()
                .contains("it has no reply_to (it is not a request)"),
        "{err}"
    );
}
