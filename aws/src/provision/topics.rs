//! SNS topics: created encrypted, FIFO where asked, and kept so.

use std::collections::HashMap;

use courier_core::topology::TopicSpec;
use courier_core::{Drift, EntityKind, Error, ProvisionAction, ProvisionReport, Result};

use super::attribute_matches;
use crate::{error, names, AwsBroker};

/// The AWS-managed key topics are encrypted with.
const SNS_KMS_KEY: &str = "alias/aws/sns";

/// Ensures the topic exists as `topic` says; returns its ARN.
pub(super) async fn ensure(
    broker: &AwsBroker,
    topic: &TopicSpec,
    report: &mut ProvisionReport,
) -> Result<String> {
    let name = names::topic_name(&topic.name, topic.fifo);
    let what = format!("topic '{}'", topic.name);
    let desired = desired_attributes(topic);
    let Some(arn) = broker.entities.find_topic_arn(&topic.name, &what).await? else {
        let arn = create(broker, topic, &name, &desired, &what).await?;
        report.push(EntityKind::Topic, name, ProvisionAction::Created);
        return Ok(arn);
    };
    let found = names::arn_name(&arn);
    if found != name {
        let why = format!(
            "exists as '{found}', the topology says fifo: {}",
            topic.fifo
        );
        report.push(EntityKind::Topic, name, ProvisionAction::Differs(why));
        return Ok(arn);
    }
    let drift = repair(broker, &arn, desired, &what).await?;
    report.push(EntityKind::Topic, name, drift.action());
    Ok(arn)
}

/// The attributes a topic must have (FIFO-ness aside, which cannot change).
fn desired_attributes(topic: &TopicSpec) -> Vec<(&'static str, String)> {
    let mut desired = vec![("KmsMasterKeyId", SNS_KMS_KEY.to_owned())];
    if topic.fifo {
        desired.push((
            "ContentBasedDeduplication",
            topic.content_based_deduplication.to_string(),
        ));
    }
    desired
}

async fn create(
    broker: &AwsBroker,
    topic: &TopicSpec,
    name: &str,
    desired: &[(&'static str, String)],
    what: &str,
) -> Result<String> {
    let mut attrs: HashMap<String, String> = desired
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    if topic.fifo {
        attrs.insert("FifoTopic".into(), "true".into());
    }
    let out = broker
        .sns
        .create_topic()
        .name(name)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| error::map("CreateTopic", what, e))?;
    out.topic_arn
        .ok_or_else(|| Error::backend(format!("CreateTopic on {what} returned no ARN")))
}

/// Sets each desired attribute the topic does not have; returns what changed.
async fn repair(
    broker: &AwsBroker,
    arn: &str,
    desired: Vec<(&'static str, String)>,
    what: &str,
) -> Result<Drift> {
    let actual = broker.entities.topic_attributes(arn, what).await?;
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
            .set_topic_attributes()
            .topic_arn(arn)
            .attribute_name(key)
            .attribute_value(&value)
            .send()
            .await
            .map_err(|e| error::map("SetTopicAttributes", what, e))?;
        drift.note(key);
    }
    Ok(drift)
}
