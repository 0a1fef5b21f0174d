//! Property tests over what courier reads from outside: the SQS/SNS wire (decode, encode
//! round trip, the SNS envelope), the CloudEvents codec (binary and structured mode), the
//! packed `courier` attribute, the topology and config parsers, and the stand-in's SQL
//! parser and evaluator. Each must answer (a value or an error naming the problem) and
//! never panic, within a loose per-case budget (1 s: a hang or an exponential blow-up,
//! not a speed target).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use courier_azure_standin::sql::{PropertyValue, SqlFilter};
use courier_core::wire::Packed;
use courier_core::{Config, Event, Message, Topology};
use proptest::prelude::*;

const BUDGET: Duration = Duration::from_secs(1);

fn within_budget<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    assert!(
        started.elapsed() < BUDGET,
        "{what} took {:?}",
        started.elapsed()
    );
    out
}

/// Text that looks like JSON some of the time.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,80}",
        proptest::collection::vec(
            prop_oneof![
                Just("{".to_owned()),
                Just("}".to_owned()),
                Just("\"Type\":\"Notification\",".to_owned()),
                Just("\"Message\":".to_owned()),
                Just(
                    "\"MessageAttributes\":{\"a\":{\"Type\":\"Binary\",\"Value\":\"@@\"}}"
                        .to_owned()
                ),
                Just("\"specversion\":\"1.0\",".to_owned()),
                Just("\"data_base64\":\"%%\",".to_owned()),
                Just("\"id\":".to_owned()),
                Just("\"b64\":true,".to_owned()),
                Just("\"attrs\":{\"x\":1},".to_owned()),
                "\"[a-z]{0,5}\"",
                "-?[0-9]{1,25}(\\.[0-9]{0,5})?(e[0-9]{1,4})?",
                Just("null".to_owned()),
                Just(",".to_owned()),
            ],
            0..24
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn attribute_names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("courier".to_owned()),
        Just("ce_type".to_owned()),
        Just("ce_id".to_owned()),
        Just("ce_source".to_owned()),
        Just("content-type".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_.-]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sqs_decode_never_panics(body in jsonish(), attrs in proptest::collection::hash_map(attribute_names(), jsonish(), 0..6)) {
        within_budget("aws decode", || {
            let m = courier_aws::wire::decode(body, attrs);
            let _ = Event::<serde_json::Value>::from_message(&m);
        });
    }

    #[test]
    fn sns_envelope_unwrap_never_panics(body in jsonish()) {
        within_budget("unwrap_sns_envelope", || courier_aws::wire::unwrap_sns_envelope(&body));
    }

    /// What courier encodes, it decodes to the same body and attributes.
    #[test]
    fn sqs_encode_then_decode_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        attrs in proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", "[ -~]{0,20}|-?[0-9]{1,6}(\\.[0-9]{1,3})?", 0..6),
        content_type in proptest::option::of("[a-z/+.-]{1,30}"),
    ) {
        let mut m = Message::new(body.clone());
        m.attributes = attrs.clone();
        m.content_type = content_type.clone();
        let encoded = within_budget("encode", || courier_aws::wire::encode(&m, true)).expect("encodes");
        let wire: HashMap<String, String> = encoded
            .attributes
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect();
        let back = within_budget("decode", || courier_aws::wire::decode(encoded.body, wire));
        prop_assert_eq!(back.body, body);
        prop_assert_eq!(back.attributes, attrs);
        prop_assert_eq!(back.content_type, content_type);
    }

    /// Structured-mode CloudEvents (a JSON body, `application/cloudevents+json`): any body
    /// decodes or is refused, never a panic.
    #[test]
    fn structured_cloudevents_decode_never_panics(body in jsonish(), binary in any::<bool>()) {
        let mut m = Message::new(body.into_bytes());
        m.content_type = Some("application/cloudevents+json; charset=utf-8".into());
        if binary {
            m.attributes.insert("ce_type".into(), "T".into());
        }
        within_budget("event decode", || {
            let _ = Event::<serde_json::Value>::from_message(&m);
        });
    }

    /// An event encoded and decoded is the same event.
    #[test]
    fn events_round_trip(id in "[ -~]{1,40}", source in "[ -~]{1,40}", ty in "[A-Za-z.]{1,20}", n in any::<i64>(), text in any::<String>()) {
        let event = Event::new(source, ty, serde_json::json!({"n": n, "text": text})).with_id(id);
        let m = event.to_message().expect("encodes");
        let back = Event::<serde_json::Value>::from_message(&m).expect("decodes");
        prop_assert_eq!(back.id, event.id);
        prop_assert_eq!(back.source, event.source);
        prop_assert_eq!(back.ty, event.ty);
        prop_assert_eq!(back.data, event.data);
    }

    #[test]
    fn packed_unpack_never_panics_and_round_trips(text in jsonish(), attrs in proptest::collection::btree_map("[ -~]{0,8}", any::<String>(), 0..4)) {
        within_budget("unpack", || Packed::unpack(&text));
        let packed = Packed { attrs, content_type: Some("x/y".into()), ..Packed::default() };
        let json = packed.to_json().expect("packs");
        prop_assert_eq!(Packed::unpack(&json), Some(packed));
    }

    #[test]
    fn topology_parser_never_panics(text in yamlish()) {
        within_budget("topology", || {
            let _ = Topology::from_yaml(&text, "property test");
        });
    }

    #[test]
    fn config_parser_never_panics(text in tomlish()) {
        within_budget("config", || {
            let _ = Config::from_toml(&text, "property test");
        });
    }

    #[test]
    fn sql_parser_and_evaluator_never_panic(text in sqlish(), props in proptest::collection::vec((prop_oneof![Just("a"), Just("b"), Just("region")], property_value()), 0..4)) {
        within_budget("sql", || {
            if let Ok(filter) = SqlFilter::parse(&text) {
                let props: Vec<(&str, PropertyValue)> = props.iter().map(|(k, v)| (*k, v.clone())).collect();
                let _ = filter.evaluate_properties(&props);
            }
        });
    }
}

fn yamlish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("topics:\n".to_owned()),
                Just("  - name: ".to_owned()),
                Just("queues: [".to_owned()),
                Just("subscriptions:\n  - topic: t\n    name: s\n    filter: ".to_owned()),
                Just("{type: [{prefix: ".to_owned()),
                Just("{numeric: [\">=\", 1e999]}".to_owned()),
                Just("{anything-but: {prefix: ".to_owned()),
                Just("fifo: true\n".to_owned()),
                Just("max_receive_count: 99999999999\n".to_owned()),
                Just("visibility_timeout_secs: -1\n".to_owned()),
                Just("&a [*a]".to_owned()),
                "[a-z_.-]{0,10}",
                Just("]}\n".to_owned()),
            ],
            0..16
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn tomlish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("provider = \"aws\"\n".to_owned()),
                Just("[aws]\n".to_owned()),
                Just("[azure]\n".to_owned()),
                Just("operation_timeout_secs = 18446744073709551615\n".to_owned()),
                Just("attempt_timeout_secs = 0\n".to_owned()),
                Just("azure = \"Endpoint=sb://x/;SharedAccessKey=k\"\n".to_owned()),
                Just("connection_string = \"".to_owned()),
                Just("endpoint = \"http://10.0.0.1\"\n".to_owned()),
                "[a-z_]{0,10} = [0-9\"a-z]{0,6}\n",
            ],
            0..10
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn sqlish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Deep nesting (bounded by the parser) and LIKE patterns that backtrack in a
        // naive matcher.
        (1usize..600).prop_map(|n| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n))),
        (1usize..60).prop_map(|n| format!("a LIKE '{}b'", "%a".repeat(n))),
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_owned()),
                Just("sys.Label".to_owned()),
                Just("[region]".to_owned()),
                Just(" = ".to_owned()),
                Just(" <> ".to_owned()),
                Just(" AND ".to_owned()),
                Just(" OR ".to_owned()),
                Just(" NOT ".to_owned()),
                Just(" IN (".to_owned()),
                Just(" LIKE ".to_owned()),
                Just(" ESCAPE '\\'".to_owned()),
                Just(" IS NULL".to_owned()),
                Just("EXISTS(".to_owned()),
                Just("(".to_owned()),
                Just(")".to_owned()),
                Just(", ".to_owned()),
                Just(" + ".to_owned()),
                Just(" / ".to_owned()),
                Just(" % ".to_owned()),
                Just("@p".to_owned()),
                Just("newid()".to_owned()),
                "'[a-z%_]{0,6}'",
                "-?[0-9]{1,22}(\\.[0-9]{1,4})?(e[0-9]{1,4})?",
            ],
            0..20
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn property_value() -> impl Strategy<Value = PropertyValue> {
    prop_oneof![
        any::<String>().prop_map(PropertyValue::String),
        any::<i64>().prop_map(PropertyValue::Int),
        any::<f64>().prop_map(PropertyValue::Double),
        any::<bool>().prop_map(PropertyValue::Bool),
    ]
}

/// Filters as the topology file writes them: parsing never panics, and matching answers.
#[test]
fn filter_policies_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &(
                jsonish(),
                proptest::collection::btree_map("[a-z]{1,4}", "[ -~]{0,6}", 0..3),
            ),
            |(text, attrs)| {
                within_budget("filter", || {
                    if let Ok(policy) =
                        serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&text)
                    {
                        if let Ok(filter) = courier_core::Filter::from_policy(&policy) {
                            let _ = filter.matches(&attrs);
                            let _ = courier_azure::sql::to_sql(&filter);
                            let _ = filter.to_sns_policy();
                        }
                    }
                });
                Ok(())
            },
        )
        .expect("no panic");
}
