//! The example e-commerce domain of courier: the `OrderCreated` event and the four
//! services that react to it. The `courier demo` workers and the Lambda functions run the
//! same handlers.
#![deny(missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use serde::{Deserialize, Serialize};

use courier_core::worker::{Context, Handler, HandlerError};
use courier_core::Event;

/// The event type name.
pub const ORDER_CREATED: &str = "OrderCreated";

/// The four services, each a subscription of the `orders` topic and a Lambda function
/// (`src/bin/`) that handles [`ORDER_CREATED`].
pub const FUNCTIONS: [&str; 4] = ["inventory", "payment", "shipping", "notification"];

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
            total_cents: u64::from(quantity).saturating_mul(unit_price_cents),
        }
    }
}

/// Where the services report what they did.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// A [`Log`] to `tracing` at `info`, for the Lambda functions (CloudWatch keeps it).
pub fn function_log() -> Log {
    Arc::new(|line| tracing::info!("{line}"))
}

/// Order ids from a comma-separated list (`COURIER_SHOP_FLAKY_ORDERS`), blanks skipped.
pub fn order_ids(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

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

    /// Stock left of `sku` (`None`: a SKU the warehouse does not carry).
    pub fn left(&self, sku: &str) -> Option<u32> {
        self.stock.lock().get(sku).copied()
    }
}

impl Inventory {
    /// What the order asks for, by SKU: two lines of one SKU count together.
    fn wanted(order: &OrderCreated) -> Result<BTreeMap<&str, u32>, HandlerError> {
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &order.items {
            let total = wanted.entry(&item.sku).or_default();
            *total = total.checked_add(item.quantity).ok_or_else(|| {
                HandlerError::permanent(format!(
                    "quantity of {} in {} is too large",
                    item.sku, order.order_id
                ))
            })?;
        }
        Ok(wanted)
    }
}

impl Handler<OrderCreated> for Inventory {
    async fn handle(&self, event: Event<OrderCreated>, _ctx: &Context) -> Result<(), HandlerError> {
        let order = event.data;
        let wanted = Self::wanted(&order)?;
        let mut stock = self.stock.lock();
        // All or nothing: every SKU is checked before any stock is reserved.
        for (&sku, &quantity) in &wanted {
            match stock.get(sku) {
                None => {
                    return Err(HandlerError::permanent(format!(
                        "unknown SKU {sku} in {}",
                        order.order_id
                    )))
                }
                Some(&left) if left < quantity => {
                    return Err(HandlerError::permanent(format!(
                        "out of stock: {sku} (want {quantity}, have {left})"
                    )))
                }
                Some(_) => {}
            }
        }
        for (sku, quantity) in wanted {
            if let Some(left) = stock.get_mut(sku) {
                *left -= quantity; // checked above, under the same lock
                (self.log)(format!(
                    "[inventory]    reserved {quantity} x {sku} for {} ({left} left)",
                    order.order_id
                ));
            }
        }
        Ok(())
    }
}

/// A command to the warehouse: hold `quantity` of `sku` (request-response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveStock {
    /// What to hold.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}
courier_core::event_type!(ReserveStock);

/// The warehouse's answer to [`ReserveStock`]: event type `StockReserved` or `OutOfStock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockAnswer {
    /// The SKU asked for.
    pub sku: String,
    /// Whether it was reserved.
    pub reserved: bool,
    /// What is left (0 for a SKU the warehouse does not carry).
    pub left: u32,
}

/// The event type of a successful [`StockAnswer`].
pub const STOCK_RESERVED: &str = "StockReserved";
/// The event type of a refused [`StockAnswer`].
pub const OUT_OF_STOCK: &str = "OutOfStock";

/// The warehouse's desk for [`ReserveStock`] requests, on the same stock as [`Inventory`].
pub struct StockDesk(pub Arc<Inventory>);

impl Handler<ReserveStock> for StockDesk {
    /// Answers with `StockReserved` or `OutOfStock`; an unknown SKU is a fault.
    async fn handle(&self, event: Event<ReserveStock>, ctx: &Context) -> Result<(), HandlerError> {
        let ask = event.data;
        let answer = {
            let mut stock = self.0.stock.lock();
            stock.get_mut(&ask.sku).map(|left| {
                let reserved = *left >= ask.quantity;
                if reserved {
                    *left -= ask.quantity;
                }
                StockAnswer {
                    sku: ask.sku.clone(),
                    reserved,
                    left: *left,
                }
            })
        };
        let Some(answer) = answer else {
            ctx.reply_fault(format!("unknown SKU {}", ask.sku))
                .await
                .map_err(HandlerError::retry)?;
            return Ok(());
        };
        let ty = if answer.reserved {
            STOCK_RESERVED
        } else {
            OUT_OF_STOCK
        };
        (self.0.log)(format!(
            "[inventory]    {ty}: {} x {} ({} left), replying to {}",
            ask.quantity,
            ask.sku,
            answer.left,
            ctx.message().reply_to.as_deref().unwrap_or("-")
        ));
        ctx.reply(&Event::new("/shop/inventory", ty, answer))
            .await
            .map_err(HandlerError::retry)?;
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
        // Checked: a crafted order must not wrap around to a total that matches.
        let sum = order
            .items
            .iter()
            .try_fold(0u64, |sum, i| {
                u64::from(i.quantity)
                    .checked_mul(i.unit_price_cents)
                    .and_then(|line| sum.checked_add(line))
            })
            .ok_or_else(|| {
                HandlerError::permanent(format!(
                    "the total of {} is too large to be a price",
                    order.order_id
                ))
            })?;
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
        let parcels: u64 = order.items.iter().map(|i| u64::from(i.quantity)).sum();
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
    use courier_core::Source;

    fn quiet() -> Log {
        Arc::new(|_| {})
    }

    fn ctx() -> Context {
        Context::new(
            Source::queue("orders"),
            1,
            "m-1",
            courier_core::Message::new("{}"),
        )
    }

    fn order(lines: &[(&str, u32, u64)], total_cents: u64) -> Event<OrderCreated> {
        let mut o = OrderCreated::new("order-9", "MUG-RED", 1, 0);
        o.items = lines
            .iter()
            .map(|(sku, quantity, unit_price_cents)| LineItem {
                sku: (*sku).to_owned(),
                quantity: *quantity,
                unit_price_cents: *unit_price_cents,
            })
            .collect();
        o.total_cents = total_cents;
        Event::new("/shop", ORDER_CREATED, o)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_total_that_wraps_around_is_refused_not_authorised() {
        let payment = Payment {
            flaky_orders: vec![],
            log: quiet(),
        };
        // 2^32-1 units at 2^33 cents wraps u64 to a small number; so does the sum.
        let crafted = order(
            &[("MUG-RED", u32::MAX, 1 << 33), ("MUG-BLUE", 1, 1 << 33)],
            0,
        );
        let wrapped = (u64::from(u32::MAX))
            .wrapping_mul(1 << 33)
            .wrapping_add(1 << 33);
        let mut crafted = crafted;
        crafted.data.total_cents = wrapped;
        let e = block_on(payment.handle(crafted, &ctx())).unwrap_err();
        assert!(
            matches!(&e, HandlerError::Permanent(r) if r.contains("too large to be a price")),
            "{e}"
        );
    }

    #[test]
    fn two_lines_of_one_sku_are_checked_against_the_stock_together() {
        let inventory = Inventory::new(quiet());
        // 20 shirts in stock: 15 + 15 is more than there is.
        let e = block_on(
            inventory.handle(order(&[("SHIRT-M", 15, 1), ("SHIRT-M", 15, 1)], 30), &ctx()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, HandlerError::Permanent(r) if r.contains("out of stock: SHIRT-M (want 30, have 20)")),
            "{e}"
        );
        assert_eq!(inventory.left("SHIRT-M"), Some(20), "nothing reserved");
        block_on(inventory.handle(order(&[("SHIRT-M", 10, 1), ("SHIRT-M", 10, 1)], 20), &ctx()))
            .unwrap();
        assert_eq!(inventory.left("SHIRT-M"), Some(0));
    }

    #[test]
    fn an_order_failing_on_a_later_line_reserves_nothing() {
        let inventory = Inventory::new(quiet());
        for bad in [
            order(&[("MUG-RED", 5, 1), ("GHOST-42", 1, 1)], 6),
            order(&[("MUG-RED", 5, 1), ("MUG-BLUE", 51, 1)], 56),
            order(&[("MUG-RED", 5, 1), ("MUG-RED", u32::MAX, 1)], 0),
            order(&[("MUG-RED", 60, 1), ("MUG-RED", 60, 1)], 120),
        ] {
            assert!(block_on(inventory.handle(bad, &ctx())).is_err());
            assert_eq!(
                inventory.left("MUG-RED"),
                Some(100),
                "the first line's stock is kept"
            );
        }
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask("customer-o1@example.com"), "c***@example.com");
        assert_eq!(mask("nonsense"), "***");
    }
}
