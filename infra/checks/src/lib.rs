//! The project's rules for its Terraform, checked offline over the parsed `.tf` files.
//!
//! Each rule returns its violations (empty: the rule holds), naming file and resource.
//! `tests/rules.rs` runs them over `infra/modules` and, for each rule, over a copy broken
//! on purpose, to show that the rule bites.
#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};

/// One `.tf` file: its path, text and parsed body.
#[derive(Debug, Clone)]
pub struct TfFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its parsed body.
    pub body: Body,
}

/// A Terraform module: the `.tf` files of one directory.
#[derive(Debug, Clone)]
pub struct Module {
    /// The directory.
    pub dir: PathBuf,
    /// Its files.
    pub files: Vec<TfFile>,
}

/// A resource or data block: `(type, name, block, file)`.
pub type Resource<'a> = (&'a str, &'a str, &'a Block, &'a TfFile);

fn label(b: &Block, i: usize) -> &str {
    b.labels().get(i).map(|l| l.as_str()).unwrap_or("")
}

impl Module {
    /// Reads and parses every `.tf` file of `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        paths.sort();
        for path in paths {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let body = hcl::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(TfFile { path, text, body });
        }
        if files.is_empty() {
            return Err(format!("{}: no .tf files", dir.display()));
        }
        Ok(Module {
            dir: dir.to_owned(),
            files,
        })
    }

    /// Top-level blocks with this identifier (`resource`, `data`, `variable`, …).
    pub fn blocks<'a>(
        &'a self,
        identifier: &'a str,
    ) -> impl Iterator<Item = (&'a Block, &'a TfFile)> + 'a {
        self.files.iter().flat_map(move |f| {
            f.body
                .blocks()
                .filter(move |b| b.identifier() == identifier)
                .map(move |b| (b, f))
        })
    }

    /// Resources of one type.
    pub fn resources<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = Resource<'a>> + 'a {
        self.blocks("resource")
            .filter(move |(b, _)| label(b, 0) == ty)
            .map(|(b, f)| (label(b, 0), label(b, 1), b, f))
    }

    /// Data sources of one type.
    pub fn data<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = Resource<'a>> + 'a {
        self.blocks("data")
            .filter(move |(b, _)| label(b, 0) == ty)
            .map(|(b, f)| (label(b, 0), label(b, 1), b, f))
    }
}

fn attr<'a>(b: &'a Block, key: &str) -> Option<&'a Expression> {
    b.body()
        .attributes()
        .find(|a| a.key() == key)
        .map(|a| a.expr())
}

fn text(e: &Expression) -> String {
    hcl::format::to_string(e).unwrap_or_default()
}

fn at(ty: &str, name: &str, f: &TfFile) -> String {
    format!(
        "{}: {ty}.{name}",
        f.path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    )
}

/// Every SQS queue has a dead-letter queue: it has a `redrive_policy` naming a dead-letter
/// target and `maxReceiveCount`, or it is that target — and then a redrive allow policy
/// admits its source.
pub fn queues_have_dead_letter_queues(m: &Module) -> Vec<String> {
    let queues: Vec<Resource> = m.resources("aws_sqs_queue").collect();
    let policies: Vec<String> = queues
        .iter()
        .filter_map(|(_, _, b, _)| attr(b, "redrive_policy").map(text))
        .collect();
    let allows: Vec<String> = m
        .resources("aws_sqs_queue_redrive_allow_policy")
        .filter_map(|(_, _, b, _)| attr(b, "queue_url").map(text))
        .collect();
    let mut out = Vec::new();
    for (ty, name, b, f) in &queues {
        let is_target = policies.iter().any(|p| {
            p.contains(&format!("aws_sqs_queue.{name}["))
                || p.contains(&format!("aws_sqs_queue.{name}."))
        });
        match attr(b, "redrive_policy").map(text) {
            Some(p) if p.contains("deadLetterTargetArn") && p.contains("maxReceiveCount") => {}
            Some(_) => out.push(format!(
                "{}: redrive_policy lacks deadLetterTargetArn or maxReceiveCount",
                at(ty, name, f)
            )),
            None if is_target => {
                if !allows
                    .iter()
                    .any(|a| a.contains(&format!("aws_sqs_queue.{name}")))
                {
                    out.push(format!(
                        "{}: dead-letter queue without a redrive allow policy",
                        at(ty, name, f)
                    ));
                }
            }
            None => out.push(format!(
                "{}: no redrive_policy, so no dead-letter queue",
                at(ty, name, f)
            )),
        }
    }
    out
}

/// Every SQS event source mapping reports partial batch failures.
pub fn triggers_report_batch_item_failures(m: &Module) -> Vec<String> {
    m.resources("aws_lambda_event_source_mapping")
        .filter(|(_, _, b, _)| {
            !attr(b, "function_response_types")
                .is_some_and(|e| text(e).contains("\"ReportBatchItemFailures\""))
        })
        .map(|(ty, name, _, f)| {
            format!(
                "{}: function_response_types lacks ReportBatchItemFailures",
                at(ty, name, f)
            )
        })
        .collect()
}

/// Queues and topics are encrypted at rest.
pub fn encryption_is_on(m: &Module) -> Vec<String> {
    let mut out = Vec::new();
    for (ty, name, b, f) in m.resources("aws_sqs_queue") {
        let sse =
            attr(b, "sqs_managed_sse_enabled").is_some_and(|e| matches!(e, Expression::Bool(true)));
        if !sse && attr(b, "kms_master_key_id").is_none() {
            out.push(format!(
                "{}: neither sqs_managed_sse_enabled = true nor kms_master_key_id",
                at(ty, name, f)
            ));
        }
    }
    for (ty, name, b, f) in m.resources("aws_sns_topic") {
        if attr(b, "kms_master_key_id").is_none() {
            out.push(format!("{}: no kms_master_key_id", at(ty, name, f)));
        }
    }
    out
}

/// Every SQS queue sets `max_message_size` (new queues would default to 256 KiB).
pub fn message_size_is_explicit(m: &Module) -> Vec<String> {
    m.resources("aws_sqs_queue")
        .filter(|(_, _, b, _)| {
            attr(b, "max_message_size").is_none_or(|e| text(e).trim() != "1048576")
        })
        .map(|(ty, name, _, f)| {
            format!(
                "{}: max_message_size is not set to 1048576",
                at(ty, name, f)
            )
        })
        .collect()
}

/// IAM statements name actions and resources: no `*` actions or resources.
pub fn iam_is_least_privilege(m: &Module) -> Vec<String> {
    let mut out = Vec::new();
    for (ty, name, b, f) in m.data("aws_iam_policy_document") {
        for st in b.body().blocks().filter(|s| s.identifier() == "statement") {
            let sid = attr(st, "sid").map(text).unwrap_or_default();
            for key in ["actions", "resources"] {
                let Some(Expression::Array(items)) = attr(st, key) else {
                    if key == "actions" {
                        out.push(format!(
                            "{}: statement {sid} has no literal actions list",
                            at(ty, name, f)
                        ));
                    }
                    continue;
                };
                for item in items {
                    if let Expression::String(s) = item {
                        if s == "*" || s.ends_with(":*") {
                            out.push(format!(
                                "{}: statement {sid} grants {key} \"{s}\"",
                                at(ty, name, f)
                            ));
                        }
                    }
                }
            }
        }
    }
    // Policies are written as policy documents, so that the checks above see them.
    for (ty, name, b, f) in m.resources("aws_iam_role_policy") {
        if !attr(b, "policy")
            .map(text)
            .is_some_and(|p| p.trim_start().starts_with("data.aws_iam_policy_document."))
        {
            out.push(format!(
                "{}: policy is not an aws_iam_policy_document",
                at(ty, name, f)
            ));
        }
    }
    out
}

/// Service Bus queues and subscriptions dead-letter: on expiry, and after a max delivery count.
pub fn service_bus_dead_letters(m: &Module) -> Vec<String> {
    let mut out = Vec::new();
    for ty in [
        "azurerm_servicebus_queue",
        "azurerm_servicebus_subscription",
    ] {
        for (ty, name, b, f) in m.resources(ty) {
            if !attr(b, "dead_lettering_on_message_expiration")
                .is_some_and(|e| matches!(e, Expression::Bool(true)))
            {
                out.push(format!(
                    "{}: dead_lettering_on_message_expiration is not true",
                    at(ty, name, f)
                ));
            }
            if attr(b, "max_delivery_count").is_none() {
                out.push(format!("{}: no max_delivery_count", at(ty, name, f)));
            }
        }
    }
    out
}

/// Every reference (`var.x`, `local.x`, `module.m.output`, `data.t.n`, `aws_t.n`,
/// `azurerm_t.n`) names something declared — module outputs included.
pub fn references_resolve(m: &Module) -> Vec<String> {
    let mut declared: BTreeSet<String> = BTreeSet::new();
    for (b, _) in m.blocks("variable") {
        declared.insert(format!("var.{}", label(b, 0)));
    }
    for (b, _) in m.blocks("locals") {
        for a in b.body().attributes() {
            declared.insert(format!("local.{}", a.key()));
        }
    }
    for (b, _) in m.blocks("resource") {
        declared.insert(format!("{}.{}", label(b, 0), label(b, 1)));
    }
    for (b, _) in m.blocks("data") {
        declared.insert(format!("data.{}.{}", label(b, 0), label(b, 1)));
    }
    for (b, _) in m.blocks("module") {
        let name = label(b, 0);
        declared.insert(format!("module.{name}"));
        let source = attr(b, "source").map(text).unwrap_or_default();
        let source = source.trim().trim_matches('"');
        if let Ok(sub) = Module::load(&m.dir.join(source)) {
            for (o, _) in sub.blocks("output") {
                declared.insert(format!("module.{name}.{}", label(o, 0)));
            }
        }
    }
    let mut out = Vec::new();
    for f in &m.files {
        for (line_no, line) in f.text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or(line);
            if code.trim_start().starts_with('#') {
                continue;
            }
            for r in references(code) {
                if !declared.contains(&r) {
                    out.push(format!(
                        "{}:{}: '{r}' is not declared",
                        f.path
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                        line_no + 1
                    ));
                }
            }
        }
    }
    out
}

/// The references in one line of HCL, cut to what must be declared.
fn references(line: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word =
            word(chars[i]) && (i == 0 || !(word(chars[i - 1]) || chars[i - 1] == '.'));
        if !starts_word {
            i += 1;
            continue;
        }
        // Read a dotted path of words.
        let mut parts = Vec::new();
        let mut j = i;
        loop {
            let s = j;
            while j < chars.len() && word(chars[j]) {
                j += 1;
            }
            parts.push(chars[s..j].iter().collect::<String>());
            if j + 1 < chars.len() && chars[j] == '.' && word(chars[j + 1]) {
                j += 1;
            } else {
                break;
            }
        }
        i = j.max(i + 1);
        let take = match parts[0].as_str() {
            "var" | "local" if parts.len() >= 2 => 2,
            "module" if parts.len() >= 3 => 3,
            "module" if parts.len() == 2 => 2,
            "data" if parts.len() >= 3 => 3,
            t if (t.starts_with("aws_") || t.starts_with("azurerm_")) && parts.len() >= 2 => 2,
            _ => 0,
        };
        if take > 0 {
            out.push(parts[..take].join("."));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::references;

    #[test]
    fn references_are_cut_to_their_declaration() {
        assert_eq!(
            references(r#"  arn = aws_sqs_queue.dlq[each.key].arn # x"#),
            ["aws_sqs_queue.dlq"]
        );
        assert_eq!(
            references(r#"  x = "${var.dir}/${each.key}.zip""#),
            ["var.dir"]
        );
        assert_eq!(
            references("  n = module.topology.aws_names.queues"),
            ["module.topology.aws_names"]
        );
        assert!(references(r#"  identifiers = ["sns.amazonaws.com"]"#).is_empty());
        assert!(references(r#"  actions = ["sqs:SendMessage"]"#).is_empty());
    }
}
