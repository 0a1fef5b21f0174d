//! An SQS-triggered AWS Lambda function: the same typed handler as a worker, run by
//! `lambda_runtime` with partial batch responses. Build it as a `bootstrap` for
//! `provided.al2023` (see scripts/package-lambdas.sh), or run it locally with
//! `courier lambda run --bin target/debug/examples/lambda_function --source subscription:orders/inventory`.
use courier::prelude::*;
use courier::worker::Router;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderCreated {
    order_id: String,
}
courier::event_type!(OrderCreated);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let router = Router::new().on(handler_fn(|e: Event<OrderCreated>, ctx| async move {
        tracing::info!(order = %e.data.order_id, attempt = ctx.delivery_count(), "reserving stock");
        Ok::<(), HandlerError>(())
    }));
    courier::lambda::run_sqs(router).await
}
