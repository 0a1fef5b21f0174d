//! The DynamoDB idempotency store against dynalite, a DynamoDB-API server the team did
//! not write (`./scripts/test.sh` starts it and sets `COURIER_TEST_DYNAMODB_URL`; without
//! it these tests fail, never skip).
//!
//! Behaviour follows AWS Lambda Powertools' DynamoDB persistence layer
//! (powertools-lambda-python, `aws_lambda_powertools/utilities/idempotency/persistence/dynamodb.py`:
//! the conditional `put_item` with `attribute_not_exists(#id) OR #expiry < :now OR (#status =
//! :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)`)
//! and DynamoDB's documentation of condition expressions
//! (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html):
//! a failed condition is `ConditionalCheckFailedException` and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use courier_core::worker::{
    handler_fn, Claim, Context, HandlerError, IdempotencyKey, IdempotencyStore, Outcome, Pipeline,
    Router,
};
use courier_core::{Event, Source};
use courier_dynamodb::DynamoDbIdempotencyStore;

fn endpoint() -> String {
    std::env::var("COURIER_TEST_DYNAMODB_URL").unwrap_or_else(|_| {
        panic!("COURIER_TEST_DYNAMODB_URL is not set: run ./scripts/test.sh, or ./scripts/dynalite.sh start and export its URL")
    })
}

/// An SDK client for dynalite (which accepts any credentials).
async fn client() -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "dynalite",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

/// A store on a new table of its own.
async fn store() -> DynamoDbIdempotencyStore {
    let table = format!("idempotency-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoDbIdempotencyStore::from_client(client().await, table);
    assert!(
        store.create_table().await.expect("dynalite reachable"),
        "new table"
    );
    assert!(
        !store.create_table().await.unwrap(),
        "second time: it exists"
    );
    store
}

fn key(sub: &str, id: &str) -> IdempotencyKey {
    IdempotencyKey::new(sub, "/shop", id)
}

#[tokio::test]
async fn claims_complete_and_release_as_powertools_records() {
    let s = store().await.key_prefix("inventory");
    let lease = Duration::from_secs(30);
    let k = key("subscription:orders/inventory", "e1");
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Acquired);
    match s.claim(&k, lease).await.unwrap() {
        Claim::InProgress {
            retry_after: Some(d),
        } => {
            assert!(d > Duration::from_secs(25) && d <= lease, "{d:?}")
        }
        other => panic!("{other:?}"),
    }
    s.release(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Acquired,
        "released"
    );
    s.complete(&k).await.unwrap();
    assert_eq!(s.claim(&k, lease).await.unwrap(), Claim::Completed);
    s.release(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, lease).await.unwrap(),
        Claim::Completed,
        "release never deletes a completed record"
    );
    assert_eq!(
        s.claim(&key("subscription:orders/payment", "e1"), lease)
            .await
            .unwrap(),
        Claim::Acquired,
        "another consumer of the same event"
    );
}

#[tokio::test]
async fn the_record_has_the_powertools_layout() {
    let s = store().await.key_prefix("inventory");
    let k = key("queue:audit", "e1");
    s.claim(&k, Duration::from_secs(60)).await.unwrap();
    let item = raw_item(&s, &s.record_id(&k).unwrap()).await;
    assert_eq!(item["status"].as_s().unwrap(), "INPROGRESS");
    let now_s = now_secs();
    let expiration: i64 = item["expiration"].as_n().unwrap().parse().unwrap();
    let in_progress: i64 = item["in_progress_expiration"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expiration > now_s + 6 * 24 * 3600,
        "seconds, 7 days ahead: {expiration}"
    );
    assert!(
        (in_progress / 1000 - (now_s + 60)).abs() <= 2,
        "milliseconds, one lease ahead: {in_progress}"
    );
    s.complete(&k).await.unwrap();
    let item = raw_item(&s, &s.record_id(&k).unwrap()).await;
    assert_eq!(item["status"].as_s().unwrap(), "COMPLETED");
    assert!(!item.contains_key("in_progress_expiration"));
}

#[tokio::test]
async fn a_lease_that_ran_out_and_an_expired_record_can_be_claimed_again() {
    let s = store().await.retention(Duration::from_secs(1));
    let k = key("queue:audit", "e1");
    assert_eq!(
        s.claim(&k, Duration::from_millis(200)).await.unwrap(),
        Claim::Acquired
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        s.claim(&k, Duration::from_secs(30)).await.unwrap(),
        Claim::Acquired,
        "the function that held it timed out"
    );
    s.complete(&k).await.unwrap();
    assert_eq!(
        s.claim(&k, Duration::from_secs(30)).await.unwrap(),
        Claim::Completed
    );
    // `expiration` counts whole seconds: past it once two seconds have gone by.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        s.claim(&k, Duration::from_secs(30)).await.unwrap(),
        Claim::Acquired,
        "past its retention"
    );
}

#[tokio::test]
async fn a_missing_table_is_not_found_and_names_it() {
    let missing = DynamoDbIdempotencyStore::from_client(client().await, "no-such-table");
    let e = missing
        .claim(&key("queue:a", "e1"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(e.to_string().contains("'no-such-table'"), "{e}");
}

#[tokio::test]
async fn the_pipeline_acks_a_redelivered_event_as_a_duplicate() {
    let s: Arc<dyn IdempotencyStore> = Arc::new(store().await);
    let handled = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = handled.clone();
    let router = Router::new().handle(
        "OrderCreated",
        handler_fn(move |_e: Event<serde_json::Value>, _ctx: Context| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<(), HandlerError>(())
            }
        }),
    );
    let pipeline = Pipeline::new(router).idempotency(s, Duration::from_secs(30));
    let message = Arc::new(
        Event::new(
            "/shop",
            "OrderCreated",
            serde_json::json!({"order_id": "o-1"}),
        )
        .to_message()
        .unwrap(),
    );
    let source = Source::subscription("orders", "inventory");
    let ctx = |n| Context::new(source.clone(), n, &format!("m-{n}"), message.clone());
    assert_eq!(pipeline.process(ctx(1)).await, Outcome::Ack);
    assert_eq!(pipeline.process(ctx(2)).await, Outcome::Duplicate);
    assert_eq!(handled.load(std::sync::atomic::Ordering::SeqCst), 1);
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn raw_item(
    s: &DynamoDbIdempotencyStore,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    client()
        .await
        .get_item()
        .table_name(s.table())
        .key("id", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the record exists")
}
