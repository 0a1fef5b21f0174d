//! Request-response over queues: a [`Requester`] sends a command with a reply address and
//! a fresh correlation id and awaits the matching reply on its own reply queue; a handler
//! answers with [`Context::reply`](crate::worker::Context::reply) (or
//! [`reply_fault`](crate::worker::Context::reply_fault) when it cannot).
//!
//! Many outstanding requests share one reply queue, multiplexed by correlation id. A reply
//! that arrives after its request timed out is acknowledged and dropped (debug log); a
//! reply nobody asked for is acknowledged and counted. The reply queue is the requester's
//! own: created on first use by the backend ([`Broker::create_reply_queue`]) and deleted
//! by [`Requester::shutdown`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch, OnceCell};

use crate::broker::Broker;
use crate::error::{display_chain, Error, Result};
use crate::event::Event;
use crate::message::{Destination, Message, Source};

/// The event type of a fault reply.
pub const FAULT_TYPE: &str = "courier.Fault";

/// The data of a fault reply: the responder could not handle the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Why, in the responder's words.
    pub reason: String,
}

/// A requester's own reply queue, as the backend made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyQueue {
    /// Where the requester reads replies.
    pub source: Source,
    /// What requests carry as `reply_to`: what a responder (courier or not) sends to.
    pub address: String,
}

/// How many replies a requester saw that matched no waiting request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequesterStats {
    /// Replies matched to a waiting request.
    pub matched: u64,
    /// Replies that came after their request had timed out (acked, dropped).
    pub late: u64,
    /// Replies with a correlation id this requester never sent (acked, dropped).
    pub unknown: u64,
}

/// How many timed-out correlation ids are remembered to tell late replies from unknown ones.
const REMEMBERED_TIMEOUTS: usize = 10_000;

#[derive(Default)]
struct Waiting {
    pending: HashMap<String, oneshot::Sender<Message>>,
    timed_out: VecDeque<String>,
}

#[derive(Default)]
struct Counters {
    matched: AtomicU64,
    late: AtomicU64,
    unknown: AtomicU64,
}

struct Listener {
    queue: ReplyQueue,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Sends requests and awaits their replies. Cheap to share (`Arc`); one reply queue each.
///
/// ```
/// use std::time::Duration;
/// use courier_core::prelude::*;
/// use courier_core::request::Requester;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let broker: std::sync::Arc<dyn Broker> = std::sync::Arc::new(MemoryBroker::with_topology(
///     &Topology::builder().queue("inventory").build()?).await?);
/// // The responder: a worker whose handler replies.
/// let responder = Worker::new(broker.clone(), Source::queue("inventory"))
///     .handle("ReserveStock", handler_fn(|e: Event<serde_json::Value>, ctx: Context| async move {
///         let reply = Event::new("/inventory", "StockReserved", serde_json::json!({"sku": e.data["sku"]}));
///         ctx.reply(&reply).await.map_err(HandlerError::retry)?;
///         Ok(())
///     }));
/// let running = tokio::spawn(responder.run_until_idle(Duration::from_millis(500)));
///
/// let requester = Requester::new(broker.clone());
/// let ask = Event::new("/checkout", "ReserveStock", serde_json::json!({"sku": "MUG-RED"}));
/// let reply: Event<serde_json::Value> = requester
///     .request(&Destination::queue("inventory"), &ask, Duration::from_secs(5))
///     .await?;
/// assert_eq!(reply.ty, "StockReserved");
/// requester.shutdown().await?;
/// running.await.unwrap()?;
/// # Ok::<(), courier_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Requester {
    broker: Arc<dyn Broker>,
    waiting: Arc<Mutex<Waiting>>,
    counters: Arc<Counters>,
    listener: OnceCell<Listener>,
}

impl Requester {
    /// A requester on `broker`; its reply queue is created on the first request.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Requester {
            broker,
            waiting: Arc::default(),
            counters: Arc::default(),
            listener: OnceCell::new(),
        }
    }

    /// The reply queue, creating it (and its listener) on first use.
    async fn listener(&self) -> Result<&Listener> {
        self.listener
            .get_or_try_init(|| async {
                let queue = self.broker.create_reply_queue().await?;
                let (stop, stopped) = watch::channel(false);
                let task = tokio::spawn(listen(
                    self.broker.clone(),
                    queue.source.clone(),
                    self.waiting.clone(),
                    self.counters.clone(),
                    stopped,
                ));
                tracing::debug!(reply_to = %queue.address, "reply queue ready");
                Ok(Listener { queue, stop, task })
            })
            .await
    }

    /// Sends `event` to `destination` and awaits its reply as an `Event<Resp>`; a
    /// [`Fault`] reply is [`Error::Fault`], no reply within `timeout` is
    /// [`Error::Timeout`] naming the destination and the wait.
    pub async fn request<Req, Resp>(
        &self,
        destination: &Destination,
        event: &Event<Req>,
        timeout: Duration,
    ) -> Result<Event<Resp>>
    where
        Req: Serialize + Sync,
        Resp: DeserializeOwned,
    {
        let listener = self.listener().await?;
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let mut message = event.to_message()?;
        message.correlation_id = Some(correlation_id.clone());
        message.reply_to = Some(listener.queue.address.clone());
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .pending
            .insert(correlation_id.clone(), tx);
        if let Err(e) = self.broker.publish(destination, message).await {
            self.waiting.lock().pending.remove(&correlation_id);
            return Err(e);
        }
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(Error::backend("the reply listener stopped")),
            Err(_) => {
                self.forget(&correlation_id);
                return Err(Error::Timeout {
                    what: format!("reply to {} sent to {destination}", event.ty),
                    after: timeout,
                });
            }
        };
        if crate::event::event_type(&reply).as_deref() == Some(FAULT_TYPE) {
            let fault: Event<Fault> = Event::from_message(&reply)?;
            return Err(Error::Fault {
                what: format!("{} sent to {destination}", event.ty),
                reason: fault.data.reason,
            });
        }
        Event::from_message(&reply)
    }

    /// A timed-out request: a reply that still comes is late, not unknown.
    fn forget(&self, correlation_id: &str) {
        let mut waiting = self.waiting.lock();
        waiting.pending.remove(correlation_id);
        if waiting.timed_out.len() >= REMEMBERED_TIMEOUTS {
            waiting.timed_out.pop_front();
        }
        waiting.timed_out.push_back(correlation_id.to_owned());
    }

    /// What the listener has seen so far.
    pub fn stats(&self) -> RequesterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequesterStats {
            matched: get(&self.counters.matched),
            late: get(&self.counters.late),
            unknown: get(&self.counters.unknown),
        }
    }

    /// The reply queue, once the first request made it.
    pub fn reply_queue(&self) -> Option<&ReplyQueue> {
        self.listener.get().map(|l| &l.queue)
    }

    /// Stops listening and deletes the reply queue.
    pub async fn shutdown(mut self) -> Result<()> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let _ = listener.stop.send(true);
        let _ = listener.task.await;
        self.broker.delete_reply_queue(&listener.queue).await
    }
}

impl Drop for Requester {
    /// Without [`shutdown`](Requester::shutdown), the listener stops and the reply queue
    /// is deleted in the background where a runtime is running (abandoned ones are found
    /// by the backend's clean-up).
    fn drop(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let _ = listener.stop.send(true);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let broker = self.broker.clone();
            runtime.spawn(async move {
                let _ = listener.task.await;
                if let Err(e) = broker.delete_reply_queue(&listener.queue).await {
                    tracing::warn!(error = %display_chain(&e), queue = %listener.queue.address, "could not delete a reply queue");
                }
            });
        }
    }
}

/// Receives replies and hands each to the request waiting for its correlation id.
async fn listen(
    broker: Arc<dyn Broker>,
    source: Source,
    waiting: Arc<Mutex<Waiting>>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            r = broker.receive(&source, 10, Duration::from_secs(5)) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let deliveries = match received {
            Ok(d) => {
                failures = 0;
                d
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %display_chain(&e), %source, "receiving replies failed; retrying");
                let pause = Duration::from_millis(200) * failures.min(50);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        };
        for d in &deliveries {
            route_reply(&waiting, &counters, d.message().clone());
        }
        // Acked together: a backend that batches acks (SQS) answers them in one call
        // instead of one linger each before the next receive.
        let acks = deliveries.into_iter().map(|d| d.ack());
        for acked in futures_util::future::join_all(acks).await {
            if let Err(e) = acked {
                tracing::debug!(error = %display_chain(&e.error), "could not ack a reply; it may come again");
            }
        }
    }
}

fn route_reply(waiting: &Mutex<Waiting>, counters: &Counters, reply: Message) {
    let Some(id) = reply.correlation_id.clone() else {
        counters.unknown.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("a reply without a correlation id: acked and dropped");
        return;
    };
    let mut waiting = waiting.lock();
    if let Some(tx) = waiting.pending.remove(&id) {
        counters.matched.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(reply);
    } else if waiting.timed_out.contains(&id) {
        counters.late.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(correlation_id = %id, "a late reply (its request timed out): acked and dropped");
    } else {
        counters.unknown.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(correlation_id = %id, "a reply nobody waits for: acked and dropped");
    }
}
