//! AWS SDK errors mapped to courier's [`Error`] by meaning, keeping the SDK error as source.

use std::error::Error as StdError;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use courier_core::Error;

const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
];
const UNAUTHORIZED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidSecurity",
    "KMSAccessDenied",
];
const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "KMSThrottling",
    "OverLimit",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "AWS.SimpleQueueService.QueueDeletedRecently",
];

/// Maps an SDK error of `operation` on `what` (e.g. `queue 'audit'`).
pub(crate) fn map<E>(operation: &str, what: &str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let detail = err.message().unwrap_or_default().to_owned();
    let message = if code.is_empty() {
        format!("{operation} on {what}")
    } else {
        format!("{operation} on {what}: {code} {detail}")
            .trim_end()
            .to_owned()
    };
    let server_error = err
        .raw_response()
        .is_some_and(|r| r.status().is_server_error());
    let kind_transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let source: Box<dyn StdError + Send + Sync> = Box::new(err);
    if NOT_FOUND.contains(&code.as_str()) {
        Error::NotFound {
            what: what.to_owned(),
            source: Some(source),
        }
    } else if UNAUTHORIZED.contains(&code.as_str()) {
        Error::Unauthorized {
            message,
            source: Some(source),
        }
    } else if TRANSIENT.contains(&code.as_str()) || kind_transient || server_error {
        Error::Transient {
            message,
            retry_after: None,
            source: Some(source),
        }
    } else if code.starts_with("InvalidParameter")
        || code == "ValidationError"
        || code.starts_with("AWS.SimpleQueueService.")
    {
        Error::InvalidInput {
            message,
            source: Some(source),
        }
    } else {
        Error::Backend {
            message,
            source: Some(source),
        }
    }
}
