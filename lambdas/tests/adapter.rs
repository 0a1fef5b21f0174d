//! The adapters over AWS's documented event shapes, asserting exact responses.
//!
//! Fixtures (`tests/fixtures`, see its README) follow "Using Lambda with Amazon SQS"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>: example standard and
//! FIFO queue events), the partial batch response of "Handling errors for an SQS event
//! source in Lambda" (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>:
//! `{"batchItemFailures": [{"itemIdentifier": messageId}]}`), and the SNS event of
//! "Invoking Lambda functions with Amazon SNS notifications"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html>). Each fixture is also
//! read with the `aws_lambda_events` types, so they are the shapes AWS's own crate knows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use courier_aws::redrive::DeliveredMessage;
use courier_core::worker::{handler_fn, Context, HandlerError, MemoryIdempotencyStore, Router};
use courier_core::{Error, Event};
use courier_lambdas::dead_letter::DeadLetterSink;
use courier_lambdas::event::{SnsEvent, SqsEvent};
use courier_lambdas::sqs::{BatchResponse, SqsAdapter};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).expect("fixture");
    if name == "sns.json" {
        serde_json::from_str::<aws_lambda_events::event::sns::SnsEvent>(&raw)
            .expect("the fixture is an SNS event for aws_lambda_events too");
    } else {
        serde_json::from_str::<aws_lambda_events::event::sqs::SqsEvent>(&raw)
            .expect("the fixture is an SQS event for aws_lambda_events too");
    }
    raw
}

fn sqs(raw: &str) -> SqsEvent<'_> {
    serde_json::from_str(raw).expect("fixture parses as an SQS event")
}

/// What the sink was given: (source ARN, message id, reason, attributes as (name, type, string, binary)).
type Dead = (
    String,
    String,
    String,
    Vec<(String, String, Option<String>, Option<String>)>,
);

#[derive(Default)]
struct Recorded {
    seen: Mutex<Vec<String>>,
    dead: Mutex<Vec<Dead>>,
}

struct Sink(Arc<Recorded>, bool);

#[async_trait]
impl DeadLetterSink for Sink {
    async fn dead_letter(
        &self,
        m: &DeliveredMessage<'_>,
        reason: &str,
    ) -> courier_core::Result<()> {
        if !self.1 {
            return Err(Error::transient("dead-letter queue unavailable"));
        }
        let attributes = m
            .attributes
            .iter()
            .map(|a| {
                (
                    a.name.to_owned(),
                    a.data_type.to_owned(),
                    a.string_value.map(str::to_owned),
                    a.binary_value_base64.map(str::to_owned),
                )
            })
            .collect();
        self.0.dead.lock().unwrap().push((
            m.source_arn.to_owned(),
            m.message_id.to_owned(),
            reason.to_owned(),
            attributes,
        ));
        Ok(())
    }
}

/// o-2 and a-2 ask for a retry, o-3 is permanent, o-panic panics, o-slow takes a minute.
fn router(rec: &Arc<Recorded>) -> Router {
    let r = rec.clone();
    Router::new().handle(
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
                    "o-slow" => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
        }),
    )
}

fn adapter(rec: &Arc<Recorded>, sink_works: bool) -> SqsAdapter {
    SqsAdapter::new(router(rec)).dead_letters(Arc::new(Sink(rec.clone(), sink_works)))
}

fn failures(r: &BatchResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn direct_sqs_records_retry_only_what_asked_to_and_dead_letter_the_permanent() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("sqs-direct.json");
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
    assert_eq!(
        failures(&response),
        ["2e1424d4-f796-459a-8184-9c92662be6da"]
    );
    let dead = rec.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].0.as_str(), dead[0].1.as_str(), dead[0].2.as_str()),
        (
            "arn:aws:sqs:us-east-1:123456789012:orders-inventory",
            "db37cc61-1bb4-4b77-b4e1-4d4d0a0d7b4c",
            "permanent: out of stock"
        )
    );
    // The response serializes exactly as Lambda expects.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]})
    );
    assert_eq!(
        serde_json::to_string(&BatchResponse::default()).unwrap(),
        r#"{"batchItemFailures":[]}"#
    );
}

#[tokio::test]
async fn binary_attributes_go_to_the_dead_letter_queue_with_the_record() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("sqs-binary-attribute.json");
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let dead = rec.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let attributes = &dead[0].3;
    assert!(
        attributes.contains(&(
            "thumbnail".into(),
            "Binary".into(),
            None,
            Some("iVBORw0KGgo=".into())
        )),
        "every attribute goes with the record, the Binary one included: {attributes:?}"
    );
    assert_eq!(attributes.len(), 5, "{attributes:?}");
}

#[tokio::test]
async fn sns_envelopes_inside_sqs_are_unwrapped() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("sns-in-sqs.json");
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(*rec.seen.lock().unwrap(), ["o-9"]);
}

#[tokio::test]
async fn fifo_fails_the_rest_of_a_group_after_its_first_failure() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("fifo.json");
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
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
    let raw = fixture("malformed.json");
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
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
    let raw = fixture("malformed.json");
    let response = adapter(&rec, false).handle(&sqs(&raw)).await;
    assert_eq!(failures(&response).len(), 3);

    let no_sink = SqsAdapter::new(Router::new().handle(
        "OrderCreated",
        handler_fn(move |_e: Event<Order>, _c| async {
            Err::<(), _>(HandlerError::permanent("no"))
        }),
    ));
    let raw = fixture("sqs-direct.json");
    assert_eq!(failures(&no_sink.handle(&sqs(&raw)).await).len(), 3);
}

#[tokio::test]
async fn a_panic_fails_its_record_only_and_duplicates_are_skipped() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("sqs-direct.json").replacen("o-1", "o-panic", 1);
    let response = adapter(&rec, true).handle(&sqs(&raw)).await;
    assert_eq!(
        failures(&response),
        [
            "059f36b4-87a3-44ab-83d2-661975830a7d",
            "2e1424d4-f796-459a-8184-9c92662be6da"
        ]
    );

    let rec = Arc::new(Recorded::default());
    let a = adapter(&rec, true).idempotency(Arc::new(MemoryIdempotencyStore::default()));
    let raw = fixture("sqs-direct.json");
    a.handle(&sqs(&raw)).await;
    a.handle(&sqs(&raw)).await;
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

#[tokio::test(start_paused = true)]
async fn the_answer_comes_before_the_deadline_with_unfinished_records_failed() {
    let rec = Arc::new(Recorded::default());
    let raw = fixture("sqs-direct.json").replacen("o-1", "o-slow", 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let response = adapter(&rec, true)
        .handle_until(&sqs(&raw), Some(deadline))
        .await;
    assert!(
        tokio::time::Instant::now() <= deadline,
        "answered by the deadline"
    );
    assert_eq!(
        failures(&response),
        [
            "059f36b4-87a3-44ab-83d2-661975830a7d",
            "2e1424d4-f796-459a-8184-9c92662be6da"
        ],
        "o-slow did not finish: failed with o-2; o-3 was dead-lettered"
    );
    assert_eq!(rec.dead.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_dead_letter_queue_does_not_outlast_the_deadline() {
    struct Hung;
    #[async_trait]
    impl DeadLetterSink for Hung {
        async fn dead_letter(
            &self,
            _m: &DeliveredMessage<'_>,
            _r: &str,
        ) -> courier_core::Result<()> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
    let rec = Arc::new(Recorded::default());
    let a = SqsAdapter::new(router(&rec)).dead_letters(Arc::new(Hung));
    let raw = fixture("sqs-direct.json");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let response = a.handle_until(&sqs(&raw), Some(deadline)).await;
    assert_eq!(
        failures(&response),
        [
            "2e1424d4-f796-459a-8184-9c92662be6da",
            "db37cc61-1bb4-4b77-b4e1-4d4d0a0d7b4c"
        ]
    );
}

#[tokio::test]
async fn sns_events_succeed_or_fail_the_invocation_with_the_reason() {
    use courier_lambdas::sns::SnsAdapter;
    let raw = fixture("sns.json");
    let event: SnsEvent<'_> = serde_json::from_str(&raw).expect("fixture parses as an SNS event");
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
    SnsAdapter::new(router(false)).handle(&event).await.unwrap();
    assert_eq!(*rec.seen.lock().unwrap(), ["o-1"]);
    let err = SnsAdapter::new(router(true))
        .handle(&event)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 of 1 SNS record(s) failed: permanent: no such customer"
    );
}
