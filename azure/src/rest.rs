//! The HTTP client every call goes through: each request is signed with a SAS token for
//! the namespace URL of its path (as Service Bus documents), sent to the namespace or to
//! the configured endpoint, and bounded in time; failures become typed errors.

use std::net::IpAddr;
use std::time::Duration;

use courier_core::config::AzureConfig;
use courier_core::{Error, Result};
use reqwest::{Method, RequestBuilder, Response};
use url::Url;

use crate::connection::{fresh_token, ConnectionString};
use crate::error::{self, Call};

/// How long Service Bus REST calls may take (`[azure] operation_timeout_secs`,
/// `connect_timeout_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest one call may take; a receive's call may take its long poll plus this (the
    /// service holds the request for the poll, so the poll is never shortened to fit).
    pub operation: Duration,
    /// Longest opening a connection may take (never more than `operation`).
    pub connect: Duration,
}

impl Default for Timeouts {
    /// 30 s per call, 10 s to connect.
    fn default() -> Self {
        Timeouts {
            operation: Duration::from_secs(30),
            connect: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// The timeouts `config` sets, defaults for the rest; zero is refused (every call
    /// would fail).
    pub fn from_config(config: &AzureConfig) -> Result<Self> {
        let default = Timeouts::default();
        let secs = |value: Option<u64>, name: &str, default: Duration| match value {
            None => Ok(default),
            Some(0) => Err(Error::invalid_config(format!(
                "[azure] {name} must be above 0 seconds"
            ))),
            Some(n) => Ok(Duration::from_secs(n)),
        };
        Ok(Timeouts {
            operation: secs(
                config.operation_timeout_secs,
                "operation_timeout_secs",
                default.operation,
            )?,
            connect: secs(
                config.connect_timeout_secs,
                "connect_timeout_secs",
                default.connect,
            )?,
        })
    }
}

/// Signs, routes and sends Service Bus REST calls.
#[derive(Debug)]
pub(crate) struct RestClient {
    http: reqwest::Client,
    connection: ConnectionString,
    /// Where requests go: the namespace, or the endpoint override (no trailing slash).
    base: String,
    timeouts: Timeouts,
}

/// Whether `url` may carry SAS tokens: TLS, or plain HTTP that stays on this machine.
fn is_safe(url: &Url) -> bool {
    if url.scheme() == "https" {
        return true;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The base URL of an endpoint override, checked.
fn endpoint_base(endpoint: &str, allow_insecure: bool) -> Result<String> {
    let url = Url::parse(endpoint).map_err(|err| Error::InvalidConfig {
        message: format!("Azure endpoint '{endpoint}' is not a URL"),
        source: Some(Box::new(err)),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid_config(format!(
            "Azure endpoint '{endpoint}' is not an http:// or https:// URL"
        )));
    }
    if !allow_insecure && !is_safe(&url) {
        return Err(Error::invalid_config(format!(
            "Azure endpoint '{endpoint}' is plain http:// to a host that is not this machine: every request carries a SAS token, which would travel in clear. Use https://, a loopback address, or set [azure] allow_insecure_endpoint = true (COURIER_AZURE_ALLOW_INSECURE_ENDPOINT=true) if that network is trusted"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl RestClient {
    /// A client for the namespace of `connection`, or for `endpoint` when given (refused
    /// when it would send tokens in clear, unless `allow_insecure`), bounded by `timeouts`.
    pub(crate) fn new(
        connection: ConnectionString,
        endpoint: Option<&str>,
        allow_insecure: bool,
        timeouts: Timeouts,
    ) -> Result<Self> {
        let base = match endpoint {
            Some(e) => endpoint_base(e, allow_insecure)?,
            None => connection.namespace_url(),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect.min(timeouts.operation))
            .build()
            .map_err(|e| Error::InvalidConfig {
                message: "cannot build the HTTP client for Service Bus".into(),
                source: Some(Box::new(e)),
            })?;
        Ok(RestClient {
            http,
            connection,
            base,
            timeouts,
        })
    }

    /// Longest one call may take (a receive's: beyond its long poll).
    pub(crate) fn operation_timeout(&self) -> Duration {
        self.timeouts.operation
    }

    /// The connection (its key is never shown).
    pub(crate) fn connection(&self) -> &ConnectionString {
        &self.connection
    }

    /// Where requests go.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// A request for `path` (relative to the namespace, e.g. `orders/messages/head`) with
    /// `query` (without `?`, may be empty), signed for the namespace URL of `path`.
    pub(crate) fn request(&self, method: Method, path: &str, query: &str) -> RequestBuilder {
        let resource = format!("{}/{path}", self.connection.namespace_url());
        let url = if query.is_empty() {
            format!("{}/{path}", self.base)
        } else {
            format!("{}/{path}?{query}", self.base)
        };
        self.http.request(method, url).header(
            reqwest::header::AUTHORIZATION,
            fresh_token(&resource, &self.connection),
        )
    }

    /// Sends `request` within `timeout`; an answer that is not a success is the typed
    /// error of `call`.
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<Response> {
        let response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| error::from_transport(call, e, timeout))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Err(error::from_status(call, status, &headers, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_travel_in_clear_only_when_allowed() {
        for ok in [
            "https://sb.example.com",
            "http://127.0.0.1:9090",
            "http://[::1]:9090/",
            "http://localhost:9090",
        ] {
            assert!(endpoint_base(ok, false).is_ok(), "{ok}");
        }
        let e = endpoint_base("http://192.0.2.7:8080", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_insecure_endpoint"), "{e}");
        assert_eq!(
            endpoint_base("http://192.0.2.7:8080/", true).unwrap(),
            "http://192.0.2.7:8080"
        );
        for bad in ["ftp://x", "not a url", "http://"] {
            assert!(endpoint_base(bad, true).is_err(), "{bad}");
        }
    }
}
