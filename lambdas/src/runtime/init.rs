//! Starting a function: what must be true before the runtime loop, and reporting why
//! not.
//!
//! "Using the Lambda runtime API for custom runtimes"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>, "Initialization
//! error") requires a runtime that fails while initialising to post the error to
//! `/runtime/init/error` before it exits. `lambda_runtime` does so only for SnapStart
//! hooks, and reads its environment with `expect` (a panic); [`initialise`] checks the
//! environment and reports any error to that path through the same client crate
//! (`lambda_runtime_api_client`).

use std::future::Future;

use lambda_runtime::Diagnostic;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, PooledClient};

use super::BoxError;

/// The path a failed initialisation is reported to.
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Checks the Lambda environment, then awaits `init`; an error from either is reported to
/// `/runtime/init/error` (when the Runtime API is known) before it is returned.
pub async fn initialise<T>(init: impl Future<Output = Result<T, BoxError>>) -> Result<T, BoxError> {
    let api = runtime_api()?;
    let result = match check_environment() {
        Ok(()) => init.await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        let message = courier_core::display_chain(&**e);
        tracing::error!(error = %message, "the function could not start");
        if let Err(report) = report(&api, &message).await {
            tracing::error!(error = %courier_core::display_chain(&*report), "could not report the init error");
        }
    }
    result
}

/// `AWS_LAMBDA_RUNTIME_API` (`host:port`), the Runtime API of this environment.
fn runtime_api() -> Result<http::Uri, BoxError> {
    let host = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| {
        "AWS_LAMBDA_RUNTIME_API is not set: this binary is a Lambda bootstrap (run it under Lambda or `courier lambda run`)"
    })?;
    host.parse::<http::Uri>()
        .ok()
        .filter(|uri| uri.authority().is_some())
        .ok_or_else(|| format!("AWS_LAMBDA_RUNTIME_API is '{host}': expected host:port").into())
}

/// The variables `lambda_runtime` reads with `expect`: refused here with their name.
fn check_environment() -> Result<(), BoxError> {
    for name in ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION"] {
        if std::env::var_os(name).is_none() {
            return Err(format!("{name} is not set (Lambda sets it for every function)").into());
        }
    }
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.parse::<i32>().is_err() {
        return Err(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE is '{memory}': expected the function's memory in MB"
        )
        .into());
    }
    Ok(())
}

/// Posts `message` to `/runtime/init/error` as the documented error document.
async fn report(api: &http::Uri, message: &str) -> Result<(), BoxError> {
    let diagnostic = Diagnostic {
        error_type: "Runtime.InitError".into(),
        error_message: message.to_owned(),
    };
    let request = build_request()
        .method(http::Method::POST)
        .uri(INIT_ERROR_PATH)
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .body(Body::from(serde_json::to_vec(&diagnostic)?))?;
    let client = PooledClient::builder().with_endpoint(api.clone()).build();
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("{INIT_ERROR_PATH} answered {}", response.status()).into());
    }
    Ok(())
}
