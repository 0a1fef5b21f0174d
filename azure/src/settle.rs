//! Settling a peek-locked message on its lock URI: "Delete Message" (complete),
//! "Unlock Message" (abandon), "Renew-Lock for a Message" — `DELETE` / `PUT` / `POST`,
//! 200 on success, 404 for a lock that is gone, 410 for an entity that is gone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use courier_core::{Error, Message, Result, Settle};
use reqwest::Method;

use crate::error::{Call, Operation};
use crate::rest::RestClient;

/// A peek-locked message.
pub(crate) struct LockedMessage {
    rest: Arc<RestClient>,
    /// The lock URI's path; `None` when the service gave neither a `Location` nor a lock
    /// token (the lock then runs out and the message comes back).
    lock_path: Option<String>,
    target: String,
    /// How long the service holds a lock on this entity, as measured on receive.
    lock_duration: Option<Duration>,
}

impl LockedMessage {
    pub(crate) fn new(
        rest: Arc<RestClient>,
        lock_path: Option<String>,
        target: String,
        lock_duration: Option<Duration>,
    ) -> Self {
        LockedMessage {
            rest,
            lock_path,
            target,
            lock_duration,
        }
    }

    async fn call(&self, method: Method) -> Result<()> {
        let call = Call {
            operation: Operation::Settle,
            target: &self.target,
        };
        let path = self.lock_path.as_deref().ok_or_else(|| {
            Error::backend(format!(
                "{}: the service gave this message no lock URI; it comes back when its lock expires",
                self.target
            ))
        })?;
        let request = self.rest.request(method, path, "");
        self.rest
            .send(request, call, self.rest.operation_timeout())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Settle for LockedMessage {
    async fn ack(&self) -> Result<()> {
        self.call(Method::DELETE).await
    }

    async fn nack(&self, after: Duration) -> Result<()> {
        if !after.is_zero() {
            return Err(Error::unsupported(format!(
                "nack after {after:?} on {}: Service Bus REST can only release a message at once (or let its lock expire)",
                self.target
            )));
        }
        self.call(Method::PUT).await
    }

    async fn dead_letter(&self, _message: &Message, reason: &str) -> Result<()> {
        Err(Error::unsupported(format!(
            "dead-lettering on request ({reason}) on {}: Service Bus REST has no dead-letter operation; the message moves to $DeadLetterQueue after MaxDeliveryCount deliveries",
            self.target
        )))
    }

    async fn extend(&self, by: Duration) -> Result<()> {
        // Service Bus renews for the entity's lock duration from the server's now, whatever
        // is asked: a longer extension cannot be had (the date forms have whole seconds).
        if let Some(lock) = self.lock_duration {
            if by > lock + Duration::from_secs(1) {
                return Err(Error::unsupported(format!(
                    "extending the lock of a message of {} by {by:?}: Service Bus renews a lock for the entity's lock duration (about {lock:?}); extend again before it runs out",
                    self.target
                )));
            }
        }
        self.call(Method::POST).await
    }
}
