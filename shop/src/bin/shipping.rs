//! The `shipping` function, a `bootstrap` for `provided.al2023`: prepares the dispatch of
//! each `OrderCreated` (a city no carrier serves: dead-lettered with the reason).

use courier_core::worker::Router;
use courier_shop::{function_log, Shipping, ORDER_CREATED};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), courier_lambdas::BoxError> {
    courier_lambdas::init_tracing();
    let shipping = Shipping {
        log: function_log(),
    };
    courier_lambdas::run_sqs(Router::new().handle(ORDER_CREATED, shipping)).await
}
