//! The shop's four functions: each handles `OrderCreated` from its own subscription queue.
//!
//! | function | does | fails |
//! | --- | --- | --- |
//! | `inventory` | reserves stock | unknown SKU or out of stock: permanent |
//! | `payment` | authorises the total | a total that does not add up: permanent; gateway timeout: retry |
//! | `shipping` | prepares the dispatch | a city no carrier serves: permanent |
//! | `notification` | sends the confirmation | an address that is not one: permanent |
//!
//! `COURIER_SHOP_FLAKY_ORDERS` (comma-separated order ids) makes the payment gateway time
//! out on the first attempt of those orders, to see a retry.

use std::sync::Arc;

use courier_core::worker::Router;
use courier_shop::{Inventory, Log, Notification, Payment, Shipping, ORDER_CREATED};

/// The functions, by name.
pub const NAMES: [&str; 4] = ["inventory", "payment", "shipping", "notification"];

fn log() -> Log {
    Arc::new(|line| tracing::info!("{line}"))
}

/// The handlers of the function `name`, or `None` for an unknown name.
pub fn router(name: &str) -> Option<Router> {
    let router = Router::new();
    Some(match name {
        "inventory" => router.handle(ORDER_CREATED, Inventory::new(log())),
        "payment" => {
            let flaky = std::env::var("COURIER_SHOP_FLAKY_ORDERS").unwrap_or_default();
            let flaky_orders = flaky
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            router.handle(
                ORDER_CREATED,
                Payment {
                    flaky_orders,
                    log: log(),
                },
            )
        }
        "shipping" => router.handle(ORDER_CREATED, Shipping { log: log() }),
        "notification" => router.handle(ORDER_CREATED, Notification { log: log() }),
        _ => return None,
    })
}

/// The `main` of a function binary.
pub async fn main(name: &str) -> Result<(), lambda_runtime::Error> {
    crate::init_tracing();
    let router = router(name).ok_or_else(|| format!("no function named '{name}'"))?;
    crate::run_sqs(router).await
}
