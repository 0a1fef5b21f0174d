//! Provisioning a topology on SNS and SQS, idempotently.
//!
//! Each queue gets its dead-letter queue (`-dlq`, 14 days' retention) with a RedrivePolicy
//! (`maxReceiveCount` from the topology) and a RedriveAllowPolicy that admits only its own
//! queue; SQS-managed encryption; `MaximumMessageSize` set explicitly to 1 MiB (a new queue
//! would default to 256 KiB). Topics are encrypted with the AWS-managed `alias/aws/sns`
//! key. A subscription's queue admits SendMessage only from its topic, and is subscribed
//! with raw delivery and the filter policy. An existing entity whose settings differ is
//! updated and reported; one whose FIFO-ness differs cannot be changed and is reported
//! as differing.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName as Q;
use courier_core::topology::{SubscriptionSpec, TopicSpec};
use courier_core::{EntityKind, Error, ProvisionAction, ProvisionReport, Result, Topology};
use serde_json::{json, Value};

use crate::resolve::Inner;
use crate::{error, names, wire};

const SNS_KMS_KEY: &str = "alias/aws/sns";
const RETENTION_SECS: &str = "345600"; // 4 days, the SQS default, stated explicitly
const DLQ_RETENTION_SECS: &str = "1209600"; // 14 days: longer than the source's, as AWS advises

pub(crate) async fn provision(inner: &Inner, topology: &Topology) -> Result<ProvisionReport> {
    let mut t = topology.clone();
    t.validate("topology")?;
    let mut report = ProvisionReport::default();
    let mut topic_arns = HashMap::new();
    for topic in &t.topics {
        topic_arns.insert(
            topic.name.clone(),
            ensure_topic(inner, topic, &mut report).await?,
        );
    }
    for q in &t.queues {
        let spec = QueueSpec {
            base: q.name.clone(),
            fifo: q.fifo,
            cbd: q.content_based_deduplication,
            max_receive: q.max_receive_count,
            visibility: q.visibility_timeout_secs,
        };
        ensure_queue_pair(inner, &spec, None, EntityKind::Queue, &mut report).await?;
    }
    for s in &t.subscriptions {
        let topic = t
            .topic(&s.topic)
            .ok_or_else(|| Error::invalid_topology(format!("unknown topic '{}'", s.topic)))?;
        let topic_arn = &topic_arns[&topic.name];
        let spec = QueueSpec {
            base: names::subscription_queue_base(&s.topic, &s.name),
            fifo: topic.fifo,
            cbd: false,
            max_receive: s.max_receive_count,
            visibility: s.visibility_timeout_secs,
        };
        let queue_arn = ensure_queue_pair(
            inner,
            &spec,
            Some(topic_arn),
            EntityKind::Queue,
            &mut report,
        )
        .await?;
        ensure_subscription(inner, s, topic_arn, &queue_arn, &mut report).await?;
    }
    inner.forget();
    Ok(report)
}

/// Compares attribute values, JSON documents by meaning (numbers and strings alike).
fn same(a: &str, b: &str) -> bool {
    fn norm(v: Value) -> Value {
        match v {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            other => other,
        }
    }
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) if x.is_object() => norm(x) == norm(y),
        _ => false,
    }
}

async fn ensure_topic(
    inner: &Inner,
    topic: &TopicSpec,
    report: &mut ProvisionReport,
) -> Result<String> {
    let name = names::topic_name(&topic.name, topic.fifo);
    let what = format!("topic '{}'", topic.name);
    let mut desired = vec![("KmsMasterKeyId", SNS_KMS_KEY.to_owned())];
    if topic.fifo {
        desired.push((
            "ContentBasedDeduplication",
            topic.content_based_deduplication.to_string(),
        ));
    }
    let Some(arn) = inner.find_topic_arn(&topic.name, &what).await? else {
        let mut attrs: HashMap<String, String> = desired
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if topic.fifo {
            attrs.insert("FifoTopic".into(), "true".into());
        }
        let out = inner
            .sns
            .create_topic()
            .name(&name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(|e| error::map("CreateTopic", &what, e))?;
        report.push(EntityKind::Topic, name, ProvisionAction::Created);
        return out.topic_arn.ok_or_else(|| Error::Backend {
            message: format!("CreateTopic on {what} returned no ARN"),
            source: None,
        });
    };
    if names::arn_name(&arn) != name {
        let why = format!(
            "exists as '{}', the topology says fifo: {}",
            names::arn_name(&arn),
            topic.fifo
        );
        report.push(EntityKind::Topic, name, ProvisionAction::Differs(why));
        return Ok(arn);
    }
    let actual = inner.topic_attributes(&arn, &what).await?;
    let mut changed = Vec::new();
    for (key, value) in desired {
        if actual.get(key).is_none_or(|a| !same(a, &value)) {
            inner
                .sns
                .set_topic_attributes()
                .topic_arn(&arn)
                .attribute_name(key)
                .attribute_value(&value)
                .send()
                .await
                .map_err(|e| error::map("SetTopicAttributes", &what, e))?;
            changed.push(key);
        }
    }
    report.push(
        EntityKind::Topic,
        name,
        if changed.is_empty() {
            ProvisionAction::Unchanged
        } else {
            ProvisionAction::Updated(changed.join(", "))
        },
    );
    Ok(arn)
}

struct QueueSpec {
    base: String,
    fifo: bool,
    cbd: bool,
    max_receive: u32,
    visibility: u32,
}

/// Ensures the dead-letter queue, then the queue; returns the queue's ARN.
async fn ensure_queue_pair(
    inner: &Inner,
    spec: &QueueSpec,
    topic_arn: Option<&str>,
    kind: EntityKind,
    report: &mut ProvisionReport,
) -> Result<String> {
    let main_name = names::queue_name(&spec.base, spec.fifo);
    let dlq_name = names::queue_name(&names::dead_letter_base(&spec.base), spec.fifo);
    let mut common = vec![
        (
            Q::MaximumMessageSize,
            wire::SQS_MAX_MESSAGE_SIZE.to_string(),
        ),
        (Q::SqsManagedSseEnabled, "true".to_owned()),
        (Q::VisibilityTimeout, spec.visibility.to_string()),
    ];
    if spec.fifo {
        common.push((Q::FifoQueue, "true".to_owned()));
    }
    let mut dlq_static = common.clone();
    dlq_static.push((Q::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_owned()));
    let main_for_dlq = main_name.clone();
    let dlq_arn = ensure_queue(inner, report, EntityKind::DeadLetterQueue, &dlq_name, dlq_static, move |arn| {
        let allow = json!({"redrivePermission": "byQueue", "sourceQueueArns": [names::sibling_arn(arn, &main_for_dlq)]});
        vec![(Q::RedriveAllowPolicy, allow.to_string())]
    })
    .await?;
    let mut main_static = common;
    main_static.push((Q::MessageRetentionPeriod, RETENTION_SECS.to_owned()));
    if spec.fifo {
        main_static.push((Q::ContentBasedDeduplication, spec.cbd.to_string()));
    }
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive});
    main_static.push((Q::RedrivePolicy, redrive.to_string()));
    let topic_arn = topic_arn.map(str::to_owned);
    ensure_queue(
        inner,
        report,
        kind,
        &main_name,
        main_static,
        move |arn| match &topic_arn {
            Some(topic) => {
                let policy = json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "courier-topic-sends",
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}
                    }]
                });
                vec![(Q::Policy, policy.to_string())]
            }
            None => Vec::new(),
        },
    )
    .await
}

/// Creates or updates one queue; `dynamic` gives the attributes that need its own ARN.
async fn ensure_queue(
    inner: &Inner,
    report: &mut ProvisionReport,
    kind: EntityKind,
    name: &str,
    fixed: Vec<(Q, String)>,
    dynamic: impl Fn(&str) -> Vec<(Q, String)>,
) -> Result<String> {
    let what = format!("queue '{name}'");
    let (url, created) = match inner.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => (out.queue_url.unwrap_or_default(), false),
        Err(e) => match error::map("GetQueueUrl", &what, e) {
            Error::NotFound { .. } => {
                let out = inner
                    .sqs
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(fixed.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| error::map("CreateQueue", &what, e))?;
                (out.queue_url.unwrap_or_default(), true)
            }
            other => return Err(other),
        },
    };
    let actual = inner.queue_attributes(&url, &what).await?;
    let arn = actual
        .get(&Q::QueueArn)
        .cloned()
        .ok_or_else(|| Error::Backend {
            message: format!("{what} has no QueueArn"),
            source: None,
        })?;
    let actual_fifo = actual.get(&Q::FifoQueue).is_some_and(|v| v == "true");
    let wanted_fifo = fixed.iter().any(|(k, v)| *k == Q::FifoQueue && v == "true");
    if actual_fifo != wanted_fifo {
        report.push(
            kind,
            name,
            ProvisionAction::Differs(format!(
                "FifoQueue is {actual_fifo}, the topology says {wanted_fifo}"
            )),
        );
        return Ok(arn);
    }
    let desired: Vec<(Q, String)> = fixed
        .into_iter()
        .chain(dynamic(&arn))
        .filter(|(k, _)| *k != Q::FifoQueue)
        .collect();
    let changed: HashMap<Q, String> = desired
        .into_iter()
        .filter(|(k, v)| actual.get(k).is_none_or(|a| !same(a, v)))
        .collect();
    if !changed.is_empty() {
        inner
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(changed.clone()))
            .send()
            .await
            .map_err(|e| error::map("SetQueueAttributes", &what, e))?;
    }
    let action = if created {
        ProvisionAction::Created
    } else if changed.is_empty() {
        ProvisionAction::Unchanged
    } else {
        let mut keys: Vec<&str> = changed.keys().map(Q::as_str).collect();
        keys.sort_unstable();
        ProvisionAction::Updated(keys.join(", "))
    };
    report.push(kind, name, action);
    Ok(arn)
}

async fn ensure_subscription(
    inner: &Inner,
    s: &SubscriptionSpec,
    topic_arn: &str,
    queue_arn: &str,
    report: &mut ProvisionReport,
) -> Result<()> {
    let what = format!("subscription '{}/{}'", s.topic, s.name);
    let label = format!(
        "{} -> {}",
        names::arn_name(topic_arn),
        names::arn_name(queue_arn)
    );
    let filter = s.parsed_filter().map(|f| f.to_sns_policy().to_string());
    let mut existing = None;
    let mut pages = inner
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error::map("ListSubscriptionsByTopic", &what, e))?;
        if let Some(found) = page
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.endpoint.as_deref() == Some(queue_arn))
        {
            existing = found.subscription_arn;
            break;
        }
    }
    let Some(sub_arn) = existing else {
        let mut attrs = HashMap::from([("RawMessageDelivery".to_owned(), "true".to_owned())]);
        if let Some(policy) = &filter {
            attrs.insert("FilterPolicy".into(), policy.clone());
            attrs.insert("FilterPolicyScope".into(), "MessageAttributes".into());
        }
        inner
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .set_attributes(Some(attrs))
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| error::map("Subscribe", &what, e))?;
        report.push(EntityKind::Subscription, label, ProvisionAction::Created);
        return Ok(());
    };
    let actual = inner
        .sns
        .get_subscription_attributes()
        .subscription_arn(&sub_arn)
        .send()
        .await
        .map_err(|e| error::map("GetSubscriptionAttributes", &what, e))?
        .attributes
        .unwrap_or_default();
    let mut desired = vec![("RawMessageDelivery", "true".to_owned())];
    match &filter {
        Some(policy) => {
            desired.push(("FilterPolicyScope", "MessageAttributes".to_owned()));
            desired.push(("FilterPolicy", policy.clone()));
        }
        // No filter: an existing one is cleared with an empty policy.
        None if actual
            .get("FilterPolicy")
            .is_some_and(|p| !p.is_empty() && p != "{}") =>
        {
            desired.push(("FilterPolicy", String::new()))
        }
        None => {}
    }
    let mut changed = Vec::new();
    for (key, value) in desired {
        if actual.get(key).is_none_or(|a| !same(a, &value)) {
            inner
                .sns
                .set_subscription_attributes()
                .subscription_arn(&sub_arn)
                .attribute_name(key)
                .attribute_value(&value)
                .send()
                .await
                .map_err(|e| error::map("SetSubscriptionAttributes", &what, e))?;
            changed.push(key);
        }
    }
    report.push(
        EntityKind::Subscription,
        label,
        if changed.is_empty() {
            ProvisionAction::Unchanged
        } else {
            ProvisionAction::Updated(changed.join(", "))
        },
    );
    Ok(())
}
