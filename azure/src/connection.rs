//! Connection strings and SAS tokens ("Service Bus access control with Shared Access
//! Signatures": `SharedAccessSignature sr=…&sig=…&se=…&skn=…`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// A SAS token for `resource_uri`, valid for an hour from now.
pub(crate) fn fresh_token(resource_uri: &str, connection: &ConnectionString) -> String {
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + TOKEN_TTL.as_secs();
    sas_token(resource_uri, expiry, &connection.key_name, &connection.key)
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
