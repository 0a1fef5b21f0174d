//! The SQS adapter over real AWS event JSON fixtures, asserting exact `batchItemFailures`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use courier_core::event::attr;
use courier_core::worker::{handler_fn, Context, HandlerError, MemoryIdempotencyStore, Router};
use courier_core::{Error, Event, Message};
use courier_lambdas::sqs::{DeadLetterSink, SqsAdapter};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
}

fn fixture(name: &str) -> SqsEvent {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
        .expect("fixture parses as an SQS event")
}

#[derive(Default)]
struct Recorded {
    seen: Mutex<Vec<String>>,
    dead: Mutex<Vec<(String, String, String)>>,
}

struct Sink(Arc<Recorded>, bool);

#[async_trait]
impl DeadLetterSink for Sink {
    async fn dead_letter(
        &self,
        queue: &str,
        message: &Message,
        reason: &str,
    ) -> courier_core::Result<()> {
        if !self.1 {
            return Err(Error::transient("dead-letter queue unavailable"));
        }
        let id = message
            .attributes
            .get(attr::ID)
            .cloned()
            .unwrap_or_else(|| String::from_utf8_lossy(&message.body).into_owned());
        self.0
            .dead
            .lock()
            .unwrap()
            .push((queue.to_owned(), id, reason.to_owned()));
        Ok(())
    }
}

/// o-2 and a-2 ask for a retry, o-3 is permanent, o-panic panics; the rest succeed.
fn adapter(rec: &Arc<Recorded>, sink_works: bool) -> SqsAdapter {
    let r = rec.clone();
    let router = Router::new().handle(
        "OrderCreated",
        handler_fn(move |e: Event<Order>, ctx: Context| {
            let r = r.clone();
            async move {
                assert!(ctx.delivery_count() >= 1);
                r.seen.lock().unwrap().push(e.data.order_id.clone());
                match e.data.order_id.as_str() {
                    "o-2" | "a-2" => Err(HandlerError::retry("gateway timeout")),
                    "o-3" => Err(HandlerError::permanent("out of stock")),
                    "o-panic" => panic!("bug"),
                    _ => Ok(()),
                }
            }
        }),
    );
    SqsAdapter::new(router).dead_letters(Arc::new(Sink(rec.clone(), sink_works)))
}

fn failures(r: &SqsBatchResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn direct_sqs_records_retry_only_what_asked_to_and_dead_letter_the_permanent() {
    let rec = Arc::new(Recorded::default());
    let response = adapter(&rec, true).handle(fixture("sqs-direct.json")).await;
    assert_eq!(
        failures(&response),
        ["2e1424d4-f796-459a-8184-9c92662be6da"]
    );
    let dead = rec.dead.lock().unwrap().clone();
    assert_eq!(
        dead,
        [(
            "orders-inventory".to_owned(),
            "e-3".to_owned(),
            "permanent: out of stock".to_owned()
        )]
    );
    // The response serializes exactly as Lambda expects.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
}

#[tokio::test]
async fn sns_envelopes_inside_sqs_are_unwrapped() {
    let rec = Arc::new(Recorded::default());
    let response = adapter(&rec, true).handle(fixture("sns-in-sqs.json")).await;
    assert!(failures(&response).is_empty());
    assert_eq!(*rec.seen.lock().unwrap(), ["o-9"]);
}

#[tokio::test]
async fn fifo_fails_the_rest_of_a_group_after_its_first_failure() {
    let rec = Arc::new(Recorded::default());
    let response = adapter(&rec, true).handle(fixture("fifo.json")).await;
    assert_eq!(
        failures(&response),
        [
            "11111111-0000-0000-0000-000000000002",
            "11111111-0000-0000-0000-000000000003"
        ]
    );
    assert_eq!(
        *rec.seen.lock().unwrap(),
        ["a-1", "a-2", "b-1"],
        "a-3 is not handled out of order"
    );
}

#[tokio::test]
async fn malformed_foreign_and_unrouted_records_go_to_the_dead_letter_queue_with_reasons() {
    let rec = Arc::new(Recorded::default());
    let response = adapter(&rec, true).handle(fixture("malformed.json")).await;
    assert!(
        failures(&response).is_empty(),
        "dead-lettered records are done: {response:?}"
    );
    let dead = rec.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 3);
    assert!(
        dead[0]
            .2
            .starts_with("permanent: cannot decode message: data of event type 'OrderCreated'"),
        "{dead:?}"
    );
    assert_eq!(
        dead[1].2,
        "no handler: the message is not a CloudEvent (no ce_type attribute)"
    );
    assert_eq!(dead[2].2, "no handler for event type 'OrderShipped'");
}

#[tokio::test]
async fn when_dead_lettering_fails_or_there_is_no_sink_the_record_is_retried() {
    let rec = Arc::new(Recorded::default());
    let response = adapter(&rec, false).handle(fixture("malformed.json")).await;
    assert_eq!(failures(&response).len(), 3);

    let r = rec.clone();
    let no_sink = SqsAdapter::new(Router::new().handle(
        "OrderCreated",
        handler_fn(move |_e: Event<Order>, _c| {
            let _ = &r;
            async { Err::<(), _>(HandlerError::permanent("no")) }
        }),
    ));
    assert_eq!(
        failures(&no_sink.handle(fixture("sqs-direct.json")).await).len(),
        3
    );
}

#[tokio::test]
async fn a_panic_fails_its_record_only_and_duplicates_are_skipped() {
    let rec = Arc::new(Recorded::default());
    let mut event = fixture("sqs-direct.json");
    event.records[0].body = Some(r#"{"order_id":"o-panic","total_cents":1}"#.into());
    let response = adapter(&rec, true).handle(event).await;
    assert_eq!(
        failures(&response),
        [
            "059f36b4-87a3-44ab-83d2-661975830a7d",
            "2e1424d4-f796-459a-8184-9c92662be6da"
        ]
    );

    let rec = Arc::new(Recorded::default());
    let a = adapter(&rec, true).idempotency(Arc::new(MemoryIdempotencyStore::default()));
    a.handle(fixture("sqs-direct.json")).await;
    a.handle(fixture("sqs-direct.json")).await;
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|s| *s == "o-1").count(),
        1,
        "o-1 handled once: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| *s == "o-2").count(),
        2,
        "o-2 failed, so it is handled again"
    );
}

#[tokio::test]
async fn sns_events_succeed_or_fail_the_invocation_with_the_reason() {
    use aws_lambda_events::event::sns::SnsEvent;
    use courier_lambdas::sns::SnsAdapter;
    let path = format!("{}/tests/fixtures/sns.json", env!("CARGO_MANIFEST_DIR"));
    let event: SnsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("fixture parses as an SNS event");
    let rec = Arc::new(Recorded::default());
    let router = |fail: bool| {
        let r = rec.clone();
        Router::new().handle(
            "OrderCreated",
            handler_fn(move |e: Event<Order>, _ctx: Context| {
                let r = r.clone();
                async move {
                    r.seen.lock().unwrap().push(e.data.order_id);
                    if fail {
                        Err(HandlerError::permanent("no such customer"))
                    } else {
                        Ok(())
                    }
                }
            }),
        )
    };
    SnsAdapter::new(router(false))
        .handle(event.clone())
        .await
        .unwrap();
    assert_eq!(*rec.seen.lock().unwrap(), ["o-1"]);
    let err = SnsAdapter::new(router(true))
        .handle(event)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 of 1 SNS record(s) failed: permanent: no such customer"
    );
}
