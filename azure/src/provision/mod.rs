//! Provisioning through the Service Bus management REST API (Atom XML), idempotently: an
//! entity that exists as asked is left alone, one whose settings differ is updated (its
//! whole description sent back, see [`description`]) and reported, a missing one is
//! created; a subscription's filter is its SQL rule ([`rule`]).

pub(crate) mod atom;
mod description;
pub(crate) mod management;
pub(crate) mod rule;

use courier_core::topology::{QueueSpec, SubscriptionSpec, Topology};
use courier_core::{Drift, Error, ProvisionAction, ProvisionReport, Result};

use crate::rest::RestClient;
use crate::sql;
use description::{Description, DescriptionKind};

/// Service Bus lock durations: 5 s to 5 minutes.
const MIN_LOCK_SECS: u32 = 5;
const MAX_LOCK_SECS: u32 = 300;

/// A value courier manages in a description.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wanted {
    /// An ISO 8601 duration, compared in whole seconds.
    Seconds(u64),
    Flag(bool),
    Count(u32),
}

impl Wanted {
    /// As the description writes it.
    fn xml(self) -> String {
        match self {
            Wanted::Seconds(s) => atom::duration(s),
            Wanted::Flag(b) => b.to_string(),
            Wanted::Count(n) => n.to_string(),
        }
    }

    /// What an element's text says, in the same terms (`None`: absent or unreadable).
    fn read(self, text: Option<&str>) -> Option<Wanted> {
        let text = text?.trim();
        Some(match self {
            Wanted::Seconds(_) => Wanted::Seconds(atom::parse_duration(text)?.round() as u64),
            Wanted::Flag(_) => Wanted::Flag(text.parse().ok()?),
            Wanted::Count(_) => Wanted::Count(text.parse().ok()?),
        })
    }
}

/// Shown plainly in a drift report (`LockDuration 60 -> 30`).
#[derive(PartialEq)]
struct Shown(Option<Wanted>);

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("(unset)"),
            Some(Wanted::Seconds(s)) => write!(f, "{s}"),
            Some(Wanted::Flag(b)) => write!(f, "{b}"),
            Some(Wanted::Count(n)) => write!(f, "{n}"),
        }
    }
}

fn lock_secs(visibility: u32) -> Wanted {
    Wanted::Seconds(visibility.clamp(MIN_LOCK_SECS, MAX_LOCK_SECS).into())
}

fn queue_settings(q: &QueueSpec) -> Vec<(&'static str, Wanted)> {
    vec![
        ("LockDuration", lock_secs(q.visibility_timeout_secs)),
        ("DeadLetteringOnMessageExpiration", Wanted::Flag(true)),
        ("MaxDeliveryCount", Wanted::Count(q.max_receive_count)),
    ]
}

fn subscription_settings(s: &SubscriptionSpec) -> Vec<(&'static str, Wanted)> {
    vec![
        ("LockDuration", lock_secs(s.visibility_timeout_secs)),
        ("DeadLetteringOnMessageExpiration", Wanted::Flag(true)),
        (
            "DeadLetteringOnFilterEvaluationExceptions",
            Wanted::Flag(true),
        ),
        ("MaxDeliveryCount", Wanted::Count(s.max_receive_count)),
    ]
}

/// Ensures the entity at `path` has `settings`: created when missing, otherwise updated
/// (the whole description, as read, with courier's settings changed) when they differ.
async fn ensure_entity(
    rest: &RestClient,
    report: &mut ProvisionReport,
    kind: DescriptionKind,
    path: &str,
    settings: &[(&'static str, Wanted)],
) -> Result<()> {
    let entity = kind.entity_kind();
    let target = format!("{entity} '{path}'");
    let Some(existing) = management::get(rest, path, &target).await? else {
        let mut created = Description::new(kind);
        for (element, want) in settings {
            created.set(element, &want.xml());
        }
        management::put(rest, path, created.to_entry(), false, &target).await?;
        report.push(entity, path, ProvisionAction::Created);
        return Ok(());
    };
    let mut description = Description::parse(kind, &existing)?;
    let mut drift = Drift::default();
    for (element, want) in settings {
        let have = want.read(description.value(element));
        drift.compare(element, &Shown(have), &Shown(Some(*want)));
        if have != Some(*want) {
            description.set(element, &want.xml());
        }
    }
    if !drift.is_empty() {
        management::put(rest, path, description.to_entry(), true, &target).await?;
    }
    report.push(entity, path, drift.action());
    Ok(())
}

/// Creates queue `name` with the default lock (30 s) that the service deletes after
/// `idle_secs` without use (`AutoDeleteOnIdle`).
pub(crate) async fn create_queue(rest: &RestClient, name: &str, idle_secs: u64) -> Result<()> {
    let mut queue = Description::new(DescriptionKind::Queue);
    queue.set("LockDuration", &atom::duration(30));
    queue.set("AutoDeleteOnIdle", &atom::duration(idle_secs));
    let target = format!("queue '{name}'");
    management::put(rest, name, queue.to_entry(), false, &target).await
}

fn refuse_fifo(t: &Topology) -> Result<()> {
    let fifo = t
        .topics
        .iter()
        .filter(|x| x.fifo)
        .map(|x| &x.name)
        .chain(t.queues.iter().filter(|q| q.fifo).map(|q| &q.name))
        .next();
    match fifo {
        Some(name) => Err(Error::unsupported(format!(
            "FIFO entity '{name}': ordered delivery on Service Bus needs sessions, which its REST protocol cannot receive"
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn provision(rest: &RestClient, topology: &Topology) -> Result<ProvisionReport> {
    // Validating parses the filters.
    let mut topology = topology.clone();
    topology.validate("topology")?;
    refuse_fifo(&topology)?;
    let mut report = ProvisionReport::default();
    for topic in &topology.topics {
        ensure_entity(rest, &mut report, DescriptionKind::Topic, &topic.name, &[]).await?;
    }
    for q in &topology.queues {
        let settings = queue_settings(q);
        ensure_entity(
            rest,
            &mut report,
            DescriptionKind::Queue,
            &q.name,
            &settings,
        )
        .await?;
    }
    for s in &topology.subscriptions {
        let path = format!("{}/subscriptions/{}", s.topic, s.name);
        let settings = subscription_settings(s);
        ensure_entity(
            rest,
            &mut report,
            DescriptionKind::Subscription,
            &path,
            &settings,
        )
        .await?;
        let wanted = sql::rule_sql(s.parsed_filter(), &s.name);
        rule::ensure(rest, &mut report, &path, &wanted).await?;
    }
    Ok(report)
}
