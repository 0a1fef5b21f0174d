//! The `inventory` function, a `bootstrap` for `provided.al2023`: reserves the stock of
//! each `OrderCreated` from its subscription queue (unknown SKU or too little stock:
//! dead-lettered with the reason).

use courier_core::worker::Router;
use courier_shop::{function_log, Inventory, ORDER_CREATED};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), courier_lambdas::BoxError> {
    courier_lambdas::init_tracing();
    let router = Router::new().handle(ORDER_CREATED, Inventory::new(function_log()));
    courier_lambdas::run_sqs(router).await
}
