//! Provisioning through the Service Bus management REST API (Atom XML), idempotently:
//! an entity that exists as asked is left alone, one whose settings differ is updated and
//! reported, a missing one is created.

use azure_core::Method;
use courier_core::topology::Topology;
use courier_core::{EntityKind, Error, ProvisionAction, ProvisionReport, Result};

use crate::{atom, client, sql, AzureBroker};

const API: &str = "api-version=2017-04";
/// Service Bus lock durations: 5 s to 5 minutes.
const MIN_LOCK_SECS: u32 = 5;
const MAX_LOCK_SECS: u32 = 300;
/// The rule courier writes for a subscription's filter.
const RULE: &str = "courier-filter";

fn lock_secs(visibility: u32) -> u32 {
    visibility.clamp(MIN_LOCK_SECS, MAX_LOCK_SECS)
}

async fn get(b: &AzureBroker, path: &str, what: &str) -> Result<Option<String>> {
    let a = client::call(
        &b.http,
        &b.conn,
        Method::Get,
        &format!("{path}?{API}"),
        &[],
        None,
        what,
    )
    .await?;
    match u16::from(a.status) {
        200 if atom::has(&a.body, "entry") || atom::has(&a.body, "content") => Ok(Some(a.body)),
        // Service Bus answers a GET of a missing entity with an empty feed or 404.
        200 | 404 => Ok(None),
        _ => Err(client::status_error(a.status, what, &a.body)),
    }
}

async fn put(b: &AzureBroker, path: &str, xml: String, update: bool, what: &str) -> Result<()> {
    let mut headers = vec![(
        "content-type",
        "application/atom+xml;type=entry;charset=utf-8".to_owned(),
    )];
    if update {
        headers.push(("if-match", "*".to_owned()));
    }
    let a = client::call(
        &b.http,
        &b.conn,
        Method::Put,
        &format!("{path}?{API}"),
        &headers,
        Some(xml),
        what,
    )
    .await?;
    if a.status.is_success() {
        Ok(())
    } else {
        Err(client::status_error(a.status, what, &a.body))
    }
}

async fn delete(b: &AzureBroker, path: &str, what: &str) -> Result<bool> {
    let a = client::call(
        &b.http,
        &b.conn,
        Method::Delete,
        &format!("{path}?{API}"),
        &[],
        None,
        what,
    )
    .await?;
    match u16::from(a.status) {
        200 | 204 => Ok(true),
        404 => Ok(false),
        _ => Err(client::status_error(a.status, what, &a.body)),
    }
}

/// Ensures an entity with these settings: `(element, wanted value, compare as duration)`.
async fn ensure(
    b: &AzureBroker,
    report: &mut ProvisionReport,
    kind: EntityKind,
    path: &str,
    description: &str,
    settings: &[(&str, String)],
) -> Result<()> {
    let what = format!("{kind} '{path}'");
    let xml = atom::entry(description, settings);
    let Some(existing) = get(b, path, &what).await? else {
        put(b, path, xml, false, &what).await?;
        report.push(kind, path, ProvisionAction::Created);
        return Ok(());
    };
    let differs: Vec<&str> = settings
        .iter()
        .filter(|(k, want)| {
            let have = atom::value(&existing, k).unwrap_or_default();
            match (atom::parse_duration(&have), atom::parse_duration(want)) {
                (Some(h), Some(w)) => (h - w).abs() > 0.001,
                _ => !have.eq_ignore_ascii_case(want),
            }
        })
        .map(|(k, _)| *k)
        .collect();
    if differs.is_empty() {
        report.push(kind, path, ProvisionAction::Unchanged);
    } else {
        put(b, path, xml, true, &what).await?;
        report.push(kind, path, ProvisionAction::Updated(differs.join(", ")));
    }
    Ok(())
}

pub(crate) async fn provision(b: &AzureBroker, topology: &Topology) -> Result<ProvisionReport> {
    let mut t = topology.clone();
    t.validate("topology")?;
    if let Some(name) = t
        .topics
        .iter()
        .filter(|x| x.fifo)
        .map(|x| x.name.clone())
        .chain(t.queues.iter().filter(|q| q.fifo).map(|q| q.name.clone()))
        .next()
    {
        return Err(Error::unsupported(format!(
            "FIFO entity '{name}': ordered delivery on Service Bus needs sessions, which its REST protocol cannot receive"
        )));
    }
    let mut report = ProvisionReport::default();
    for topic in &t.topics {
        ensure(
            b,
            &mut report,
            EntityKind::Topic,
            &topic.name,
            "TopicDescription",
            &[],
        )
        .await?;
    }
    for q in &t.queues {
        let settings = [
            (
                "LockDuration",
                atom::duration(lock_secs(q.visibility_timeout_secs).into()),
            ),
            ("DeadLetteringOnMessageExpiration", "true".to_owned()),
            ("MaxDeliveryCount", q.max_receive_count.to_string()),
        ];
        ensure(
            b,
            &mut report,
            EntityKind::Queue,
            &q.name,
            "QueueDescription",
            &settings,
        )
        .await?;
    }
    for s in &t.subscriptions {
        let path = format!("{}/subscriptions/{}", s.topic, s.name);
        let settings = [
            (
                "LockDuration",
                atom::duration(lock_secs(s.visibility_timeout_secs).into()),
            ),
            ("DeadLetteringOnMessageExpiration", "true".to_owned()),
            (
                "DeadLetteringOnFilterEvaluationExceptions",
                "true".to_owned(),
            ),
            ("MaxDeliveryCount", s.max_receive_count.to_string()),
        ];
        ensure(
            b,
            &mut report,
            EntityKind::Subscription,
            &path,
            "SubscriptionDescription",
            &settings,
        )
        .await?;
        let wanted = s.parsed_filter().map(sql::to_sql);
        let rule_path = format!("{path}/rules/{RULE}");
        let what = format!("rule '{rule_path}'");
        let existing = get(b, &rule_path, &what)
            .await?
            .and_then(|x| atom::value(&x, "SqlExpression"));
        match (&wanted, existing) {
            (Some(sql), None) => {
                put(b, &rule_path, atom::rule_entry(sql), false, &what).await?;
                report.push(EntityKind::Rule, rule_path, ProvisionAction::Created);
            }
            (Some(sql), Some(have)) if have != *sql => {
                put(b, &rule_path, atom::rule_entry(sql), true, &what).await?;
                report.push(
                    EntityKind::Rule,
                    rule_path,
                    ProvisionAction::Updated("SqlExpression".into()),
                );
            }
            (Some(_), Some(_)) => {
                report.push(EntityKind::Rule, rule_path, ProvisionAction::Unchanged)
            }
            (None, Some(_)) => {
                // The filter was removed: receive everything again.
                delete(b, &rule_path, &what).await?;
                put(
                    b,
                    &format!("{path}/rules/$Default"),
                    atom::rule_entry("1=1"),
                    false,
                    &what,
                )
                .await?;
                report.push(
                    EntityKind::Rule,
                    rule_path,
                    ProvisionAction::Updated("removed; $Default restored".into()),
                );
            }
            (None, None) => {}
        }
        if wanted.is_some() {
            // The implicit catch-all rule would let everything through beside the filter.
            delete(b, &format!("{path}/rules/$Default"), &what).await?;
        }
    }
    Ok(report)
}
