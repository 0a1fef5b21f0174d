//! The life of received deliveries inside a worker: one task per delivery, or one task
//! per FIFO group that handles the group's messages one after another, in order.

use std::sync::Arc;

use futures_util::future::{join_all, Either};
use tokio::sync::OwnedSemaphorePermit;

use super::handler::Context;
use super::stats::WorkerStats;
use super::{lock, settle, RunningWorker};
use crate::delivery::Delivery;
use crate::error::display_chain;

/// Spawns one task for one receive's deliveries, which handles them concurrently (a FIFO
/// group's one after another); each holds one of `permits` until its delivery is settled
/// (extra permits are given back at once). One task per receive, not per message: the
/// handlers of a batch interleave on it, and batches spread over the runtime's threads.
pub(super) fn spawn_all(
    shared: &Arc<RunningWorker>,
    deliveries: Vec<Delivery>,
    permits: Vec<OwnedSemaphorePermit>,
) {
    if deliveries.is_empty() {
        return;
    }
    let mut groups: Vec<(String, Vec<(Delivery, OwnedSemaphorePermit)>)> = Vec::new();
    let mut running = Vec::with_capacity(deliveries.len());
    for (delivery, permit) in deliveries.into_iter().zip(permits) {
        let group = match &delivery.message().group_id {
            Some(group) if shared.capabilities.fifo => group.clone(),
            _ => {
                running.push(Either::Left(handle_alone(shared.clone(), delivery, permit)));
                continue;
            }
        };
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push((delivery, permit)),
            None => groups.push((group, vec![(delivery, permit)])),
        }
    }
    for (_, members) in groups {
        running.push(Either::Right(group_in_order(shared.clone(), members)));
    }
    // A batch is small (at most the batch size): `join_all` keeps its futures in one
    // allocation and polls them together.
    tokio::spawn(join_all(running));
}

async fn handle_alone(
    shared: Arc<RunningWorker>,
    delivery: Delivery,
    _permit: OwnedSemaphorePermit,
) {
    handle(&shared, delivery).await;
    WorkerStats::sub(&shared.stats.in_flight);
}

/// A FIFO group's messages, one after another in the order received. Once one of them is
/// not removed (retried, or its settlement failed), the rest are released unhandled: the
/// broker hands the group out again from that message, so order holds.
async fn group_in_order(
    shared: Arc<RunningWorker>,
    members: Vec<(Delivery, OwnedSemaphorePermit)>,
) {
    let mut blocked = false;
    for (delivery, permit) in members {
        if blocked {
            release(delivery).await;
        } else {
            blocked = !handle(&shared, delivery).await;
        }
        WorkerStats::sub(&shared.stats.in_flight);
        drop(permit);
    }
}

async fn release(delivery: Delivery) {
    tracing::debug!(
        message = %delivery.info().broker_message_id,
        "an earlier message of its FIFO group is being retried: released unhandled"
    );
    if let Err(e) = delivery.nack(std::time::Duration::ZERO).await {
        tracing::debug!(error = %display_chain(&e.error), "could not release it; it returns when its lock expires");
    }
}

/// Runs the pipeline for one delivery and settles it; whether it left the queue.
async fn handle(shared: &RunningWorker, delivery: Delivery) -> settle::Removed {
    if shared.is_parked(&delivery.info().broker_message_id) {
        tracing::debug!(
            message = %delivery.info().broker_message_id,
            "already failed on this dead-letter queue; left there"
        );
        settle::put_aside(shared, delivery).await;
        return false;
    }
    let ctx = Context::new(
        shared.source_arc.clone(),
        delivery.delivery_count(),
        &delivery.info().broker_message_id,
        delivery.shared_message().clone(),
    )
    .with_replies(shared.publisher.clone())
    .with_enqueued_at(delivery.info().enqueued_at);
    let outcome = lock::hold_while(
        &delivery,
        shared.capabilities.extend,
        shared.pipeline.process(ctx),
    )
    .await;
    settle::apply(shared, delivery, outcome).await
}
