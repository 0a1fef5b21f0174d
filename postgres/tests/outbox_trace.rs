//! With the `otel` feature, the outbox keeps the producer's trace: the row carries the
//! context current at `Outbox::enqueue` as its W3C `traceparent`
//! (<https://www.w3.org/TR/trace-context/#traceparent-header>), which the relay's
//! instrumented publish leaves alone and consumers link to.

mod common;

use common::TestDb;
use courier_core::{Destination, Event, Message};
use courier_postgres::Outbox;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracerProvider;

async fn stored_attributes(t: &TestDb, id: i64) -> serde_json::Value {
    t.client()
        .await
        .query_one(
            "SELECT attributes FROM courier.outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_span_current_at_enqueue_is_the_rows_traceparent() {
    let t = TestDb::migrated().await;
    let provider = SdkTracerProvider::builder().build();
    let span = provider.tracer("test").start("POST /orders");
    let request = Context::current_with_span(span);
    let sc = request.span().span_context().clone();
    let expected = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    let mut client = t.client().await;
    let tx = client.transaction().await.unwrap();
    let d = Destination::topic("orders");
    let event = Event::new(
        "/shop",
        "OrderCreated",
        serde_json::json!({"order_id": "o-1"}),
    );
    let traced = Outbox::enqueue(&tx, &d, &event)
        .with_context(request.clone())
        .await
        .unwrap();
    let own = Message::new("x").with_attribute(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let kept = Outbox::enqueue_message(&tx, &d, &own)
        .with_context(request)
        .await
        .unwrap();
    let untraced = Outbox::enqueue_message(&tx, &d, &Message::new("y"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let attributes = stored_attributes(&t, traced).await;
    assert_eq!(attributes["traceparent"], expected.as_str(), "{attributes}");
    assert_eq!(
        stored_attributes(&t, kept).await["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "a traceparent the producer set is kept"
    );
    let none = stored_attributes(&t, untraced).await;
    assert!(
        none.get("traceparent").is_none(),
        "no current span, no traceparent: {none}"
    );
    t.drop().await;
}
