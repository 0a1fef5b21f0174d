//! Checks of request-response: replies match their requests under concurrency, timeouts
//! are errors, late replies reach nobody, faults are errors, reply queues are cleaned up.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{provision, unique};
use crate::request::Requester;
use crate::topology::{QueueSpec, Topology};
use crate::worker::{handler_fn, Context, HandlerError, Worker};
use crate::{Broker, Destination, Error, Event, Source};

/// A request and its answer carry the same number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numbered {
    /// Which request.
    pub n: u64,
}

/// A responder on a fresh queue: echoes `n`, after `delay` when `n` is odd; faults on 13.
async fn responder(
    broker: &Arc<dyn Broker>,
    delay: Duration,
) -> (String, tokio::task::JoinHandle<()>) {
    let q = unique("rr");
    provision(
        &**broker,
        Topology {
            queues: vec![QueueSpec::new(&q)],
            ..Topology::default()
        },
    )
    .await;
    let worker = Worker::new(broker.clone(), Source::queue(&q))
        .concurrency(64)
        .poll_wait(Duration::from_millis(500))
        .handle(
            "Ask",
            handler_fn(move |e: Event<Numbered>, ctx: Context| async move {
                if e.data.n == 13 {
                    ctx.reply_fault("13 is unlucky")
                        .await
                        .map_err(HandlerError::retry)?;
                    return Ok(());
                }
                if e.data.n % 2 == 1 {
                    tokio::time::sleep(delay).await;
                }
                let answer = Event::new("/conformance", "Answer", e.data.clone());
                ctx.reply(&answer).await.map_err(HandlerError::retry)?;
                Ok(())
            }),
        );
    let task = tokio::spawn(async move {
        let _ = worker.run(std::future::pending()).await;
    });
    (q, task)
}

fn ask(n: u64) -> Event<Numbered> {
    Event::new("/conformance", "Ask", Numbered { n })
}

/// 100 requests at once over one reply queue: each gets its own reply; after shutdown
/// the reply queue is gone.
pub async fn requests_match_replies(broker: Arc<dyn Broker>) {
    let (q, responding) = responder(&broker, Duration::ZERO).await;
    let requester = Arc::new(Requester::new(broker.clone()));
    let dest = Destination::queue(&q);
    let mut asks = tokio::task::JoinSet::new();
    for n in 0..100u64 {
        let (requester, dest) = (requester.clone(), dest.clone());
        asks.spawn(async move {
            let reply: Event<Numbered> = requester
                .request(&dest, &ask(n * 2), Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("request {n}: {e}"));
            assert_eq!(reply.data.n, n * 2, "a reply matches its own request");
        });
    }
    while let Some(done) = asks.join_next().await {
        done.expect("request task");
    }
    assert_eq!(requester.stats().matched, 100);
    let reply_queue = requester.reply_queue().expect("made on first use").clone();
    Arc::try_unwrap(requester)
        .ok()
        .expect("the only handle")
        .shutdown()
        .await
        .expect("shutdown");
    let gone = broker.receive(&reply_queue.source, 1, Duration::ZERO).await;
    assert!(
        gone.as_ref().is_err_and(Error::is_not_found),
        "the reply queue is deleted on shutdown: {gone:?}"
    );
    responding.abort();
}

/// A request nobody answers in time is `Error::Timeout`; its late reply reaches no other
/// request; a fault reply is `Error::Fault` at once.
pub async fn request_timeouts_late_replies_and_faults(broker: Arc<dyn Broker>) {
    let (q, responding) = responder(&broker, Duration::from_secs(2)).await;
    let requester = Requester::new(broker.clone());
    let dest = Destination::queue(&q);
    let slow = requester
        .request::<_, Numbered>(&dest, &ask(1), Duration::from_millis(500))
        .await
        .expect_err("no reply within 500 ms");
    assert!(
        matches!(&slow, Error::Timeout { what, .. } if what.contains(&dest.to_string())),
        "{slow}"
    );
    // The late reply of 1 must not answer request 2.
    let next: Event<Numbered> = requester
        .request(&dest, &ask(2), Duration::from_secs(10))
        .await
        .expect("request 2");
    assert_eq!(next.data.n, 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while requester.stats().late == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(requester.stats().late, 1, "the late reply was dropped");

    let fault = requester
        .request::<_, Numbered>(&dest, &ask(13), Duration::from_secs(10))
        .await
        .expect_err("a fault");
    assert!(
        matches!(&fault, Error::Fault { reason, .. } if reason == "13 is unlucky"),
        "{fault}"
    );
    requester.shutdown().await.expect("shutdown");
    responding.abort();
}
