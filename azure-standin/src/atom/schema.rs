//! The elements of queue, topic and subscription descriptions: names, types, whether a
//! client may set them, and their order.
//!
//! Order matters to the service ("The tags sequence is important to service":
//! azure-servicebus `management/_model_workaround.py`; the JavaScript SDK notes that a
//! misordered `ForwardTo` was silently not applied). Microsoft's SDKs disagree on where a
//! few elements go (.NET's `QueuePropertiesExtensions.Serialize` writes `ForwardTo` and
//! `UserMetadata` right after `Status`, Python after `EnableExpress`), and both work
//! against the service, so such an element has two admissible ranks; every element must
//! come after the previous one in rank. Answers use the order of the service's own answers
//! (the azure-sdk-for-js test fixtures recorded from a namespace), which is Python's.

use crate::store::Kind;

/// The type of an element's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Duration,
    Int,
    Bool,
    Text,
    /// `AuthorizationRules`: a list (only an empty one is modelled).
    Rules,
    /// `DefaultRuleDescription` of a subscription.
    RuleDescription,
    /// Computed by the service; ignored when a client sends it.
    ReadOnly,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Element {
    pub(crate) name: &'static str,
    pub(crate) ty: Type,
    /// Admissible ranks (the first is where answers put it).
    pub(crate) ranks: &'static [u8],
}

const fn e(name: &'static str, ty: Type, ranks: &'static [u8]) -> Element {
    Element { name, ty, ranks }
}

use Type::*;

/// QueueDescription (azure-servicebus `QueueDescription`, azure-sdk-for-net
/// `QueuePropertiesExtensions`).
const QUEUE: &[Element] = &[
    e("LockDuration", Duration, &[0]),
    e("MaxSizeInMegabytes", Int, &[1]),
    e("RequiresDuplicateDetection", Bool, &[2]),
    e("RequiresSession", Bool, &[3]),
    e("DefaultMessageTimeToLive", Duration, &[4]),
    e("DeadLetteringOnMessageExpiration", Bool, &[5]),
    e("DuplicateDetectionHistoryTimeWindow", Duration, &[6]),
    e("MaxDeliveryCount", Int, &[7]),
    e("EnableBatchedOperations", Bool, &[8]),
    e("SizeInBytes", ReadOnly, &[9]),
    e("MessageCount", ReadOnly, &[10]),
    e("IsAnonymousAccessible", Bool, &[11]),
    e("AuthorizationRules", Rules, &[12]),
    e("Status", Text, &[13]),
    e("CreatedAt", ReadOnly, &[16]),
    e("UpdatedAt", ReadOnly, &[17]),
    e("AccessedAt", ReadOnly, &[18]),
    e("SupportOrdering", Bool, &[19]),
    e("CountDetails", ReadOnly, &[20]),
    e("AutoDeleteOnIdle", Duration, &[21]),
    e("EnablePartitioning", Bool, &[22]),
    e("EntityAvailabilityStatus", ReadOnly, &[24]),
    e("EnableExpress", Bool, &[25]),
    e("ForwardTo", Text, &[26, 14]),
    e("UserMetadata", Text, &[27, 15]),
    e("ForwardDeadLetteredMessagesTo", Text, &[28, 23]),
    e("MaxMessageSizeInKilobytes", Int, &[29]),
];

/// TopicDescription (azure-servicebus `TopicDescription`, azure-sdk-for-net
/// `TopicPropertiesExtensions`).
const TOPIC: &[Element] = &[
    e("DefaultMessageTimeToLive", Duration, &[0]),
    e("MaxSizeInMegabytes", Int, &[1]),
    e("RequiresDuplicateDetection", Bool, &[2]),
    e("DuplicateDetectionHistoryTimeWindow", Duration, &[3]),
    e("EnableBatchedOperations", Bool, &[4]),
    e("SizeInBytes", ReadOnly, &[5]),
    e("FilteringMessagesBeforePublishing", Bool, &[6]),
    e("IsAnonymousAccessible", Bool, &[7]),
    e("AuthorizationRules", Rules, &[8]),
    e("Status", Text, &[9]),
    e("ForwardTo", Text, &[10]),
    e("CreatedAt", ReadOnly, &[12]),
    e("UpdatedAt", ReadOnly, &[13]),
    e("AccessedAt", ReadOnly, &[14]),
    e("SupportOrdering", Bool, &[15]),
    e("CountDetails", ReadOnly, &[16]),
    e("SubscriptionCount", ReadOnly, &[17]),
    e("SqlFilterCount", ReadOnly, &[18]),
    e("CorrelationFilterCount", ReadOnly, &[19]),
    e("AutoDeleteOnIdle", Duration, &[20]),
    e("EnablePartitioning", Bool, &[21]),
    e("EntityAvailabilityStatus", ReadOnly, &[22]),
    e("EnableSubscriptionPartitioning", Bool, &[23]),
    e("EnableExpress", Bool, &[24]),
    e("UserMetadata", Text, &[25, 11]),
    e("MaxMessageSizeInKilobytes", Int, &[26]),
];

/// SubscriptionDescription (azure-servicebus `SubscriptionDescription`,
/// azure-sdk-for-net `SubscriptionPropertiesExtensions`).
const SUBSCRIPTION: &[Element] = &[
    e("LockDuration", Duration, &[0]),
    e("RequiresSession", Bool, &[1]),
    e("DefaultMessageTimeToLive", Duration, &[2]),
    e("DeadLetteringOnMessageExpiration", Bool, &[3]),
    e("DeadLetteringOnFilterEvaluationExceptions", Bool, &[4]),
    e("MessageCount", ReadOnly, &[6]),
    e("MaxDeliveryCount", Int, &[7]),
    e("EnableBatchedOperations", Bool, &[8]),
    e("Status", Text, &[9]),
    e("ForwardTo", Text, &[10]),
    e("CreatedAt", ReadOnly, &[13]),
    e("UpdatedAt", ReadOnly, &[14]),
    e("AccessedAt", ReadOnly, &[15]),
    e("CountDetails", ReadOnly, &[16]),
    e("ForwardDeadLetteredMessagesTo", Text, &[17, 12]),
    e("AutoDeleteOnIdle", Duration, &[18]),
    e("EntityAvailabilityStatus", ReadOnly, &[19]),
    e("UserMetadata", Text, &[20, 11]),
    e("DefaultRuleDescription", RuleDescription, &[21, 5]),
];

/// The schema of a description.
pub(crate) fn elements(kind: Kind) -> &'static [Element] {
    match kind {
        Kind::Queue => QUEUE,
        Kind::Topic => TOPIC,
        Kind::Subscription => SUBSCRIPTION,
    }
}

/// The description element's name.
pub(crate) fn description_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Queue => "QueueDescription",
        Kind::Topic => "TopicDescription",
        Kind::Subscription => "SubscriptionDescription",
    }
}

/// Tracks the order of a description's children: each must take an admissible rank above
/// the previous one (the smallest such rank, which leaves the most room after it).
#[derive(Debug, Default)]
pub(crate) struct Order {
    last: Option<u8>,
    seen: Vec<&'static str>,
}

impl Order {
    pub(crate) fn admit(
        &mut self,
        element: &Element,
        previous: Option<&str>,
    ) -> Result<(), String> {
        if self.seen.contains(&element.name) {
            return Err(format!("{} appears twice", element.name));
        }
        let rank = element
            .ranks
            .iter()
            .copied()
            .filter(|r| self.last.is_none_or(|last| *r > last))
            .min()
            .ok_or_else(|| {
                format!(
                    "{} is out of order: it must come before {}",
                    element.name,
                    previous.unwrap_or("the elements before it")
                )
            })?;
        self.last = Some(rank);
        self.seen.push(element.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: Kind, names: &[&str]) -> Result<(), String> {
        let mut order = Order::default();
        let mut previous = None;
        for name in names {
            let element = elements(kind)
                .iter()
                .find(|e| e.name == *name)
                .ok_or(format!("unknown {name}"))?;
            order.admit(element, previous)?;
            previous = Some(name);
        }
        Ok(())
    }

    #[test]
    fn both_microsoft_sdks_orders_are_admitted() {
        // azure-sdk-for-net QueuePropertiesExtensions.Serialize.
        check(
            Kind::Queue,
            &[
                "LockDuration",
                "MaxSizeInMegabytes",
                "RequiresDuplicateDetection",
                "RequiresSession",
                "DefaultMessageTimeToLive",
                "DeadLetteringOnMessageExpiration",
                "DuplicateDetectionHistoryTimeWindow",
                "MaxDeliveryCount",
                "EnableBatchedOperations",
                "IsAnonymousAccessible",
                "AuthorizationRules",
                "Status",
                "ForwardTo",
                "UserMetadata",
                "SupportOrdering",
                "AutoDeleteOnIdle",
                "EnablePartitioning",
                "ForwardDeadLetteredMessagesTo",
                "EnableExpress",
                "MaxMessageSizeInKilobytes",
            ],
        )
        .unwrap();
        // azure-servicebus MODEL_CLASS_ATTRIBUTES (settable ones).
        check(
            Kind::Queue,
            &[
                "LockDuration",
                "MaxSizeInMegabytes",
                "RequiresDuplicateDetection",
                "RequiresSession",
                "DefaultMessageTimeToLive",
                "DeadLetteringOnMessageExpiration",
                "DuplicateDetectionHistoryTimeWindow",
                "MaxDeliveryCount",
                "EnableBatchedOperations",
                "IsAnonymousAccessible",
                "AuthorizationRules",
                "Status",
                "SupportOrdering",
                "AutoDeleteOnIdle",
                "EnablePartitioning",
                "EnableExpress",
                "ForwardTo",
                "UserMetadata",
                "ForwardDeadLetteredMessagesTo",
                "MaxMessageSizeInKilobytes",
            ],
        )
        .unwrap();
        // azure-sdk-for-net SubscriptionPropertiesExtensions.Serialize.
        check(
            Kind::Subscription,
            &[
                "LockDuration",
                "RequiresSession",
                "DefaultMessageTimeToLive",
                "DeadLetteringOnMessageExpiration",
                "DeadLetteringOnFilterEvaluationExceptions",
                "DefaultRuleDescription",
                "MaxDeliveryCount",
                "EnableBatchedOperations",
                "Status",
                "ForwardTo",
                "UserMetadata",
                "ForwardDeadLetteredMessagesTo",
                "AutoDeleteOnIdle",
            ],
        )
        .unwrap();
        check(
            Kind::Subscription,
            &[
                "LockDuration",
                "MaxDeliveryCount",
                "ForwardDeadLetteredMessagesTo",
                "AutoDeleteOnIdle",
                "UserMetadata",
                "DefaultRuleDescription",
            ],
        )
        .unwrap();
    }

    #[test]
    fn out_of_order_and_duplicates_are_refused() {
        let e = check(Kind::Queue, &["MaxDeliveryCount", "LockDuration"]).unwrap_err();
        assert!(e.contains("LockDuration is out of order"), "{e}");
        let e = check(Kind::Queue, &["LockDuration", "LockDuration"]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(check(
            Kind::Queue,
            &["EnableExpress", "ForwardTo", "SupportOrdering"]
        )
        .is_err());
    }
}
