//! The demo's request-response part: the warehouse answers a `ReserveStock` request on
//! the requester's own reply queue; a second request, sent after the desk has closed,
//! times out because nobody answers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use courier::request::Requester;
use courier::worker::Worker;
use courier::{display_chain, Broker, Destination, Error, Event, Result, Source};

use super::shop::{Inventory, Log, ReserveStock, StockAnswer, StockDesk};

/// The queue the warehouse takes commands on.
pub(crate) const REQUESTS: &str = "inventory-requests";

/// Runs both requests, reporting through `log`. A backend without reply queues is said
/// so, not hidden.
pub(crate) async fn run(broker: Arc<dyn Broker>, log: Log) -> Result<()> {
    let (stop_tx, mut stop) = watch::channel(false);
    let desk = Worker::new(broker.clone(), Source::queue(REQUESTS))
        .poll_wait(Duration::from_secs(1))
        .on(StockDesk(Arc::new(Inventory::new(log.clone()))));
    let desk = tokio::spawn(desk.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let requester = Requester::new(broker.clone());
    let to = Destination::queue(REQUESTS);
    let asked = ask(&requester, &to, "MUG-RED", 2, Duration::from_secs(20)).await;
    let _ = stop_tx.send(true);
    desk.await.map_err(|e| Error::Backend {
        message: "the stock desk panicked".into(),
        source: Some(Box::new(e)),
    })??;
    match asked {
        Ok(reply) => log(format!(
            "request ReserveStock 2 x MUG-RED -> {} ({} left)",
            reply.ty, reply.data.left
        )),
        Err(e) => {
            log(format!(
                "request-response on {}: {}",
                broker.name(),
                display_chain(&e)
            ));
            return Ok(());
        }
    }
    let unanswered = Duration::from_secs(2);
    match ask(&requester, &to, "SHIRT-M", 1, unanswered).await {
        Err(Error::Timeout { .. }) => log(format!(
            "request ReserveStock 1 x SHIRT-M -> no reply within {unanswered:?}: the desk is closed (Error::Timeout)"
        )),
        Ok(reply) => log(format!("request ReserveStock 1 x SHIRT-M -> {} (unexpected)", reply.ty)),
        Err(e) => log(format!("request ReserveStock 1 x SHIRT-M -> {}", display_chain(&e))),
    }
    remove_unanswered(&*broker).await?;
    requester.shutdown().await
}

async fn ask(
    requester: &Requester,
    to: &Destination,
    sku: &str,
    quantity: u32,
    timeout: Duration,
) -> Result<Event<StockAnswer>> {
    let command = Event::from(ReserveStock {
        sku: sku.into(),
        quantity,
    });
    requester.request(to, &command, timeout).await
}

/// The request nobody answered is still queued: the demo takes it away again.
async fn remove_unanswered(broker: &dyn Broker) -> Result<()> {
    for d in broker
        .receive(&Source::queue(REQUESTS), 10, Duration::from_secs(1))
        .await?
    {
        d.ack().await?;
    }
    Ok(())
}
