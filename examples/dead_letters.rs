//! Reading a dead-letter queue: every message with its reason, delivery count and event
//! type, left in place (released at once) so another tool can redrive it.
//! `cargo run --example dead_letters -- subscription:orders/inventory`
use std::time::Duration;

use courier::prelude::*;

#[tokio::main]
async fn main() -> courier::Result<()> {
    let source: Source = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "subscription:orders/inventory".into())
        .parse()?;
    let config = Config::load(None)?;
    let broker = connect(&config).await?;
    if config.provider == Provider::Memory {
        // A fresh in-memory broker is empty: give it the topology and one poison message.
        broker.provision(&Topology::example()).await?;
        broker
            .publish(
                &Destination::topic("orders"),
                Message::new("{oops").with_attribute("ce_type", "OrderCreated"),
            )
            .await?;
        let d = broker.receive(&source, 1, Duration::from_secs(1)).await?;
        for d in d {
            d.dead_letter("demo: not JSON").await?;
        }
    }
    let dead = broker
        .receive(&source.dead_letter(), 10, Duration::from_secs(2))
        .await?;
    println!("{} message(s) in {}", dead.len(), source.dead_letter());
    for d in dead {
        println!(
            "- {} type={} deliveries={} reason={:?} at={:?} body={}",
            d.event_id().as_deref().unwrap_or("-"),
            d.event_type().as_deref().unwrap_or("-"),
            d.delivery_count(),
            d.dead_letter_reason().unwrap_or("(none recorded)"),
            d.dead_lettered_at(),
            d.body_text(),
        );
        d.nack(Duration::ZERO).await?; // left where it is
    }
    Ok(())
}
