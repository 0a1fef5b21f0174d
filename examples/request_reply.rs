//! Request-response over queues: a stock desk answers `ReserveStock` requests with a
//! `StockAnswer` on each requester's own reply queue; a request nobody answers is a
//! timeout error, not a hang. On the in-memory broker by default; `COURIER_PROVIDER=aws`
//! or `azure` runs the same program on SQS or Service Bus.
//! `cargo run --example request_reply`
use std::time::Duration;

use courier::prelude::*;
use courier::request::Requester;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct ReserveStock {
    sku: String,
    quantity: u32,
}
courier::event_type!(ReserveStock);

#[derive(Serialize, Deserialize)]
struct StockAnswer {
    reserved: bool,
}
courier::event_type!(StockAnswer);

#[tokio::main]
async fn main() -> courier::Result<()> {
    let broker = connect(&Config::load(None)?).await?;
    let topology = Topology::builder().queue("stock-desk").queue("closed-desk");
    broker.provision(&topology.build()?).await?;

    // The responder: a worker whose handler replies on the request's reply queue.
    let desk = Worker::new(broker.clone(), Source::queue("stock-desk")).on(handler_fn(
        |e: Event<ReserveStock>, ctx: Context| async move {
            let answer = StockAnswer {
                reserved: e.data.quantity <= 5,
            };
            ctx.reply(&Event::from(answer)).await?;
            Ok(())
        },
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let desk = tokio::spawn(desk.run(async move {
        let _ = stopped.await;
    }));

    let requester = Requester::new(broker.clone());
    for quantity in [2, 9] {
        let ask = Event::from(ReserveStock {
            sku: "MUG-RED".into(),
            quantity,
        });
        let answer: Event<StockAnswer> = requester
            .request(
                &Destination::queue("stock-desk"),
                &ask,
                Duration::from_secs(10),
            )
            .await?;
        println!("{quantity} x MUG-RED reserved: {}", answer.data.reserved);
    }
    let nobody = Event::from(ReserveStock {
        sku: "MUG-RED".into(),
        quantity: 1,
    });
    let unanswered = requester
        .request::<_, StockAnswer>(
            &Destination::queue("closed-desk"),
            &nobody,
            Duration::from_secs(1),
        )
        .await;
    match unanswered {
        Err(e @ Error::Timeout { .. }) => println!("closed desk: {e}"),
        Err(e) => return Err(e),
        Ok(answer) => println!("closed desk answered after all: {}", answer.id),
    }

    requester.shutdown().await?; // deletes the reply queue
    let _ = stop.send(());
    desk.await.expect("the desk's task")?;
    Ok(())
}
