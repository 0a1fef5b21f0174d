//! The example topology and the shop's functions agree: a subscription lets through only
//! the event types its function handles (anything else would be dead-lettered as
//! unroutable, one message at a time).

use std::collections::BTreeMap;

use courier_core::filter::Filter;
use courier_core::Topology;
use courier_shop::{FUNCTIONS, ORDER_CREATED};

#[test]
fn each_function_s_subscription_admits_only_what_the_function_handles() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.yaml");
    let topology = Topology::from_file(path).expect("the example topology loads");
    for function in FUNCTIONS {
        let sub = topology
            .subscriptions
            .iter()
            .find(|s| s.topic == "orders" && s.name == function)
            .unwrap_or_else(|| panic!("topology.yaml has no subscription orders/{function}"));
        let policy = sub.filter.as_ref().unwrap_or_else(|| {
            panic!("orders/{function} has no filter: it would get every event type")
        });
        let filter = Filter::from_policy(policy).expect("the filter parses");
        let admits =
            |ty: &str| filter.matches(&BTreeMap::from([("ce_type".to_owned(), ty.to_owned())]));
        assert!(
            admits(ORDER_CREATED),
            "orders/{function} admits {ORDER_CREATED}"
        );
        for other in [
            "OrderCancelled",
            "OrderShipped",
            "OrderPaid",
            "SomethingElse",
        ] {
            assert!(
                !admits(other),
                "orders/{function} admits {other}, which the {function} function does not handle"
            );
        }
    }
}
