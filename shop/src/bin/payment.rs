//! The `payment` function, a `bootstrap` for `provided.al2023`: authorises each
//! `OrderCreated`'s total (a total that does not add up: dead-lettered; a gateway
//! timeout: retried). `COURIER_SHOP_FLAKY_ORDERS` (comma-separated order ids) makes the
//! gateway time out on the first attempt of those orders, to see a retry.

use courier_core::worker::Router;
use courier_shop::{function_log, Payment, ORDER_CREATED};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), courier_lambdas::BoxError> {
    courier_lambdas::init_tracing();
    let flaky = std::env::var("COURIER_SHOP_FLAKY_ORDERS").unwrap_or_default();
    let payment = Payment {
        flaky_orders: courier_shop::order_ids(&flaky),
        log: function_log(),
    };
    courier_lambdas::run_sqs(Router::new().handle(ORDER_CREATED, payment)).await
}
