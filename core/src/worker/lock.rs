//! Keeping a delivery's lock while its handler runs.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::delivery::Delivery;
use crate::error::display_chain;

/// Awaits `task`, extending `delivery`'s lock (when the backend can) each time a third
/// of the grant is left, so that a slow handler does not see its message redelivered.
pub(super) async fn hold_while<F: Future>(
    delivery: &Delivery,
    can_extend: bool,
    task: F,
) -> F::Output {
    tokio::pin!(task);
    let Some(mut until) = delivery.info().locked_until.filter(|_| can_extend) else {
        return task.await;
    };
    let grant = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    loop {
        let renew_at = until.checked_sub(grant / 3).unwrap_or(until);
        // The handler first: one that is done at once never registers a timer.
        tokio::select! {
            biased;
            r = &mut task => return r,
            _ = tokio::time::sleep_until(renew_at) => {
                match delivery.extend(grant).await {
                    Ok(()) => {
                        tracing::debug!(?grant, "extended the lock");
                        until = Instant::now() + grant;
                    }
                    Err(e) => {
                        tracing::warn!(error = %display_chain(&e), "could not extend the lock; the message may be redelivered");
                        return task.await;
                    }
                }
            }
        }
    }
}
