//! The HTTP client of the OTLP exporters: hyper with rustls (http and https endpoints),
//! running on the application's Tokio runtime.
//!
//! The SDK's batch span processor and periodic metric reader export from threads of their
//! own, outside any runtime, where hyper cannot connect; each request is therefore spawned
//! on the runtime the exporters were installed from, and its answer awaited.

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use tokio::runtime::Handle;

/// An [`HttpClient`] for the exporters.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeClient {
    runtime: Handle,
    client: HyperClient<HttpsConnector<HttpConnector>>,
}

impl RuntimeClient {
    /// A client whose requests run on `runtime` and give up after `timeout`.
    pub(crate) fn new(runtime: Handle, timeout: Duration) -> Result<Self, std::io::Error> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(RuntimeClient {
            runtime,
            client: HyperClient::new(connector, timeout, None),
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|e| Box::new(e) as HttpError)?
    }
}
