//! The first hour with courier: publish a typed event, handle it in a worker, read what was
//! dead-lettered. On the in-memory broker by default; `COURIER_PROVIDER=aws` (with the
//! usual AWS variables, e.g. `AWS_ENDPOINT_URL` for LocalStack) runs the same program on
//! SQS/SNS. `cargo run --example first_hour`
use std::time::Duration;

use courier::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderShipped {
    order_id: String,
    carrier: String,
}
courier::event_type!(OrderShipped);

#[tokio::main]
async fn main() -> courier::Result<()> {
    let broker = connect(&Config::load(None)?).await?;
    let topology = Topology::builder()
        .topic("shipments")
        .subscription("shipments", "notify", None);
    broker.provision(&topology.build()?).await?;
    for (order_id, carrier) in [("o-1", "DHL"), ("o-2", "")] {
        let shipped = OrderShipped {
            order_id: order_id.into(),
            carrier: carrier.into(),
        };
        broker
            .publish_data(&Destination::topic("shipments"), &shipped)
            .await?;
    }

    let notify = Source::subscription("shipments", "notify");
    let report = Worker::new(broker.clone(), notify.clone())
        .on(handler_fn(|e: Event<OrderShipped>, _ctx| async move {
            if e.data.carrier.is_empty() {
                return Err(HandlerError::permanent("no carrier")); // to the dead-letter queue
            }
            println!(
                "notified: {} ships with {}",
                e.data.order_id, e.data.carrier
            );
            Ok(())
        }))
        .run_until_idle(Duration::from_secs(2))
        .await?;
    println!("worker: {report}");

    for dead in broker
        .receive(&notify.dead_letter(), 10, Duration::from_secs(2))
        .await?
    {
        let reason = dead.dead_letter_reason().unwrap_or("?").to_owned();
        println!("dead-lettered: {} because {reason}", dead.body_text());
        dead.ack().await?;
    }
    Ok(())
}
