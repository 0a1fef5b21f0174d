//! The example e-commerce domain of courier: the `OrderCreated` event and the four
//! services that react to it. The `courier demo` workers and the Lambda functions run the
//! same handlers.
#![deny(missing_docs, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use courier_core::worker::{Context, Handler, HandlerError};
use courier_core::Event;

/// The event type name.
pub const ORDER_CREATED: &str = "OrderCreated";

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price of one, in cents.
    pub unit_price_cents: u64,
}

/// An order was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order's id.
    pub order_id: String,
    /// Who to notify.
    pub customer_email: String,
    /// Where to ship.
    pub shipping_city: String,
    /// What was ordered.
    pub items: Vec<LineItem>,
    /// Sum of the lines, in cents.
    pub total_cents: u64,
}

impl OrderCreated {
    /// An order of `quantity` x `sku` at `unit_price_cents`.
    pub fn new(order_id: &str, sku: &str, quantity: u32, unit_price_cents: u64) -> Self {
        OrderCreated {
            order_id: order_id.to_owned(),
            customer_email: format!("customer-{order_id}@example.com"),
            shipping_city: "Lisbon".to_owned(),
            items: vec![LineItem {
                sku: sku.to_owned(),
                quantity,
                unit_price_cents,
            }],
            total_cents: u64::from(quantity) * unit_price_cents,
        }
    }
}

/// Where the services report what they did.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// Reserves stock; an unknown SKU or too little stock is permanent.
pub struct Inventory {
    stock: Mutex<HashMap<String, u32>>,
    log: Log,
}

impl Inventory {
    /// A warehouse with some mugs and shirts.
    pub fn new(log: Log) -> Self {
        let stock = [("MUG-RED", 100), ("MUG-BLUE", 50), ("SHIRT-M", 20)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        Inventory {
            stock: Mutex::new(stock),
            log,
        }
    }
}

impl Handler<OrderCreated> for Inventory {
    async fn handle(&self, event: Event<OrderCreated>, _ctx: &Context) -> Result<(), HandlerError> {
        let order = event.data;
        let mut stock = self.stock.lock().unwrap_or_else(|p| p.into_inner());
        // Check every line before reserving any, so a rejected order reserves nothing.
        for item in &order.items {
            match stock.get(&item.sku) {
                None => {
                    return Err(HandlerError::permanent(format!(
                        "unknown SKU {} in {}",
                        item.sku, order.order_id
                    )))
                }
                Some(&left) if left < item.quantity => {
                    return Err(HandlerError::permanent(format!(
                        "out of stock: {} (want {}, have {left})",
                        item.sku, item.quantity
                    )))
                }
                Some(_) => {}
            }
        }
        for item in &order.items {
            if let Some(left) = stock.get_mut(&item.sku) {
                *left -= item.quantity;
                (self.log)(format!(
                    "[inventory]    reserved {} x {} for {} ({left} left)",
                    item.quantity, item.sku, order.order_id
                ));
            }
        }
        Ok(())
    }
}

/// Authorises payment; the gateway times out on the first attempt of some orders.
pub struct Payment {
    /// Orders whose first authorisation attempt times out.
    pub flaky_orders: Vec<String>,
    /// Where to report.
    pub log: Log,
}

impl Handler<OrderCreated> for Payment {
    async fn handle(&self, event: Event<OrderCreated>, ctx: &Context) -> Result<(), HandlerError> {
        let order = event.data;
        let sum: u64 = order
            .items
            .iter()
            .map(|i| u64::from(i.quantity) * i.unit_price_cents)
            .sum();
        if sum != order.total_cents || sum == 0 {
            return Err(HandlerError::permanent(format!(
                "total {} does not match the lines ({sum})",
                order.total_cents
            )));
        }
        if ctx.delivery_count() == 1 && self.flaky_orders.contains(&order.order_id) {
            (self.log)(format!(
                "[payment]      gateway timeout for {} (attempt 1): will retry",
                order.order_id
            ));
            return Err(HandlerError::retry("payment gateway timeout"));
        }
        (self.log)(format!(
            "[payment]      authorised {}.{:02} EUR for {} (attempt {})",
            sum / 100,
            sum % 100,
            order.order_id,
            ctx.delivery_count()
        ));
        Ok(())
    }
}

/// Prepares the dispatch.
pub struct Shipping {
    /// Where to report.
    pub log: Log,
}

/// Cities the carriers serve.
const SERVED_CITIES: [&str; 4] = ["Lisbon", "Porto", "Madrid", "Berlin"];

impl Handler<OrderCreated> for Shipping {
    async fn handle(&self, event: Event<OrderCreated>, _ctx: &Context) -> Result<(), HandlerError> {
        let order = event.data;
        if !SERVED_CITIES.contains(&order.shipping_city.as_str()) {
            return Err(HandlerError::permanent(format!(
                "no carrier serves {}",
                order.shipping_city
            )));
        }
        let parcels: u32 = order.items.iter().map(|i| i.quantity).sum();
        (self.log)(format!(
            "[shipping]     dispatch of {parcels} item(s) to {} prepared for {}",
            order.shipping_city, order.order_id
        ));
        Ok(())
    }
}

/// Sends the confirmation (the address is masked in logs).
pub struct Notification {
    /// Where to report.
    pub log: Log,
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

impl Handler<OrderCreated> for Notification {
    async fn handle(&self, event: Event<OrderCreated>, _ctx: &Context) -> Result<(), HandlerError> {
        let order = event.data;
        if !order.customer_email.contains('@') {
            return Err(HandlerError::permanent("customer email is not an address"));
        }
        (self.log)(format!(
            "[notification] confirmation for {} sent to {}",
            order.order_id,
            mask(&order.customer_email)
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask("customer-o1@example.com"), "c***@example.com");
        assert_eq!(mask("nonsense"), "***");
    }
}
