//! The rules hold for the project's modules, and each one bites when broken on purpose.

use std::path::{Path, PathBuf};

use courier_infra_checks::*;

fn module(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../modules")
        .join(name)
}

fn load(name: &str) -> Module {
    Module::load(&module(name)).unwrap_or_else(|e| panic!("{e}"))
}

type Rule = fn(&Module) -> Vec<String>;

const AWS_RULES: [(&str, Rule); 6] = [
    (
        "queues_have_dead_letter_queues",
        queues_have_dead_letter_queues,
    ),
    (
        "triggers_report_batch_item_failures",
        triggers_report_batch_item_failures,
    ),
    ("encryption_is_on", encryption_is_on),
    ("message_size_is_explicit", message_size_is_explicit),
    ("iam_is_least_privilege", iam_is_least_privilege),
    ("references_resolve", references_resolve),
];

#[test]
fn the_project_modules_keep_every_rule() {
    let aws = load("aws");
    for (name, rule) in AWS_RULES {
        assert_eq!(rule(&aws), Vec::<String>::new(), "aws module breaks {name}");
    }
    let azure = load("azure");
    assert_eq!(service_bus_dead_letters(&azure), Vec::<String>::new());
    assert_eq!(references_resolve(&azure), Vec::<String>::new());
    for name in [
        "topology",
        "../envs/aws",
        "../envs/azure",
        "../envs/localstack",
    ] {
        assert_eq!(
            references_resolve(&load(name)),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

/// A copy of `module` with `from` replaced by `to` in `file` (which must contain it).
fn broken(module_name: &str, file: &str, from: &str, to: &str) -> Module {
    let src = module(module_name);
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir()
        .join(format!("courier-infra-{}-{n}", std::process::id()))
        .join(module_name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "tf") {
            let mut text = std::fs::read_to_string(&path).unwrap();
            if path.file_name().unwrap() == file {
                assert!(
                    text.contains(from),
                    "{file} no longer contains {from:?}: update the test"
                );
                text = text.replacen(from, to, 1);
            }
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    // References to ../topology must still resolve from the copy.
    let topo = dir.parent().unwrap().join("topology");
    if !topo.exists() {
        std::fs::create_dir_all(&topo).unwrap();
        for entry in std::fs::read_dir(module("topology")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, topo.join(path.file_name().unwrap())).unwrap();
        }
    }
    Module::load(&dir).unwrap()
}

fn bites(rule: Rule, m: &Module, expected: &str) {
    let v = rule(m);
    assert!(
        v.iter().any(|x| x.contains(expected)),
        "expected a violation containing {expected:?}, got {v:?}"
    );
}

#[test]
fn a_queue_without_redrive_fails() {
    let m = broken(
        "aws",
        "main.tf",
        "redrive_policy = jsonencode({",
        "redrive_notes = jsonencode({",
    );
    bites(
        queues_have_dead_letter_queues,
        &m,
        "aws_sqs_queue.this: no redrive_policy",
    );
}

#[test]
fn a_dead_letter_queue_without_allow_policy_fails() {
    let m = broken(
        "aws",
        "main.tf",
        "queue_url = aws_sqs_queue.dlq[each.key].id",
        "queue_url = aws_sqs_queue.this[each.key].id",
    );
    bites(
        queues_have_dead_letter_queues,
        &m,
        "aws_sqs_queue.dlq: dead-letter queue without a redrive allow policy",
    );
}

#[test]
fn a_trigger_without_report_batch_item_failures_fails() {
    let m = broken("aws", "lambda.tf", r#"["ReportBatchItemFailures"]"#, "[]");
    bites(
        triggers_report_batch_item_failures,
        &m,
        "aws_lambda_event_source_mapping.this",
    );
}

#[test]
fn unencrypted_queues_and_topics_fail() {
    let m = broken(
        "aws",
        "main.tf",
        "sqs_managed_sse_enabled    = true",
        "sqs_managed_sse_enabled    = false",
    );
    bites(encryption_is_on, &m, "aws_sqs_queue.dlq: neither");
    let m = broken(
        "aws",
        "main.tf",
        "kms_master_key_id           = var.sns_kms_key_id",
        "# no key",
    );
    bites(
        encryption_is_on,
        &m,
        "aws_sns_topic.this: no kms_master_key_id",
    );
}

#[test]
fn an_implicit_message_size_fails() {
    let m = broken(
        "aws",
        "main.tf",
        "max_message_size           = 1048576",
        "# default size",
    );
    bites(message_size_is_explicit, &m, "aws_sqs_queue.dlq");
}

#[test]
fn wildcard_iam_fails() {
    let m = broken("aws", "lambda.tf", r#""sqs:DeleteMessage","#, r#""sqs:*","#);
    bites(iam_is_least_privilege, &m, "grants actions \"sqs:*\"");
    let m = broken(
        "aws",
        "lambda.tf",
        r#"resources = [aws_sqs_queue.dlq[each.value.queue_key].arn]"#,
        r#"resources = ["*"]"#,
    );
    bites(iam_is_least_privilege, &m, "grants resources \"*\"");
}

#[test]
fn a_service_bus_entity_without_dead_lettering_fails() {
    let m = broken(
        "azure",
        "main.tf",
        "dead_lettering_on_message_expiration      = true",
        "dead_lettering_on_message_expiration      = false",
    );
    bites(
        service_bus_dead_letters,
        &m,
        "azurerm_servicebus_subscription.this: dead_lettering_on_message_expiration",
    );
    let m = broken(
        "azure",
        "main.tf",
        "max_delivery_count                   = each.value.max_receive_count",
        "# unlimited",
    );
    bites(
        service_bus_dead_letters,
        &m,
        "azurerm_servicebus_queue.this: no max_delivery_count",
    );
}

#[test]
fn unresolved_references_fail() {
    let m = broken(
        "aws",
        "main.tf",
        "aws_sqs_queue.dlq[each.key].arn",
        "aws_sqs_queue.dead[each.key].arn",
    );
    bites(
        references_resolve,
        &m,
        "'aws_sqs_queue.dead' is not declared",
    );
    let m = broken(
        "aws",
        "main.tf",
        "module.topology.aws_names",
        "module.topology.aws_namez",
    );
    bites(
        references_resolve,
        &m,
        "'module.topology.aws_namez' is not declared",
    );
}
