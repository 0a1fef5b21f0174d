//! Connection strings, SAS tokens, and the HTTP client that signs and routes every request.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use courier_core::{Error, Result, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

/// How long a SAS token courier signs stays valid.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A parsed Service Bus connection string. The key never appears in `Debug` or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// The namespace, e.g. `my-ns` of `sb://my-ns.servicebus.windows.net/`.
    pub namespace: String,
    /// `SharedAccessKeyName`.
    pub key_name: String,
    /// `SharedAccessKey`.
    pub key: Secret,
    /// `EntityPath`, when the string is scoped to one entity.
    pub entity_path: Option<String>,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("namespace", &self.namespace)
            .field("key_name", &self.key_name)
            .field("key", &self.key)
            .field("entity_path", &self.entity_path)
            .finish()
    }
}

impl ConnectionString {
    /// Parses `Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=…]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |what: &str| {
            Error::invalid_config(format!("Azure connection string: {what} (expected Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…)"))
        };
        let (mut endpoint, mut key_name, mut key, mut entity_path) = (None, None, None, None);
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(bad("a part is not KEY=VALUE"));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_owned()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_owned()),
                "sharedaccesskey" => key = Some(Secret::new(v.trim())),
                "entitypath" => entity_path = Some(v.trim().to_owned()),
                "usedevelopmentemulator" | "transporttype" => {}
                other => return Err(bad(&format!("unknown part '{other}'"))),
            }
        }
        let endpoint = endpoint.ok_or_else(|| bad("Endpoint is missing"))?;
        let host = Url::parse(&endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| bad("Endpoint is not a URL"))?;
        let namespace = host
            .strip_suffix(".servicebus.windows.net")
            .unwrap_or(&host)
            .to_owned();
        if namespace.is_empty() || namespace.contains('.') {
            return Err(bad(&format!(
                "Endpoint host '{host}' is not NAMESPACE.servicebus.windows.net"
            )));
        }
        let key_name = key_name.ok_or_else(|| bad("SharedAccessKeyName is missing"))?;
        let key = key.ok_or_else(|| bad("SharedAccessKey is missing"))?;
        Ok(ConnectionString {
            namespace,
            key_name,
            key,
            entity_path,
        })
    }

    /// The namespace's base URL, `https://NS.servicebus.windows.net`.
    pub fn namespace_url(&self) -> String {
        format!("https://{}.servicebus.windows.net", self.namespace)
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The documented SAS signature: `base64(HMAC-SHA256(UTF-8 key, urlencode(uri) + "\n" + expiry))`.
pub fn sas_signature(resource_uri: &str, expiry: u64, key: &Secret) -> String {
    let to_sign = format!("{}\n{expiry}", encode(resource_uri));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A SAS token for `resource_uri`, valid until `expiry` (Unix seconds).
pub fn sas_token(resource_uri: &str, expiry: u64, key_name: &str, key: &Secret) -> String {
    format!(
        "SharedAccessSignature sr={}&sig={}&se={expiry}&skn={}",
        encode(resource_uri),
        encode(&sas_signature(resource_uri, expiry, key)),
        encode(key_name)
    )
}

/// Every request goes through here: the crate's and courier's own REST calls alike are
/// signed with one SAS token computed as Service Bus documents (for the logical namespace
/// URL), sent to `endpoint` instead of the namespace when one is set (a local stand-in),
/// and bounded by a timeout (the crate sets none).
pub(crate) struct SigningClient {
    pub(crate) inner: Arc<dyn azure_core::HttpClient>,
    pub(crate) connection: ConnectionString,
    pub(crate) endpoint: Option<Url>,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for SigningClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningClient")
            .field("connection", &self.connection)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl SigningClient {
    /// The request, signed for its logical URL and pointed at the endpoint.
    pub(crate) fn prepare(&self, request: &azure_core::Request) -> azure_core::Request {
        let mut req = request.clone();
        let logical = {
            let u = req.url();
            format!("{}{}", self.connection.namespace_url(), u.path())
        };
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + TOKEN_TTL.as_secs();
        let token = sas_token(
            &logical,
            expiry,
            &self.connection.key_name,
            &self.connection.key,
        );
        req.insert_header(azure_core::headers::AUTHORIZATION, token);
        if let Some(endpoint) = &self.endpoint {
            let url = req.url_mut();
            let _ = url.set_scheme(endpoint.scheme());
            let _ = url.set_host(endpoint.host_str());
            let _ = url.set_port(endpoint.port_or_known_default());
        }
        req
    }
}

/// An HTTP client for the `azure_messaging_servicebus` crate (or any `azure_core` user)
/// that signs as Service Bus documents and sends to `endpoint` when given (a stand-in).
pub fn routed_client(
    connection: &ConnectionString,
    endpoint: Option<&str>,
    timeout: Duration,
) -> Result<Arc<dyn azure_core::HttpClient>> {
    let endpoint = endpoint
        .map(|e| {
            Url::parse(e).map_err(|err| {
                Error::invalid_config(format!("Azure endpoint '{e}' is not a URL: {err}"))
            })
        })
        .transpose()?;
    Ok(Arc::new(SigningClient {
        inner: azure_core::new_http_client(),
        connection: connection.clone(),
        endpoint,
        timeout,
    }))
}

#[async_trait]
impl azure_core::HttpClient for SigningClient {
    async fn execute_request(
        &self,
        request: &azure_core::Request,
    ) -> azure_core::Result<azure_core::Response> {
        let req = self.prepare(request);
        match tokio::time::timeout(self.timeout, self.inner.execute_request(&req)).await {
            Ok(r) => r,
            Err(_) => Err(azure_core::Error::message(
                azure_core::error::ErrorKind::Io,
                format!("request to Service Bus timed out after {:?}", self.timeout),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgYmFzZTY0IQ==";

    #[test]
    fn parses_and_redacts() {
        let c = ConnectionString::parse(&format!(
            "Endpoint=sb://shop-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY};EntityPath=orders"
        ))
        .unwrap();
        assert_eq!(c.namespace, "shop-ns");
        assert_eq!(c.entity_path.as_deref(), Some("orders"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(KEY) && shown.contains("Secret(***)"),
            "{shown}"
        );
    }

    #[test]
    fn bad_strings_say_what_is_wrong_without_the_key() {
        for (text, expected) in [
            (
                "SharedAccessKeyName=a;SharedAccessKey=b",
                "Endpoint is missing",
            ),
            (
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=secretkey",
                "SharedAccessKeyName is missing",
            ),
            (
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a",
                "SharedAccessKey is missing",
            ),
            (
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;Colour=blue",
                "unknown part 'colour'",
            ),
            ("Endpoint;", "not KEY=VALUE"),
        ] {
            let e = ConnectionString::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("secretkey"), "no key in errors: {e}");
        }
    }

    #[test]
    fn signature_matches_an_independent_computation() {
        // Computed independently (Python: hmac.new(key.encode(), (quote_plus(uri) + "\n" + expiry).encode(), sha256)).
        let sig = sas_signature(
            "https://shop-ns.servicebus.windows.net/orders",
            1_800_000_000,
            &Secret::new(KEY),
        );
        assert_eq!(
            sig,
            include_str!("../tests/fixtures/sas-signature.txt").trim()
        );
        let token = sas_token(
            "https://shop-ns.servicebus.windows.net/orders",
            1_800_000_000,
            "send",
            &Secret::new(KEY),
        );
        assert!(token.starts_with("SharedAccessSignature sr=https%3A%2F%2Fshop-ns.servicebus.windows.net%2Forders&sig="), "{token}");
        assert!(token.ends_with("&se=1800000000&skn=send"), "{token}");
    }
}
