//! The handler shape shared by the worker and the Lambda adapter.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::broker::Publisher;
use crate::event::{Event, EventType};
use crate::message::{Message, Source};

/// How a handler failed, which decides what happens to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// Try again later (a timeout, a dependency down): the message is redelivered with
    /// backoff, and dead-lettered once the attempts run out.
    Retry(String),
    /// Retrying cannot help (invalid data, a business rule): dead-letter it now.
    Permanent(String),
}

impl HandlerError {
    /// A retryable failure.
    pub fn retry(reason: impl fmt::Display) -> Self {
        HandlerError::Retry(reason.to_string())
    }

    /// A permanent failure.
    pub fn permanent(reason: impl fmt::Display) -> Self {
        HandlerError::Permanent(reason.to_string())
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        match self {
            HandlerError::Retry(r) | HandlerError::Permanent(r) => r,
        }
    }
}

/// `?` on a courier call inside a handler (publishing, replying): invalid input
/// ([`Error::InvalidInput`](crate::Error::InvalidInput), e.g. replying to a message that
/// is not a request) is the message's fault and permanent; anything else (the broker
/// unreachable, throttled, misconfigured) is retried, and dead-lettered with its whole
/// cause once the attempts run out.
impl From<crate::Error> for HandlerError {
    fn from(e: crate::Error) -> Self {
        let reason = crate::display_chain(&e);
        match e.inner() {
            crate::Error::InvalidInput { .. } => HandlerError::Permanent(reason),
            _ => HandlerError::Retry(reason),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Retry(r) => write!(f, "retry: {r}"),
            HandlerError::Permanent(r) => write!(f, "permanent: {r}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// What a handler knows about the delivery besides the event. Cheap to clone
/// (reference counts only).
#[derive(Clone)]
pub struct Context {
    source: Arc<Source>,
    delivery_count: u32,
    broker_message_id: Arc<str>,
    message: Arc<Message>,
    replies: Option<Arc<dyn Publisher>>,
    enqueued_at: Option<std::time::SystemTime>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("source", &self.source)
            .field("delivery_count", &self.delivery_count)
            .field("broker_message_id", &self.broker_message_id)
            .field("message", &self.message)
            .field("can_reply", &self.replies.is_some())
            .field("enqueued_at", &self.enqueued_at)
            .finish()
    }
}

impl Context {
    /// The context of `message`, delivered from `source` for the `delivery_count`th time.
    pub fn new(
        source: impl Into<Arc<Source>>,
        delivery_count: u32,
        broker_message_id: &str,
        message: impl Into<Arc<Message>>,
    ) -> Self {
        Context {
            source: source.into(),
            delivery_count,
            broker_message_id: Arc::from(broker_message_id),
            message: message.into(),
            replies: None,
            enqueued_at: None,
        }
    }

    /// Records when the broker enqueued the message (for the lag from enqueue to handling).
    pub fn with_enqueued_at(mut self, at: Option<std::time::SystemTime>) -> Self {
        self.enqueued_at = at;
        self
    }

    /// When the broker enqueued the message, if it said.
    pub fn enqueued_at(&self) -> Option<std::time::SystemTime> {
        self.enqueued_at
    }

    /// Lets [`reply`](Context::reply) publish through `publisher` (the worker does this).
    pub fn with_replies(mut self, publisher: Arc<dyn Publisher>) -> Self {
        self.replies = Some(publisher);
        self
    }

    /// Answers a request: publishes `event` to the request's `reply_to` with its
    /// correlation id (and, unless `event` has its own, its trace context). A message
    /// without `reply_to` is not a request: that is a clear error.
    pub async fn reply<T: Serialize + Sync>(&self, event: &Event<T>) -> crate::Result<String> {
        let request = &self.message;
        let (Some(reply_to), Some(publisher)) = (&request.reply_to, &self.replies) else {
            return Err(crate::Error::invalid_input(if request.reply_to.is_none() {
                format!(
                    "cannot reply to message {} from {}: it has no reply_to (it is not a request)",
                    self.broker_message_id, self.source
                )
            } else {
                "this context cannot publish replies (made without a publisher)".to_owned()
            }));
        };
        let mut reply = event.to_message()?;
        reply.correlation_id = request.correlation_id.clone();
        for name in [
            crate::event::attr::TRACEPARENT,
            crate::event::attr::TRACESTATE,
        ] {
            if let (None, Some(v)) = (reply.attributes.get(name), request.attributes.get(name)) {
                reply.attributes.insert(name.to_owned(), v.clone());
            }
        }
        publisher
            .publish(&crate::Destination::queue(reply_to.clone()), reply)
            .await
    }

    /// Answers a request with a [`Fault`](crate::request::Fault): the requester gets an
    /// error at once instead of waiting for its timeout.
    pub async fn reply_fault(&self, reason: impl fmt::Display) -> crate::Result<String> {
        let fault = crate::request::Fault {
            reason: reason.to_string(),
        };
        let source = format!("courier{}", self.source);
        self.reply(&Event::new(source, crate::request::FAULT_TYPE, fault))
            .await
    }

    /// Where the event was received from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// How many times it has been delivered, this time included.
    pub fn delivery_count(&self) -> u32 {
        self.delivery_count
    }

    /// The broker's message id.
    pub fn broker_message_id(&self) -> &str {
        &self.broker_message_id
    }

    /// The raw message attributes (codec attributes included).
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.message.attributes
    }

    /// The message as received.
    pub fn message(&self) -> &Message {
        &self.message
    }
}

/// Handles events with `T` data.
///
/// Implement it with a plain `async fn` (no macro needed), or make one from a closure with
/// [`handler_fn`]:
///
/// ```
/// use courier_core::worker::{Context, Handler, HandlerError};
/// use courier_core::Event;
///
/// struct Inventory;
///
/// impl Handler<serde_json::Value> for Inventory {
///     async fn handle(&self, event: Event<serde_json::Value>, _ctx: &Context) -> Result<(), HandlerError> {
///         if event.data["sku"].is_null() {
///             return Err(HandlerError::permanent("no SKU"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Handler<T>: Send + Sync + 'static {
    /// Handles one event; `Ok` acknowledges it.
    fn handle(
        &self,
        event: Event<T>,
        ctx: &Context,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A [`Handler`] made from an async closure taking the event and an owned [`Context`].
pub struct HandlerFn<F>(F);

/// Makes a handler from `async |event, ctx| -> Result<(), HandlerError>` (the context's
/// type is inferred; annotate the event, e.g. `|e: Event<OrderCreated>, ctx|`).
pub fn handler_fn<T, F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(Event<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    HandlerFn(f)
}

impl<T, F, Fut> Handler<T> for HandlerFn<F>
where
    T: Send + 'static,
    F: Fn(Event<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(
        &self,
        event: Event<T>,
        ctx: &Context,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (self.0)(event, ctx.clone())
    }
}

/// A handler with its data type erased: decodes, then calls the typed handler.
#[async_trait]
pub trait Route: Send + Sync {
    /// Decodes `message` and handles it; a decode failure is permanent.
    async fn dispatch(&self, message: &Message, ctx: &Context) -> Result<(), HandlerError>;
}

struct Typed<T, H> {
    handler: Arc<H>,
    _data: PhantomData<fn() -> T>,
}

#[async_trait]
impl<T, H> Route for Typed<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    async fn dispatch(&self, message: &Message, ctx: &Context) -> Result<(), HandlerError> {
        let event = Event::<T>::from_message(message)
            .map_err(|e| HandlerError::permanent(crate::error::display_chain(&e)))?;
        self.handler.handle(event, ctx).await
    }
}

/// Erases a typed handler into a [`Route`].
pub fn route<T, H>(handler: H) -> Arc<dyn Route>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    Arc::new(Typed::<T, H> {
        handler: Arc::new(handler),
        _data: PhantomData,
    })
}

/// Handlers by event type: what the worker and the Lambda adapter dispatch to.
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<String, Arc<dyn Route>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<&String> = self.routes.keys().collect();
        types.sort();
        f.debug_struct("Router")
            .field("event_types", &types)
            .finish()
    }
}

impl Router {
    /// A router with no handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes events of `event_type` to `handler`, decoding their data as `T`.
    pub fn handle<T, H>(mut self, event_type: impl Into<String>, handler: H) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        H: Handler<T>,
    {
        self.routes
            .insert(event_type.into(), route::<T, H>(handler));
        self
    }

    /// Routes events of `T`'s [`EventType`] to `handler`.
    pub fn on<T, H>(self, handler: H) -> Self
    where
        T: EventType,
        H: Handler<T>,
    {
        self.handle(T::TYPE, handler)
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The handler for events of `event_type`.
    pub fn route(&self, event_type: &str) -> Option<&Arc<dyn Route>> {
        self.routes.get(event_type)
    }

    /// The event types that have a handler, sorted.
    pub fn event_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        types.sort_unstable();
        types
    }
}

#[cfg(test)]
mod tests {
    use super::HandlerError;
    use crate::Error;

    #[test]
    fn a_courier_error_in_a_handler_is_retried_unless_the_input_is_invalid() {
        let invalid = HandlerError::from(Error::invalid_input("no reply_to"));
        assert!(matches!(invalid, HandlerError::Permanent(ref r) if r.contains("no reply_to")));
        let shared = Error::Shared(std::sync::Arc::new(Error::invalid_input("bad")));
        assert!(matches!(
            HandlerError::from(shared),
            HandlerError::Permanent(_)
        ));
        let down = HandlerError::from(Error::transient("connection reset"));
        assert!(matches!(down, HandlerError::Retry(ref r) if r.contains("connection reset")));
        let missing = HandlerError::from(Error::not_found("queue:gone"));
        assert!(matches!(missing, HandlerError::Retry(_)));
    }
}
