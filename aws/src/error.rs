//! AWS SDK errors mapped to courier's [`Error`] by meaning, always keeping the SDK error
//! as the source.
//!
//! Service errors are told apart by their error code, the protocol's identifier for the
//! error (not its message text): the codes of the SQS and SNS API references' "Errors"
//! sections and of their common errors
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html>,
//! <https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html>). SQS sends the code of
//! its query API in the `x-amzn-query-error` header, which the SDK reports as the code
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-api-responses.html>):
//! `KMS.ThrottlingException`, not the shape name `KmsThrottled`.
//!
//! What a worker does with the result: only errors that make receiving pointless stop it
//! (the queue is gone: `NotFound`; the caller is refused: `Unauthorized`; the
//! configuration is wrong: `InvalidConfig`). Throttling, timeouts, dropped connections
//! and AWS's own failures are `Transient`. A KMS key that is disabled or missing is a
//! `Backend` error: not worth retrying at once, but no reason to stop.
//!
//! AWS sends no retry hint with throttling errors (no `Retry-After`), so `retry_after` is
//! never claimed: callers back off on their own.

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use courier_core::Error;

/// The queue, topic or subscription does not exist.
const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue", // SQS QueueDoesNotExist
    "QueueDoesNotExist",                       // the same, without the query code
    "NotFound",                                // SNS NotFound
    "ResourceNotFound",                        // SNS ResourceNotFound
];

/// The caller is refused: credentials, signature, permissions, KMS permissions.
const UNAUTHORIZED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError", // SNS
    "ExpiredToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "InvalidSecurity",
    "MissingAuthenticationToken",
    "NotAuthorized",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "KMS.AccessDeniedException", // SQS KmsAccessDenied
    "KMSAccessDenied",           // SNS
];

/// Too many requests, to SQS/SNS or to the KMS key behind an encrypted queue or topic.
const THROTTLED: &[&str] = &[
    "RequestThrottled",        // SQS
    "KMS.ThrottlingException", // SQS KmsThrottled
    "Throttled",               // SNS
    "KMSThrottling",           // SNS
    "ThrottlingException",     // common
    "Throttling",
];

/// Failures that pass on their own.
const UNAVAILABLE: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "OverLimit", // SQS: too many messages in flight; passes as they are deleted
    "AWS.SimpleQueueService.QueueDeletedRecently", // SQS: a same-named queue was deleted < 60 s ago
    "AWS.SimpleQueueService.PurgeQueueInProgress",
    "ConcurrentAccess", // SNS
];

/// The KMS key of an encrypted queue or topic cannot be used until someone fixes it.
const KMS_KEY: &[&str] = &[
    "KMS.DisabledException",        // SQS KmsDisabled
    "KMS.InvalidKeyUsageException", // SQS KmsInvalidKeyUsage
    "KMS.InvalidStateException",    // SQS KmsInvalidState
    "KMS.NotFoundException",        // SQS KmsNotFound
    "KMS.OptInRequired",            // SQS KmsOptInRequired
    "KMSDisabled",                  // SNS
    "KMSInvalidState",
    "KMSNotFound",
    "KMSOptInRequired",
];

/// An account quota is used up.
const QUOTA: &[&str] = &[
    "SubscriptionLimitExceeded", // SNS
    "TopicLimitExceeded",
    "FilterPolicyLimitExceeded",
    "TagLimitExceeded",
];

/// The request itself is wrong.
const INVALID_INPUT: &[&str] = &[
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "ParameterValueInvalid",
    "ValidationError",
    "ValidationException",
    "InvalidAction",
    "InvalidAddress",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidIdFormat",
    "InvalidMessageContents",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.BatchRequestTooLong",
    "AWS.SimpleQueueService.EmptyBatchRequest",
    "AWS.SimpleQueueService.InvalidBatchEntryId",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.UnsupportedOperation",
    "BatchEntryIdsNotDistinct", // SNS
    "BatchRequestTooLong",
    "EmptyBatchRequest",
    "InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest",
];

/// What an error code means to courier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    NotFound,
    Unauthorized,
    Transient,
    KmsKey,
    Quota,
    InvalidInput,
    Other,
}

/// The meaning of an SQS or SNS error code.
pub(crate) fn meaning_of(code: &str) -> Meaning {
    let is = |list: &[&str]| list.contains(&code);
    if is(NOT_FOUND) {
        Meaning::NotFound
    } else if is(UNAUTHORIZED) {
        Meaning::Unauthorized
    } else if is(THROTTLED) || is(UNAVAILABLE) {
        Meaning::Transient
    } else if is(KMS_KEY) {
        Meaning::KmsKey
    } else if is(QUOTA) {
        Meaning::Quota
    } else if is(INVALID_INPUT) {
        Meaning::InvalidInput
    } else {
        Meaning::Other
    }
}

/// Builds the courier error of `meaning`; `what` names the entity, `message` the failure.
fn build(
    meaning: Meaning,
    what: &str,
    message: String,
    source: Box<dyn StdError + Send + Sync>,
) -> Error {
    let source = Some(source);
    match meaning {
        Meaning::NotFound => Error::NotFound {
            what: what.to_owned(),
            source,
        },
        Meaning::Unauthorized => Error::Unauthorized { message, source },
        Meaning::Transient => Error::Transient {
            message,
            retry_after: None,
            source,
        },
        Meaning::Quota => Error::QuotaExceeded { message, source },
        Meaning::InvalidInput => Error::InvalidInput { message, source },
        Meaning::KmsKey | Meaning::Other => Error::Backend { message, source },
    }
}

/// Maps an SDK error of `operation` on `what` (e.g. `queue 'audit'`).
pub(crate) fn map<E>(operation: &str, what: &str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let meaning = match &err {
        SdkError::ServiceError(service) => match meaning_of(&code) {
            Meaning::Other if service.raw().status().is_server_error() => Meaning::Transient,
            Meaning::Other if service.raw().status().as_u16() == 429 => Meaning::Transient,
            known => known,
        },
        // No answer in time (the operation or attempt timeout), or a connection that
        // failed or dropped: another attempt may succeed.
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Meaning::Transient,
        SdkError::DispatchFailure(dispatch) => match credentials_problem(&err) {
            Some(configuration) => return credentials_failed(operation, what, configuration, err),
            None if dispatch.is_user() => {
                return Error::InvalidConfig {
                    message: format!(
                        "{operation} on {what}: the request cannot be sent as configured"
                    ),
                    source: Some(Box::new(err)),
                }
            }
            None => Meaning::Transient,
        },
        _ => Meaning::Other,
    };
    let message = match (&err, code.as_str()) {
        (SdkError::TimeoutError(_), _) => format!("{operation} on {what}: no answer in time"),
        (_, "") => format!("{operation} on {what}"),
        (_, code) => format!(
            "{operation} on {what}: {code} {}",
            err.message().unwrap_or_default()
        )
        .trim_end()
        .to_owned(),
    };
    build(meaning, what, message, Box::new(err))
}

/// Whether loading credentials failed, found in `err`'s chain of sources as the typed
/// [`CredentialsError`]: `Some(true)` for a configuration problem.
fn credentials_problem(err: &(dyn StdError + 'static)) -> Option<bool> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(is_configuration(c));
        }
        next = e.source();
    }
    None
}

/// Whether a credentials error is a configuration problem (there are none, or they are
/// configured wrongly) rather than a provider that failed this time.
pub(crate) fn is_configuration(c: &CredentialsError) -> bool {
    matches!(
        c,
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_)
    )
}

fn credentials_failed(
    operation: &str,
    what: &str,
    configuration: bool,
    err: impl StdError + Send + Sync + 'static,
) -> Error {
    if configuration {
        Error::InvalidConfig {
            message: format!("{operation} on {what}: no usable AWS credentials"),
            source: Some(Box::new(err)),
        }
    } else {
        Error::Transient {
            message: format!("{operation} on {what}: loading AWS credentials failed"),
            retry_after: None,
            source: Some(Box::new(err)),
        }
    }
}

/// The failure of one entry of a batch call (SendMessageBatch, DeleteMessageBatch,
/// PublishBatch), as the typed result entry reports it.
#[derive(Debug)]
pub(crate) struct EntryFailure {
    /// The error code.
    pub(crate) code: String,
    /// AWS's explanation.
    pub(crate) message: Option<String>,
    /// Whether AWS blames the request.
    pub(crate) sender_fault: bool,
}

impl fmt::Display for EntryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl StdError for EntryFailure {}

impl EntryFailure {
    /// The courier error for this entry of `operation` on `what`: by its code, else by
    /// whom AWS blames (the request: invalid input; AWS: transient).
    pub(crate) fn into_error(self, operation: &str, what: &str) -> Error {
        let meaning = match meaning_of(&self.code) {
            Meaning::Other if self.sender_fault => Meaning::InvalidInput,
            Meaning::Other => Meaning::Transient,
            known => known,
        };
        build(
            meaning,
            what,
            format!("{operation} entry on {what}"),
            Box::new(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_both_services_have_their_meaning() {
        for (code, meaning) in [
            ("KMS.ThrottlingException", Meaning::Transient),
            ("KMSThrottling", Meaning::Transient),
            ("RequestThrottled", Meaning::Transient),
            ("Throttled", Meaning::Transient),
            ("KMS.AccessDeniedException", Meaning::Unauthorized),
            ("KMS.DisabledException", Meaning::KmsKey),
            ("AWS.SimpleQueueService.NonExistentQueue", Meaning::NotFound),
            ("NotFound", Meaning::NotFound),
            ("TopicLimitExceeded", Meaning::Quota),
            ("InvalidParameterValue", Meaning::InvalidInput),
            ("SomethingNew", Meaning::Other),
        ] {
            assert_eq!(meaning_of(code), meaning, "{code}");
        }
    }

    #[test]
    fn batch_entries_keep_their_failure_as_source() {
        let entry = |code: &str, sender_fault| EntryFailure {
            code: code.into(),
            message: Some("why".into()),
            sender_fault,
        };
        let e = entry("InternalError", false).into_error("SendMessageBatch", "queue 'a'");
        assert!(e.is_transient(), "{e:?}");
        assert_eq!(
            courier_core::display_chain(&e),
            "transient failure: SendMessageBatch entry on queue 'a': InternalError: why"
        );
        let e = entry("Unknown", true).into_error("SendMessageBatch", "queue 'a'");
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        let e = entry("Unknown", false).into_error("SendMessageBatch", "queue 'a'");
        assert!(e.is_transient(), "{e:?}");
    }
}
