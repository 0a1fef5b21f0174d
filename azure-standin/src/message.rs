//! A message as the broker keeps it: body, content type, the settable broker properties
//! ("Message Headers and Properties": CorrelationId, Label, MessageId, PartitionKey,
//! ReplyTo, ReplyToSessionId, ScheduledEnqueueTimeUtc, SessionId, TimeToLive, To,
//! ViaPartitionKey; others are ignored) and the custom properties.

use axum::body::Bytes;
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use crate::http_date;
use crate::properties::{Properties, Value};
use crate::timespan::TimeSpan;

/// "Maximum size of a message ID: 128"; the same for a session ID (Service Bus quotas).
const MAX_ID_LENGTH: usize = 128;

/// Broker properties a sender may set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SystemProperties {
    pub(crate) message_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) reply_to: Option<String>,
    pub(crate) reply_to_session_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) partition_key: Option<String>,
    pub(crate) via_partition_key: Option<String>,
    pub(crate) time_to_live: Option<TimeSpan>,
    pub(crate) scheduled_enqueue_time: Option<OffsetDateTime>,
}

impl SystemProperties {
    /// From the `BrokerProperties` JSON object; the error says what the service refuses.
    pub(crate) fn from_json(json: &Map<String, Json>) -> Result<Self, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            match json.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "BrokerProperties.{key} must be a string, not {other}"
                )),
            }
        };
        let mut p = SystemProperties {
            message_id: text("MessageId")?,
            correlation_id: text("CorrelationId")?,
            label: text("Label")?,
            to: text("To")?,
            reply_to: text("ReplyTo")?,
            reply_to_session_id: text("ReplyToSessionId")?,
            session_id: text("SessionId")?,
            partition_key: text("PartitionKey")?,
            via_partition_key: text("ViaPartitionKey")?,
            ..SystemProperties::default()
        };
        for (key, value) in [("MessageId", &p.message_id), ("SessionId", &p.session_id)] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_ID_LENGTH)
            {
                return Err(format!(
                    "BrokerProperties.{key} is longer than {MAX_ID_LENGTH} characters"
                ));
            }
        }
        if let (Some(s), Some(k)) = (&p.session_id, &p.partition_key) {
            if s != k {
                return Err("BrokerProperties: SessionId and PartitionKey, when both set, must be the same value".into());
            }
        }
        p.time_to_live = match json.get("TimeToLive") {
            None | Some(Json::Null) => None,
            Some(Json::Number(n)) => Some(n.as_f64().and_then(TimeSpan::from_secs_f64).ok_or_else(|| {
                format!("BrokerProperties.TimeToLive {n} is not a positive number of seconds within a TimeSpan")
            })?),
            Some(other) => return Err(format!("BrokerProperties.TimeToLive must be a number of seconds, not {other}")),
        };
        p.scheduled_enqueue_time = match text("ScheduledEnqueueTimeUtc")? {
            None => None,
            Some(t) => Some(http_date::parse(&t).ok_or_else(|| {
                format!("BrokerProperties.ScheduledEnqueueTimeUtc '{t}' is not an RFC 2616 date such as 'Sun, 06 Nov 1994 08:49:37 GMT'")
            })?),
        };
        Ok(p)
    }

    /// The settable properties as `BrokerProperties` JSON members.
    pub(crate) fn write_json(&self, out: &mut Map<String, Json>) {
        for (key, value) in [
            ("MessageId", &self.message_id),
            ("CorrelationId", &self.correlation_id),
            ("Label", &self.label),
            ("To", &self.to),
            ("ReplyTo", &self.reply_to),
            ("ReplyToSessionId", &self.reply_to_session_id),
            ("SessionId", &self.session_id),
            ("PartitionKey", &self.partition_key),
            ("ViaPartitionKey", &self.via_partition_key),
        ] {
            if let Some(v) = value {
                out.insert(key.into(), Json::String(v.clone()));
            }
        }
        if let Some(at) = self.scheduled_enqueue_time {
            out.insert(
                "ScheduledEnqueueTimeUtc".into(),
                Json::String(http_date::format(at)),
            );
        }
    }
}

/// A message as sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<String>,
    pub(crate) system: SystemProperties,
    pub(crate) properties: Properties,
}

impl Message {
    /// Bytes as the size quota counts them: body, properties (system and user).
    pub(crate) fn size(&self) -> usize {
        let mut broker = Map::new();
        self.system.write_json(&mut broker);
        self.body.len()
            + self.content_type.as_ref().map_or(0, String::len)
            + Json::Object(broker).to_string().len()
            + self.properties.size()
    }

    /// A system property by the name a SQL filter uses (`sys.<name>`), before the broker
    /// stamps its own ones; `Err` when the name is none of them.
    pub(crate) fn system_value(&self, name: &str) -> Result<Option<Value>, ()> {
        let s = &self.system;
        let text = |v: &Option<String>| v.clone().map(Value::Str);
        Ok(match name.to_ascii_lowercase().as_str() {
            "messageid" => text(&s.message_id),
            "correlationid" => text(&s.correlation_id),
            "label" => text(&s.label),
            "to" => text(&s.to),
            "replyto" => text(&s.reply_to),
            "replytosessionid" => text(&s.reply_to_session_id),
            "sessionid" => text(&s.session_id),
            "partitionkey" => text(&s.partition_key),
            "viapartitionkey" => text(&s.via_partition_key),
            "contenttype" => text(&self.content_type),
            "timetolive" => s.time_to_live.map(Value::TimeSpan),
            "scheduledenqueuetimeutc" => s.scheduled_enqueue_time.map(Value::DateTime),
            "size" => Some(Value::Long(self.size() as i64)),
            _ => return Err(()),
        })
    }
}
