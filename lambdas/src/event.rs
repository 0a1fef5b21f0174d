//! The SQS and SNS events Lambda hands to a function, read with borrowed strings.
//!
//! Shapes as AWS documents them: "Using Lambda with Amazon SQS" (example standard and
//! FIFO queue events, <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>) and
//! "Invoking Lambda functions with Amazon SNS notifications"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html>). Only the fields courier
//! reads are kept; the rest is skipped without being copied. A string without escapes
//! borrows from the event; an escaped one (a JSON body inside the JSON event) is
//! unescaped once.

use std::borrow::Cow;

use serde::Deserialize;

/// An SQS event: the records of one batch.
#[derive(Debug, Deserialize)]
pub struct SqsEvent<'a> {
    /// The records, oldest first (in order within a FIFO message group).
    #[serde(rename = "Records", borrow)]
    pub records: Vec<SqsRecord<'a>>,
}

/// One SQS message of an event.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord<'a> {
    /// The SQS message id: what `batchItemFailures` names.
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    /// The body text (SQS bodies are text; courier sends binary bodies as base64).
    #[serde(borrow, default)]
    pub body: Cow<'a, str>,
    /// The system attributes courier reads.
    #[serde(borrow, default)]
    pub attributes: SqsSystemAttributes<'a>,
    /// The message attributes, in the order of the event.
    #[serde(borrow, default, deserialize_with = "attributes_in_order")]
    pub message_attributes: Vec<(Cow<'a, str>, SqsAttributeValue<'a>)>,
    /// `arn:aws:sqs:REGION:ACCOUNT:QUEUE`.
    #[serde(rename = "eventSourceARN", borrow, default)]
    pub event_source_arn: Cow<'a, str>,
}

/// The system attributes of an SQS record that courier reads; the others are skipped.
#[derive(Debug, Default, Deserialize)]
pub struct SqsSystemAttributes<'a> {
    /// Deliveries so far, this one included.
    #[serde(rename = "ApproximateReceiveCount", borrow, default)]
    pub approximate_receive_count: Option<Cow<'a, str>>,
    /// FIFO: the message group.
    #[serde(rename = "MessageGroupId", borrow, default)]
    pub message_group_id: Option<Cow<'a, str>>,
    /// FIFO: the deduplication id.
    #[serde(rename = "MessageDeduplicationId", borrow, default)]
    pub message_deduplication_id: Option<Cow<'a, str>>,
    /// The X-Ray trace header the message was sent with.
    #[serde(rename = "AWSTraceHeader", borrow, default)]
    pub aws_trace_header: Option<Cow<'a, str>>,
    /// Milliseconds since the epoch when SQS received the message.
    #[serde(rename = "SentTimestamp", borrow, default)]
    pub sent_timestamp: Option<Cow<'a, str>>,
}

/// One SQS message attribute: `String`, `Number` or `Binary` (optionally with a custom
/// suffix, `Binary.gzip`), with a string value or a base64 binary value.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SqsAttributeValue<'a> {
    /// `String`, `Number`, `Binary`, optionally `.custom`.
    #[serde(borrow, default)]
    pub data_type: Cow<'a, str>,
    /// The value of a `String` or `Number` attribute.
    #[serde(borrow, default)]
    pub string_value: Option<Cow<'a, str>>,
    /// The base64 value of a `Binary` attribute.
    #[serde(borrow, default)]
    pub binary_value: Option<Cow<'a, str>>,
}

impl SqsRecord<'_> {
    /// The queue's name: the last part of `eventSourceARN`.
    pub fn queue_name(&self) -> &str {
        self.event_source_arn.rsplit(':').next().unwrap_or_default()
    }

    /// Whether the record comes from a FIFO queue.
    pub fn is_fifo(&self) -> bool {
        self.attributes.message_group_id.is_some() || self.event_source_arn.ends_with(".fifo")
    }

    /// Deliveries so far, this one included (1 when SQS does not say).
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .approximate_receive_count
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1)
    }

    /// When SQS received the message (`SentTimestamp`), if the record says.
    pub fn sent_at(&self) -> Option<std::time::SystemTime> {
        let ms: u64 = self.attributes.sent_timestamp.as_deref()?.parse().ok()?;
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }
}

/// An SNS event: one record per notification.
#[derive(Debug, Deserialize)]
pub struct SnsEvent<'a> {
    /// The records.
    #[serde(rename = "Records", borrow)]
    pub records: Vec<SnsRecord<'a>>,
}

/// One SNS record.
#[derive(Debug, Deserialize)]
pub struct SnsRecord<'a> {
    /// The notification.
    #[serde(rename = "Sns", borrow)]
    pub sns: SnsNotification<'a>,
}

/// An SNS notification as Lambda receives it.
#[derive(Debug, Deserialize)]
pub struct SnsNotification<'a> {
    /// SNS's message id.
    #[serde(rename = "MessageId", borrow)]
    pub message_id: Cow<'a, str>,
    /// `arn:aws:sns:REGION:ACCOUNT:TOPIC`.
    #[serde(rename = "TopicArn", borrow, default)]
    pub topic_arn: Cow<'a, str>,
    /// The message text.
    #[serde(rename = "Message", borrow, default)]
    pub message: Cow<'a, str>,
    /// The message attributes.
    #[serde(
        rename = "MessageAttributes",
        borrow,
        default,
        deserialize_with = "attributes_in_order"
    )]
    pub message_attributes: Vec<(Cow<'a, str>, SnsAttributeValue<'a>)>,
}

/// One SNS message attribute (`String`, `Number`, `String.Array`; `Binary` values are
/// base64 text).
#[derive(Debug, Deserialize)]
pub struct SnsAttributeValue<'a> {
    /// The attribute's type.
    #[serde(rename = "Type", borrow, default)]
    pub data_type: Cow<'a, str>,
    /// The value, as text.
    #[serde(rename = "Value", borrow, default)]
    pub value: Cow<'a, str>,
}

/// A JSON object read as `(name, value)` pairs in order: no hashing, one allocation.
fn attributes_in_order<'de, V, D>(deserializer: D) -> Result<Vec<(Cow<'de, str>, V)>, D::Error>
where
    V: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    struct Pairs<V>(std::marker::PhantomData<V>);

    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Pairs<V> {
        type Value = Vec<(Cow<'de, str>, V)>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of message attributes")
        }

        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut map: M,
        ) -> Result<Self::Value, M::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
            while let Some((name, value)) = map.next_entry::<Borrowed<'de>, V>()? {
                pairs.push((name.0, value));
            }
            Ok(pairs)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }

    deserializer.deserialize_any(Pairs(std::marker::PhantomData))
}

/// A string borrowed from the input when it has no escapes.
struct Borrowed<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
        Text::deserialize(d).map(|t| Borrowed(t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_borrow_and_escaped_ones_are_unescaped() {
        let raw = r#"{"Records":[{"messageId":"m-1","body":"{\"a\":1}","attributes":{"ApproximateReceiveCount":"3","SenderId":"x"},
            "messageAttributes":{"k":{"stringValue":"v","stringListValues":[],"binaryListValues":[],"dataType":"String"}},
            "eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q.fifo","awsRegion":"us-east-1"}]}"#;
        let event: SqsEvent<'_> = serde_json::from_str(raw).unwrap();
        let r = &event.records[0];
        assert!(matches!(r.message_id, Cow::Borrowed("m-1")));
        assert_eq!(r.body, r#"{"a":1}"#);
        assert_eq!(r.receive_count(), 3);
        assert_eq!(r.queue_name(), "q.fifo");
        assert!(r.is_fifo());
        assert_eq!(r.message_attributes[0].0, "k");
        assert!(matches!(r.message_attributes[0].0, Cow::Borrowed(_)));
        assert_eq!(r.message_attributes[0].1.string_value.as_deref(), Some("v"));
    }

    #[test]
    fn a_record_without_the_required_message_id_is_refused_by_name() {
        let e = serde_json::from_str::<SqsEvent<'_>>(r#"{"Records":[{"body":"x"}]}"#).unwrap_err();
        assert!(e.to_string().contains("messageId"), "{e}");
    }
}
