//! DynamoDB errors mapped to courier's [`Error`] by their API error code, keeping the SDK
//! error as the source.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use courier_core::Error;

/// Codes a retry can cure (DynamoDB's documented throttling and server errors).
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];
const UNAUTHORIZED: &[&str] = &[
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
];

/// Classifies `e` from `what` on table `table`.
pub(crate) fn map<E>(what: &str, table: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!("{what} on DynamoDB table '{table}'");
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Error::Transient {
                message,
                retry_after: None,
                source: Some(Box::new(e)),
            }
        }
        SdkError::ServiceError(s) => match s.err().code() {
            Some("ResourceNotFoundException") => Error::NotFound {
                what: format!("DynamoDB table '{table}' ({what})"),
                source: Some(Box::new(e)),
            },
            Some(code) if TRANSIENT.contains(&code) => Error::Transient {
                message,
                retry_after: None,
                source: Some(Box::new(e)),
            },
            Some(code) if UNAUTHORIZED.contains(&code) => Error::Unauthorized {
                message,
                source: Some(Box::new(e)),
            },
            _ => Error::Backend {
                message,
                source: Some(Box::new(e)),
            },
        },
        _ => Error::Backend {
            message,
            source: Some(Box::new(e)),
        },
    }
}
