//! Behaviour that wraps any broker, in the style of object_store's wrapper stores
//! (`LimitStore`, `ThrottledStore`): written once, composed by the user, never repeated
//! in each backend.
//!
//! - [`Retrying`] retries publishes that failed transiently, with backoff;
//! - [`Limited`] bounds how many calls run against the broker at once.
//!
//! They compose: `Limited::new(Retrying::new(broker, Backoff::default(), 3), 8)` retries
//! inside the limit. Every other operation passes straight through.

mod limit;
mod retry;

pub use limit::Limited;
pub use retry::Retrying;

#[cfg(test)]
mod tests;
