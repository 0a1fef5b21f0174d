//! SQS event JSON, in the shape the SQS event source mapping hands to a function
//! ("Using Lambda with Amazon SQS", <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>).

use std::time::UNIX_EPOCH;

use courier_core::{Delivery, Result, Source};
use serde_json::{json, Map, Value};

/// The AWS name of the queue behind `source` (FIFO: `.fifo`).
pub(crate) fn queue_name(source: &Source, fifo: bool) -> String {
    courier_aws::names::queue_name(&courier_aws::names::queue_base(source), fifo)
}

/// Whether a delivery came from a FIFO queue (it carries a group and a dedup id).
pub(crate) fn is_fifo(d: &Delivery) -> bool {
    d.message().group_id.is_some() && d.message().dedup_id.is_some()
}

/// One `Records[]` entry for a delivery; `receipt` is the id the runner knows it by.
pub(crate) fn record(d: &Delivery, receipt: &str, queue_arn: &str, region: &str) -> Result<Value> {
    let fifo = is_fifo(d);
    let wire = courier_aws::wire::encode(d.message(), !fifo)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let sent_ms = d
        .info()
        .enqueued_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(now_ms, |t| t.as_millis());
    let mut attributes = Map::new();
    attributes.insert(
        "ApproximateReceiveCount".into(),
        json!(d.delivery_count().to_string()),
    );
    attributes.insert("SentTimestamp".into(), json!(sent_ms.to_string()));
    attributes.insert("SenderId".into(), json!("AIDACOURIERRUNNER"));
    attributes.insert(
        "ApproximateFirstReceiveTimestamp".into(),
        json!(now_ms.to_string()),
    );
    if fifo {
        attributes.insert("MessageGroupId".into(), json!(d.message().group_id));
        attributes.insert("MessageDeduplicationId".into(), json!(d.message().dedup_id));
        attributes.insert("SequenceNumber".into(), json!(sent_ms.to_string()));
    }
    let message_attributes: Map<String, Value> = wire
        .attributes
        .iter()
        .map(|a| {
            let v = json!({"stringValue": a.value, "stringListValues": [], "binaryListValues": [], "dataType": a.data_type});
            (a.name.clone(), v)
        })
        .collect();
    Ok(json!({
        "messageId": d.info().broker_message_id,
        "receiptHandle": receipt,
        "body": wire.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }))
}
