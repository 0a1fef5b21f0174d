//! Subscription rules: a filter (SQL, true, false or correlation) and an action. A message
//! reaches a subscription when one of its rules matches ("Topic filters and actions").

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::message::Message;
use crate::properties::Value;
use crate::sql::{MessageView, SqlFilter};

/// What a SQL-based filter was created as (they evaluate alike; the type is echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlKind {
    Sql,
    True,
    False,
}

/// A `CorrelationFilter`: every set field must equal the message's, and every listed
/// custom property must be present with an equal value.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Correlation {
    pub(crate) correlation_id: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) reply_to: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) reply_to_session_id: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) properties: Vec<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleFilter {
    Sql {
        kind: SqlKind,
        expression: String,
        parameters: Vec<(String, Value)>,
        compiled: SqlFilter,
    },
    Correlation(Correlation),
}

impl RuleFilter {
    /// A SQL filter of this kind; the error is the parse error (a 400).
    pub(crate) fn sql(
        kind: SqlKind,
        expression: &str,
        parameters: Vec<(String, Value)>,
    ) -> Result<Self, String> {
        let map: BTreeMap<String, Value> = parameters.iter().cloned().collect();
        let compiled = SqlFilter::parse_with(expression, &map)?;
        Ok(RuleFilter::Sql {
            kind,
            expression: expression.to_owned(),
            parameters,
            compiled,
        })
    }

    /// The `$Default` rule's filter of a new subscription: `TrueFilter`, `1=1`.
    pub(crate) fn match_all() -> Self {
        Self::sql(SqlKind::True, "1=1", Vec::new()).expect("1=1 parses")
    }

    /// Whether the message passes; `Err` is a filter evaluation exception.
    pub(crate) fn evaluate(&self, message: &dyn MessageView) -> Result<bool, String> {
        match self {
            RuleFilter::Sql { compiled, .. } => Ok(compiled.evaluate(message)? == Some(true)),
            RuleFilter::Correlation(c) => Ok(c.matches(message)),
        }
    }
}

impl Correlation {
    fn matches(&self, m: &dyn MessageView) -> bool {
        let system = [
            ("CorrelationId", &self.correlation_id),
            ("MessageId", &self.message_id),
            ("To", &self.to),
            ("ReplyTo", &self.reply_to),
            ("Label", &self.label),
            ("SessionId", &self.session_id),
            ("ReplyToSessionId", &self.reply_to_session_id),
            ("ContentType", &self.content_type),
        ];
        let system_ok = system.iter().all(|(name, wanted)| match wanted {
            None => true,
            Some(w) => matches!(m.system(name), Ok(Some(Value::Str(v))) if &v == w),
        });
        system_ok
            && self
                .properties
                .iter()
                .all(|(name, wanted)| m.user(name).is_some_and(|v| crate::sql::equal(&v, wanted)))
    }
}

/// A rule of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) filter: RuleFilter,
    pub(crate) created_at: OffsetDateTime,
}

/// A message on its way through a topic, as its subscriptions' filters see it.
pub(crate) struct Routed<'a> {
    pub(crate) message: &'a Message,
    pub(crate) sequence_number: i64,
    pub(crate) enqueued_at: OffsetDateTime,
}

impl MessageView for Routed<'_> {
    fn user(&self, name: &str) -> Option<Value> {
        self.message.properties.get(name).cloned()
    }

    fn system(&self, name: &str) -> Result<Option<Value>, ()> {
        match name.to_ascii_lowercase().as_str() {
            "sequencenumber" | "enqueuedsequencenumber" => {
                Ok(Some(Value::Long(self.sequence_number)))
            }
            "enqueuedtimeutc" => Ok(Some(Value::DateTime(self.enqueued_at))),
            "deliverycount" => Ok(Some(Value::Long(0))),
            "expiresatutc" => Ok(self
                .message
                .system
                .time_to_live
                .and_then(|t| t.after(self.enqueued_at))
                .map(Value::DateTime)),
            _ => self.message.system_value(name),
        }
    }
}
