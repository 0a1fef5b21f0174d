//! The conformance suite against the in-memory broker.

use std::sync::Arc;

use courier_core::{Broker, MemoryBroker};

courier_core::conformance_tests!(async { Arc::new(MemoryBroker::new()) as Arc<dyn Broker> });
