//! SNS subscriptions of subscription queues: raw delivery, and the topology's filter as a
//! filter policy on message attributes.

use std::collections::HashMap;

use courier_core::topology::SubscriptionSpec;
use courier_core::{Drift, EntityKind, ProvisionAction, ProvisionReport, Result};

use super::attribute_matches;
use crate::{error, names, AwsBroker};

/// Ensures `queue_arn` is subscribed to `topic_arn` as `s` says.
pub(super) async fn ensure(
    broker: &AwsBroker,
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
    let action = match find(broker, topic_arn, queue_arn, &what).await? {
        None => {
            subscribe(broker, topic_arn, queue_arn, filter.as_deref(), &what).await?;
            ProvisionAction::Created
        }
        Some(arn) => repair(broker, &arn, filter, &what).await?.action(),
    };
    report.push(EntityKind::Subscription, label, action);
    Ok(())
}

/// The ARN of the topic's subscription delivering to `queue_arn`, if there is one.
async fn find(
    broker: &AwsBroker,
    topic_arn: &str,
    queue_arn: &str,
    what: &str,
) -> Result<Option<String>> {
    let mut pages = broker
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error::map("ListSubscriptionsByTopic", what, e))?;
        let found = page
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .find(|x| x.endpoint.as_deref() == Some(queue_arn));
        if let Some(found) = found {
            return Ok(found.subscription_arn);
        }
    }
    Ok(None)
}

async fn subscribe(
    broker: &AwsBroker,
    topic_arn: &str,
    queue_arn: &str,
    filter: Option<&str>,
    what: &str,
) -> Result<()> {
    let mut attrs = HashMap::from([("RawMessageDelivery".to_owned(), "true".to_owned())]);
    if let Some(policy) = filter {
        attrs.insert("FilterPolicy".into(), policy.to_owned());
        attrs.insert("FilterPolicyScope".into(), "MessageAttributes".into());
    }
    broker
        .sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .set_attributes(Some(attrs))
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| error::map("Subscribe", what, e))?;
    Ok(())
}

/// Brings an existing subscription's attributes to what the topology says.
async fn repair(
    broker: &AwsBroker,
    subscription_arn: &str,
    filter: Option<String>,
    what: &str,
) -> Result<Drift> {
    let actual = broker
        .sns
        .get_subscription_attributes()
        .subscription_arn(subscription_arn)
        .send()
        .await
        .map_err(|e| error::map("GetSubscriptionAttributes", what, e))?
        .attributes
        .unwrap_or_default();
    let mut desired = vec![("RawMessageDelivery", "true".to_owned())];
    match filter {
        Some(policy) => {
            desired.push(("FilterPolicyScope", "MessageAttributes".to_owned()));
            desired.push(("FilterPolicy", policy));
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
    let mut drift = Drift::default();
    for (key, value) in desired {
        if actual
            .get(key)
            .is_some_and(|a| attribute_matches(a, &value))
        {
            continue;
        }
        broker
            .sns
            .set_subscription_attributes()
            .subscription_arn(subscription_arn)
            .attribute_name(key)
            .attribute_value(&value)
            .send()
            .await
            .map_err(|e| error::map("SetSubscriptionAttributes", what, e))?;
        drift.note(key);
    }
    Ok(drift)
}
