use super::*;

fn err(yaml: &str) -> String {
    Topology::from_yaml(yaml, "t.yaml").unwrap_err().to_string()
}

#[test]
fn example_parses_with_defaults() {
    let t = Topology::example();
    assert_eq!(t.topics.len(), 1);
    assert_eq!(t.subscriptions.len(), 4);
    let shipping = &t.subscriptions[2];
    assert_eq!(shipping.name, "shipping");
    assert_eq!(shipping.max_receive_count, 5);
    assert_eq!(shipping.visibility_timeout_secs, 30);
    assert!(shipping.parsed_filter().is_some());
}

#[test]
fn the_issue_example_parses() {
    let t = Topology::from_yaml(
        "topics:\n  - name: orders\nqueues:\n  - name: audit\n    max_receive_count: 5\n    visibility_timeout_secs: 30\nsubscriptions:\n  - topic: orders\n    name: inventory\n    filter: { type: [OrderCreated] }\n    max_receive_count: 5\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(t.queues[0].name, "audit");
    assert!(!t.topics[0].fifo);
}

#[test]
fn errors_name_file_entry_and_problem_on_one_line() {
    let cases = [
        (
            "topics: [{name: orders}]\nsubscriptions: [{topic: order, name: inv}]",
            "t.yaml: subscriptions[0] (order/inv): unknown topic 'order' (topics: orders)",
        ),
        (
            "topics: [{name: orders}, {name: orders}]",
            "topics[1] (orders): duplicate topic name",
        ),
        ("queues: [{name: 'my queue'}]", "may only use letters"),
        ("queues: [{name: audit-dlq}]", "reserves for dead-letter queues"),
        ("queues: [{name: a, content_based_deduplication: true}]", "needs fifo: true"),
        ("queues: [{name: a, max_receive_count: 0}]", "max_receive_count 0 is outside"),
        ("queues: [{name: a, visibility_timeout_secs: 50000}]", "over 43200"),
        ("queues: [{name: a, colour: blue}]", "unknown field `colour`"),
        ("topicz: []", "unknown field `topicz`"),
        ("topics: [{name: x}]\nqueues: [{name: x}]", "share the name"),
        (
            "topics: [{name: orders}]\nsubscriptions: [{topic: orders, name: a, filter: {type: OrderCreated}}]",
            "filter key 'type': takes a list",
        ),
        ("queues: [{name: a}, {name: a}]", "duplicate name"),
        ("queues: {name: a}", "t.yaml: queues: invalid type"),
    ];
    for (yaml, expected) in cases {
        let e = err(yaml);
        assert!(e.contains(expected), "{yaml}\n  gave: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(e.contains("t.yaml"), "names the file: {e}");
    }
}

#[test]
fn all_problems_are_reported_together() {
    let e =
        err("topics: [{name: orders}]\nsubscriptions: [{topic: a, name: x}, {topic: b, name: y}]");
    assert!(
        e.contains("unknown topic 'a'") && e.contains("unknown topic 'b'"),
        "{e}"
    );
}

#[test]
fn missing_file_is_named() {
    let e = Topology::from_file("/nonexistent/topology.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read topology file '/nonexistent/topology.yaml'"),
        "{e}"
    );
}
