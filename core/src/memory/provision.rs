//! Provisioning of the in-memory broker: create what a topology names, report drift.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::queue::{QueueSettings, QueueState};
use super::{MemoryBroker, QueueRef, State, TopicState};
use crate::error::Result;
use crate::provision::{Drift, EntityKind, ProvisionAction, ProvisionReport};
use crate::topology::{QueueSpec, SubscriptionSpec, TopicSpec, Topology};

impl MemoryBroker {
    pub(super) fn provision_all(&self, topology: &Topology) -> Result<ProvisionReport> {
        // Validate a copy so that filters are parsed even for a hand-built topology.
        let mut topology = topology.clone();
        topology.validate("topology")?;
        let mut report = ProvisionReport::default();
        let mut state = self.state.write();
        for t in &topology.topics {
            provision_topic(&mut state, &mut report, t);
        }
        for q in &topology.queues {
            let settings = queue_settings(q);
            match state.queues.get(&q.name) {
                Some(existing) => {
                    update_queue(existing, &mut report, EntityKind::Queue, &q.name, settings)
                }
                None => {
                    let created = new_queue(&mut report, EntityKind::Queue, &q.name, settings);
                    state.queues.insert(q.name.clone(), created);
                }
            }
        }
        for s in &topology.subscriptions {
            let settings = subscription_settings(s, topology.topic(&s.topic));
            let label = format!("{}/{}", s.topic, s.name);
            let Some(topic) = state.topics.get_mut(&s.topic) else {
                continue; // validation refuses a subscription of an unknown topic
            };
            match topic.subscriptions.iter().find(|(n, _)| *n == s.name) {
                Some((_, existing)) => update_queue(
                    existing,
                    &mut report,
                    EntityKind::Subscription,
                    &label,
                    settings,
                ),
                None => {
                    let created =
                        new_queue(&mut report, EntityKind::Subscription, &label, settings);
                    topic.subscriptions.push((s.name.clone(), created));
                }
            }
        }
        Ok(report)
    }
}

fn new_queue(
    report: &mut ProvisionReport,
    kind: EntityKind,
    name: &str,
    settings: QueueSettings,
) -> QueueRef {
    report.push(kind, name, ProvisionAction::Created);
    Arc::new(Mutex::new(QueueState::with_dead_letter_queue(
        name.to_owned(),
        settings,
    )))
}

fn update_queue(
    queue: &QueueRef,
    report: &mut ProvisionReport,
    kind: EntityKind,
    name: &str,
    settings: QueueSettings,
) {
    let mut q = queue.lock();
    if q.settings.fifo != settings.fifo {
        let what = format!(
            "fifo is {}, the topology says {}",
            q.settings.fifo, settings.fifo
        );
        report.push(kind, name, ProvisionAction::Differs(what));
        return;
    }
    let mut drift = Drift::default();
    let old = &q.settings;
    drift.compare(
        "max_receive_count",
        &old.max_receive_count,
        &settings.max_receive_count,
    );
    drift.compare("visibility", &old.visibility, &settings.visibility);
    drift.compare(
        "content_based_deduplication",
        &old.content_based_deduplication,
        &settings.content_based_deduplication,
    );
    if old.filter != settings.filter {
        drift.note("filter");
    }
    let action = drift.action();
    if action != ProvisionAction::Unchanged {
        if let Some(dlq) = &q.dlq {
            dlq.lock().settings.visibility = settings.visibility;
        }
        q.settings = settings;
    }
    report.push(kind, name, action);
}

fn provision_topic(state: &mut State, report: &mut ProvisionReport, spec: &TopicSpec) {
    let action = match state.topics.get_mut(&spec.name) {
        None => {
            state.topics.insert(
                spec.name.clone(),
                TopicState {
                    spec: spec.clone(),
                    subscriptions: Vec::new(),
                    dedup: Mutex::default(),
                },
            );
            ProvisionAction::Created
        }
        Some(t) if t.spec.fifo != spec.fifo => ProvisionAction::Differs(format!(
            "fifo is {}, the topology says {}",
            t.spec.fifo, spec.fifo
        )),
        Some(t) if t.spec != *spec => {
            t.spec = spec.clone();
            ProvisionAction::Updated("content_based_deduplication".into())
        }
        Some(_) => ProvisionAction::Unchanged,
    };
    report.push(EntityKind::Topic, &spec.name, action);
}

fn queue_settings(q: &QueueSpec) -> QueueSettings {
    QueueSettings {
        fifo: q.fifo,
        content_based_deduplication: q.content_based_deduplication,
        max_receive_count: Some(q.max_receive_count),
        visibility: Duration::from_secs(q.visibility_timeout_secs.into()),
        filter: None,
    }
}

fn subscription_settings(s: &SubscriptionSpec, topic: Option<&TopicSpec>) -> QueueSettings {
    QueueSettings {
        fifo: topic.is_some_and(|t| t.fifo),
        content_based_deduplication: false,
        max_receive_count: Some(s.max_receive_count),
        visibility: Duration::from_secs(s.visibility_timeout_secs.into()),
        filter: s.parsed_filter().cloned(),
    }
}
