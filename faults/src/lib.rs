//! courier's fault-injection suite (test-only, `publish = false`): what the tests in
//! `faults/tests` share.
//!
//! - [`target`]: which broker a test (or its child process) talks to: real LocalStack, or
//!   the Service Bus stand-in, directly or through a [`proxy::FaultProxy`];
//! - [`ledger`]: an append-only, fsynced file of event ids, that survives SIGKILL;
//! - [`proxy`]: a TCP proxy that resets, stalls, delays and refuses connections on a
//!   schedule;
//! - [`timed`]: a broker wrapper that measures the longest call (settlements included);
//! - [`child`]: what the `fault-child` binary runs (a worker, a publisher);
//! - [`figures`]: how each suite reports its figures.

pub mod child;
pub mod figures;
pub mod ledger;
pub mod proxy;
pub mod target;
pub mod timed;

/// The event type every suite publishes.
pub const EVENT_TYPE: &str = "FaultProbe";
/// The CloudEvents `source` every suite publishes with.
pub const EVENT_SOURCE: &str = "courier-faults";

/// A probe event with this id (its data says the same, so that a body alone names it).
pub fn probe(id: &str) -> courier_core::Event<serde_json::Value> {
    courier_core::Event::new(EVENT_SOURCE, EVENT_TYPE, serde_json::json!({ "probe": id }))
        .with_id(id)
}
