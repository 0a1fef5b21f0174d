//! The handler shape shared by the worker and the Lambda adapter.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::event::{self, Event};
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

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Retry(r) => write!(f, "retry: {r}"),
            HandlerError::Permanent(r) => write!(f, "permanent: {r}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// What a handler knows about the delivery besides the event.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the event was received from.
    pub source: Source,
    /// How many times it has been delivered, this time included.
    pub delivery_count: u32,
    /// The broker's message id.
    pub broker_message_id: String,
    /// The raw message attributes (codec attributes included).
    pub attributes: BTreeMap<String, String>,
}

/// Handles events with `T` data.
#[async_trait]
pub trait Handler<T>: Send + Sync + 'static {
    /// Handles one event; `Ok` acknowledges it.
    async fn handle(&self, event: Event<T>, ctx: &Context) -> Result<(), HandlerError>;
}

/// A [`Handler`] made from an async closure taking the event and an owned [`Context`].
pub struct HandlerFn<F>(F);

/// Makes a handler from `async |event, ctx| -> Result<(), HandlerError>`.
pub fn handler_fn<F>(f: F) -> HandlerFn<F> {
    HandlerFn(f)
}

#[async_trait]
impl<T, F, Fut> Handler<T> for HandlerFn<F>
where
    T: Send + 'static,
    F: Fn(Event<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    async fn handle(&self, event: Event<T>, ctx: &Context) -> Result<(), HandlerError> {
        (self.0)(event, ctx.clone()).await
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

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The handler for a message, or why there is none.
    pub fn route_for(&self, message: &Message) -> Result<Arc<dyn Route>, String> {
        match event::event_type(message) {
            Some(t) => self
                .routes
                .get(t)
                .cloned()
                .ok_or_else(|| format!("no handler for event type '{t}'")),
            None => {
                Err("no handler: the message is not a CloudEvent (no ce_type attribute)".to_owned())
            }
        }
    }
}
