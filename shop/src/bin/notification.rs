//! The `notification` function, a `bootstrap` for `provided.al2023`: sends the
//! confirmation of each `OrderCreated` (an address that is not one: dead-lettered).
//! Its subscription lets only `OrderCreated` through (`topology.yaml`).

use courier_core::worker::Router;
use courier_shop::{function_log, Notification, ORDER_CREATED};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), courier_lambdas::BoxError> {
    courier_lambdas::init_tracing();
    let notification = Notification {
        log: function_log(),
    };
    courier_lambdas::run_sqs(Router::new().handle(ORDER_CREATED, notification)).await
}
