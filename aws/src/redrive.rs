//! Dead-lettering a message that was delivered by someone else (a Lambda event source
//! mapping): the target is the dead-letter queue the source queue's own `RedrivePolicy`
//! names, found in the accounts the ARNs name, and the copy is the message exactly as SQS
//! delivered it — body and every attribute, `Binary` ones included — plus the reason.
//!
//! The policy is read with `GetQueueAttributes` (`RedrivePolicy`:
//! `{"deadLetterTargetArn": ARN, "maxReceiveCount": N}`, see "Using dead-letter queues in
//! Amazon SQS"), the queues are found with `GetQueueUrl` and `QueueOwnerAWSAccountId` (a
//! queue of another account, cross-account event source mapping), and the result is
//! cached per source queue. SQS requires the dead-letter queue of a FIFO queue to be FIFO
//! (and of a standard queue to be standard): a policy that says otherwise is refused, so
//! that a FIFO record never lands in a standard queue.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    QueueAttributeName,
};
use base64::Engine as _;
use courier_core::event::attr;
use courier_core::{Error, Result};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::{error, names, wire};

/// Longest reason kept with a dead-lettered message.
const MAX_REASON: usize = 1024;

/// An SQS ARN: `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueArn<'a> {
    /// The region.
    pub region: &'a str,
    /// The owning account.
    pub account: &'a str,
    /// The queue's name.
    pub name: &'a str,
}

impl<'a> QueueArn<'a> {
    /// Parses an SQS queue ARN; anything else is `InvalidInput`, naming it.
    pub fn parse(arn: &'a str) -> Result<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _partition, "sqs", region, account, name]
                if !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && !name.is_empty() =>
            {
                Ok(QueueArn {
                    region,
                    account,
                    name,
                })
            }
            _ => Err(Error::invalid_input(format!(
                "'{arn}' is not an SQS queue ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME)"
            ))),
        }
    }

    /// Whether the queue is FIFO (SQS requires FIFO queue names to end in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        names::is_fifo(self.name)
    }
}

/// One message attribute as SQS delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveredAttribute<'a> {
    /// Its name.
    pub name: &'a str,
    /// `String`, `Number` or `Binary`, optionally with a custom suffix (`Binary.gzip`).
    pub data_type: &'a str,
    /// The value of a `String` or `Number` attribute.
    pub string_value: Option<&'a str>,
    /// The base64 value of a `Binary` attribute, as the event carries it.
    pub binary_value_base64: Option<&'a str>,
}

/// A message as SQS delivered it, to be copied to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredMessage<'a> {
    /// `arn:aws:sqs:REGION:ACCOUNT:QUEUE` of the queue it came from.
    pub source_arn: &'a str,
    /// SQS's message id; the deduplication id of a FIFO copy, so that sending the same
    /// record twice within SQS's 5-minute window stores one copy.
    pub message_id: &'a str,
    /// The body text.
    pub body: &'a str,
    /// Every message attribute.
    pub attributes: Vec<DeliveredAttribute<'a>>,
    /// FIFO: its message group.
    pub group_id: Option<&'a str>,
    /// The X-Ray trace header it was sent with.
    pub trace_header: Option<&'a str>,
}

/// Where a source queue's dead letters go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) arn: String,
    pub(crate) fifo: bool,
}

/// The dead-letter queue of each source queue met so far, by source ARN.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    by_source: Mutex<HashMap<String, Arc<Target>>>,
}

#[derive(Deserialize)]
struct RedrivePolicy {
    #[serde(rename = "deadLetterTargetArn")]
    dead_letter_target_arn: String,
}

impl Targets {
    /// The dead-letter queue of the queue `source_arn`, from its `RedrivePolicy` (cached).
    pub(crate) async fn of(
        &self,
        sqs: &aws_sdk_sqs::Client,
        source_arn: &str,
    ) -> Result<Arc<Target>> {
        if let Some(t) = self.by_source.lock().get(source_arn) {
            return Ok(t.clone());
        }
        let target = Arc::new(look_up(sqs, source_arn).await?);
        self.by_source
            .lock()
            .insert(source_arn.to_owned(), target.clone());
        Ok(target)
    }

    /// Forgets the target of `source_arn` (it vanished, or its policy may have changed).
    pub(crate) fn forget(&self, source_arn: &str) {
        self.by_source.lock().remove(source_arn);
    }
}

async fn look_up(sqs: &aws_sdk_sqs::Client, source_arn: &str) -> Result<Target> {
    let source = QueueArn::parse(source_arn)?;
    let what = format!("queue '{source_arn}'");
    let source_url = queue_url(sqs, &source, &what).await?;
    let out = sqs
        .get_queue_attributes()
        .queue_url(&source_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| error::map("GetQueueAttributes", &what, e))?;
    let policy = out
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy))
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "{what} has no RedrivePolicy: there is no dead-letter queue to send to"
            ))
        })?;
    let policy: RedrivePolicy =
        serde_json::from_str(&policy).map_err(|e| Error::InvalidConfig {
            message: format!(
                "the RedrivePolicy of {what} is not valid JSON with deadLetterTargetArn"
            ),
            source: Some(Box::new(e)),
        })?;
    let dlq = QueueArn::parse(&policy.dead_letter_target_arn)?;
    same_kind(&source, &dlq, source_arn, &policy.dead_letter_target_arn)?;
    let url = queue_url(
        sqs,
        &dlq,
        &format!("dead-letter queue '{}'", policy.dead_letter_target_arn),
    )
    .await?;
    Ok(Target {
        url,
        fifo: dlq.is_fifo(),
        arn: policy.dead_letter_target_arn,
    })
}

/// SQS's rule, checked again: a FIFO queue's dead-letter queue is FIFO, a standard
/// queue's is standard (a FIFO record must never land in a standard queue).
fn same_kind(
    source: &QueueArn<'_>,
    dlq: &QueueArn<'_>,
    source_arn: &str,
    dlq_arn: &str,
) -> Result<()> {
    if source.is_fifo() == dlq.is_fifo() {
        return Ok(());
    }
    let kind = |fifo| if fifo { "FIFO" } else { "standard" };
    Err(Error::invalid_config(format!(
        "the RedrivePolicy of the {} queue '{source_arn}' names the {} queue '{dlq_arn}': refusing to move its messages there",
        kind(source.is_fifo()),
        kind(dlq.is_fifo()),
    )))
}

/// The URL of the queue `arn` names, in the account it names.
async fn queue_url(sqs: &aws_sdk_sqs::Client, arn: &QueueArn<'_>, what: &str) -> Result<String> {
    if let Some(region) = sqs.config().region() {
        if region.as_ref() != arn.region {
            return Err(Error::invalid_config(format!(
                "{what} is in region {}, the SQS client in {region}: Lambda maps queues of its own region only",
                arn.region
            )));
        }
    }
    sqs.get_queue_url()
        .queue_name(arn.name)
        .queue_owner_aws_account_id(arn.account)
        .send()
        .await
        .map_err(|e| error::map("GetQueueUrl", what, e))?
        .queue_url
        .ok_or_else(|| Error::not_found(what))
}

/// Sends `message` to `target` with the reason, every attribute kept.
pub(crate) async fn send(
    sqs: &aws_sdk_sqs::Client,
    target: &Target,
    message: &DeliveredMessage<'_>,
    reason: &str,
) -> Result<()> {
    let source = QueueArn::parse(message.source_arn)?;
    let mut attributes = HashMap::with_capacity(message.attributes.len() + 1);
    for a in &message.attributes {
        attributes.insert(a.name.to_owned(), attribute_value(a)?);
    }
    let reason: String = reason.chars().take(MAX_REASON).collect();
    if let Some(pack) = with_reason(&attributes, &reason, source.name) {
        attributes.insert(wire::PACK_ATTRIBUTE.to_owned(), pack);
    } else {
        tracing::warn!(%reason, "no room for the dead-letter reason among the message's attributes; sending it without");
    }
    let mut send = sqs
        .send_message()
        .queue_url(&target.url)
        .message_body(message.body)
        .set_message_attributes(Some(attributes).filter(|a| !a.is_empty()));
    if target.fifo {
        send = send
            .message_group_id(message.group_id.unwrap_or("dead-letter"))
            .message_deduplication_id(message.message_id);
    }
    if let Some(trace) = message.trace_header {
        send = send.message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace)
                .build()
                .map_err(|e| Error::InvalidInput {
                    message: "invalid AWSTraceHeader".into(),
                    source: Some(Box::new(e)),
                })?,
        );
    }
    send.send().await.map_err(|e| {
        error::map(
            "SendMessage",
            &format!("dead-letter queue '{}'", target.arn),
            e,
        )
    })?;
    Ok(())
}

fn attribute_value(a: &DeliveredAttribute<'_>) -> Result<MessageAttributeValue> {
    let mut v = MessageAttributeValue::builder().data_type(a.data_type);
    if let Some(s) = a.string_value {
        v = v.string_value(s);
    }
    if let Some(b) = a.binary_value_base64 {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| Error::InvalidInput {
                message: format!("the binaryValue of attribute '{}' is not base64", a.name),
                source: Some(Box::new(e)),
            })?;
        v = v.binary_value(Blob::new(bytes));
    }
    v.build().map_err(|e| Error::InvalidInput {
        message: format!("attribute '{}' cannot be sent", a.name),
        source: Some(Box::new(e)),
    })
}

/// The `courier` attribute with the reason and the source queue added (see [`wire`]), or
/// `None` when there is no room: 10 attributes and none of them courier's, or a foreign
/// attribute of that name.
pub(crate) fn with_reason(
    attributes: &HashMap<String, MessageAttributeValue>,
    reason: &str,
    source_queue: &str,
) -> Option<MessageAttributeValue> {
    let mut pack = match attributes.get(wire::PACK_ATTRIBUTE) {
        Some(existing) => {
            let text = existing.string_value()?;
            match serde_json::from_str::<serde_json::Value>(text).ok()? {
                serde_json::Value::Object(map) => map,
                _ => return None,
            }
        }
        None if attributes.len() >= wire::MAX_ATTRIBUTES => return None,
        None => serde_json::Map::new(),
    };
    let attrs = pack
        .entry("attrs")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()))
        .as_object_mut()?;
    attrs.insert(attr::DEAD_LETTER_REASON.into(), reason.into());
    attrs.insert(
        attr::DEAD_LETTERED_AT.into(),
        attr::dead_lettered_now().into(),
    );
    attrs.insert(
        attr::DEAD_LETTER_SOURCE.into(),
        source_queue
            .strip_suffix(".fifo")
            .unwrap_or(source_queue)
            .into(),
    );
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(serde_json::Value::Object(pack).to_string())
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_parsed_and_refused_by_name() {
        let arn = QueueArn::parse("arn:aws:sqs:eu-west-1:111122223333:orders.fifo").unwrap();
        assert_eq!(
            (arn.region, arn.account, arn.name, arn.is_fifo()),
            ("eu-west-1", "111122223333", "orders.fifo", true)
        );
        for bad in [
            "orders",
            "arn:aws:sns:eu-west-1:111122223333:orders",
            "arn:aws:sqs:eu-west-1:1111:orders",
            "arn:aws:sqs::111122223333:orders",
        ] {
            let e = QueueArn::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_fifo_source_is_never_sent_to_a_standard_queue() {
        let fifo = "arn:aws:sqs:us-east-1:111122223333:orders.fifo";
        let standard = "arn:aws:sqs:us-east-1:111122223333:orders-dlq";
        let fifo_dlq = "arn:aws:sqs:us-east-1:111122223333:orders-dlq.fifo";
        let arn = |a| QueueArn::parse(a).unwrap();
        let e = same_kind(&arn(fifo), &arn(standard), fifo, standard).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(e.to_string().contains("FIFO queue 'arn:aws:sqs:us-east-1:111122223333:orders.fifo' names the standard queue"), "{e}");
        same_kind(&arn(fifo), &arn(fifo_dlq), fifo, fifo_dlq).unwrap();
        assert!(same_kind(&arn(standard), &arn(fifo_dlq), standard, fifo_dlq).is_err());
    }

    fn string(v: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    }

    #[test]
    fn the_reason_joins_courier_s_pack_or_a_new_one() {
        let mut attrs = HashMap::new();
        attrs.insert(
            "courier".to_owned(),
            string(r#"{"attrs":{"ce_id":"e-1"},"content_type":"application/json"}"#),
        );
        let pack = with_reason(&attrs, "permanent: no", "orders-inventory").unwrap();
        let pack: serde_json::Value = serde_json::from_str(pack.string_value().unwrap()).unwrap();
        assert_eq!(pack["attrs"]["ce_id"], "e-1");
        assert_eq!(pack["attrs"]["courier_dead_letter_reason"], "permanent: no");
        let at = pack["attrs"]["courier_dead_lettered_at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert_eq!(
            pack["attrs"]["courier_dead_letter_source"],
            "orders-inventory"
        );
        assert_eq!(pack["content_type"], "application/json");

        let foreign: HashMap<_, _> = (0..10).map(|i| (format!("a{i}"), string("v"))).collect();
        assert!(
            with_reason(&foreign, "r", "q").is_none(),
            "no 11th attribute"
        );
        let mut foreign = HashMap::new();
        foreign.insert("courier".to_owned(), string("not json"));
        assert!(
            with_reason(&foreign, "r", "q").is_none(),
            "a foreign 'courier' attribute is left alone"
        );
    }

    #[test]
    fn binary_values_are_sent_as_bytes_and_bad_base64_is_named() {
        let a = DeliveredAttribute {
            name: "thumbnail",
            data_type: "Binary.png",
            string_value: None,
            binary_value_base64: Some("AAEC/w=="),
        };
        let v = attribute_value(&a).unwrap();
        assert_eq!(v.binary_value().unwrap().as_ref(), [0u8, 1, 2, 255]);
        assert_eq!(v.data_type(), "Binary.png");
        let bad = DeliveredAttribute {
            binary_value_base64: Some("%%%"),
            ..a
        };
        let e = attribute_value(&bad).unwrap_err().to_string();
        assert!(e.contains("'thumbnail' is not base64"), "{e}");
    }
}
