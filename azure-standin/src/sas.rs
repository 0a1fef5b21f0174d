//! Shared Access Signature checks, per "Service Bus access control with Shared Access
//! Signatures":
//!
//! - the token is `SharedAccessSignature sr=<URL-encoded resource URI>&sig=<signature>&se=<expiry>&skn=<key name>`
//!   (fields in any order);
//! - the signature is base64(HMAC-SHA256(key, `<URL-encoded resource URI>` + "\n" + expiry))
//!   where the encoded URI "must be the same as the URI used in the string-to-sign": it is
//!   checked over `sr` exactly as sent, so upper- and lower-case percent-encoding (Python's
//!   `quote_plus`, .NET's `HttpUtility.UrlEncode`) are both valid;
//! - the resource URI may be `sb://`, `http://` or `https://` on the namespace's host, and
//!   "a SAS token is valid for all resources under the resource URI": the request's entity
//!   must be that path or below it, segment by segment;
//! - an unknown key name, a wrong signature, an expired token, another namespace or another
//!   entity is refused (401).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use courier_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::failure::Failure;

/// The namespace's one shared access rule (`RootManageSharedAccessKey`: all rights).
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    host: String,
    key_name: String,
    key: Secret,
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Authority {
    pub(crate) fn new(host: String, key_name: String, key: Secret) -> Self {
        Authority {
            host,
            key_name,
            key,
        }
    }

    /// Checks the `Authorization` header of a request for entity path `path`.
    pub(crate) fn check(&self, header: Option<&str>, path: &str) -> Result<(), Failure> {
        self.check_at(header, path, unix_now())
    }

    pub(crate) fn check_at(
        &self,
        header: Option<&str>,
        path: &str,
        now: u64,
    ) -> Result<(), Failure> {
        let token = header
            .map(str::trim)
            .and_then(|h| h.strip_prefix("SharedAccessSignature "))
            .ok_or_else(|| Failure::unauthorized("MissingToken: The authorization header was not found or is not a SharedAccessSignature token."))?;
        let mut fields: [Option<&str>; 4] = [None; 4];
        for part in token.trim().split('&') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| malformed(&format!("'{part}' is not KEY=VALUE")))?;
            let slot = match k {
                "sr" => 0,
                "sig" => 1,
                "se" => 2,
                "skn" => 3,
                other => return Err(malformed(&format!("unknown field '{other}'"))),
            };
            if fields[slot].replace(v).is_some() {
                return Err(malformed(&format!("'{k}' appears twice")));
            }
        }
        let [Some(sr), Some(sig), Some(se), Some(skn)] = fields else {
            return Err(malformed("it needs sr, sig, se and skn"));
        };
        let expiry: u64 = se
            .parse()
            .map_err(|_| malformed(&format!("the expiry '{se}' is not a number of seconds")))?;
        if decode(skn) != self.key_name {
            return Err(Failure::unauthorized(format!(
                "InvalidSignature: The token has an invalid signature (no shared access rule named '{}').",
                decode(skn)
            )));
        }
        self.verify_signature(sr, se, sig)?;
        if expiry <= now {
            return Err(Failure::unauthorized("ExpiredToken: The token is expired."));
        }
        self.check_audience(&decode(sr), path)
    }

    fn verify_signature(&self, sr: &str, se: &str, sig: &str) -> Result<(), Failure> {
        let invalid =
            || Failure::unauthorized("InvalidSignature: The token has an invalid signature.");
        let claimed = base64::engine::general_purpose::STANDARD
            .decode(decode(sig))
            .map_err(|_| invalid())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(format!("{sr}\n{se}").as_bytes());
        // Constant time.
        mac.verify_slice(&claimed).map_err(|_| invalid())
    }

    fn check_audience(&self, resource: &str, path: &str) -> Result<(), Failure> {
        let refused = |why: &str| {
            Failure::unauthorized(format!(
                "InvalidAudience: The token's audience '{resource}' {why}."
            ))
        };
        let rest = ["sb://", "https://", "http://"]
            .iter()
            .find_map(|scheme| {
                resource
                    .get(..scheme.len())
                    .filter(|s| s.eq_ignore_ascii_case(scheme))
                    .map(|_| &resource[scheme.len()..])
            })
            .ok_or_else(|| refused("is not an sb://, http:// or https:// address"))?;
        let (host, scope) = rest.split_once('/').unwrap_or((rest, ""));
        if !host.eq_ignore_ascii_case(&self.host) {
            return Err(refused(&format!(
                "is not in this namespace ({})",
                self.host
            )));
        }
        let scope: Vec<String> = segments(scope);
        let wanted: Vec<String> = segments(path);
        if wanted.len() < scope.len() || wanted[..scope.len()] != scope[..] {
            return Err(refused(&format!("does not cover '{path}'")));
        }
        Ok(())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn malformed(why: &str) -> Failure {
    Failure::unauthorized(format!(
        "MalformedToken: The SharedAccessSignature token is malformed: {why}."
    ))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgYmFzZTY0IQ==";
    const HOST: &str = "shop-ns.servicebus.windows.net";
    const NOW: u64 = 1_700_000_000;

    fn authority() -> Authority {
        Authority::new(
            HOST.into(),
            "RootManageSharedAccessKey".into(),
            Secret::new(KEY),
        )
    }

    /// A token signed over `encoded_sr` exactly as given.
    fn token(encoded_sr: &str, expiry: u64, key: &str, key_name: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{encoded_sr}\n{expiry}").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
        format!("SharedAccessSignature sr={encoded_sr}&sig={sig}&se={expiry}&skn={key_name}")
    }

    fn check(t: &str, path: &str) -> Result<(), Failure> {
        authority().check_at(Some(t), path, NOW)
    }

    #[test]
    fn the_documented_forms_are_accepted() {
        let ok = |sr: &str, path: &str| {
            check(&token(sr, NOW + 60, KEY, "RootManageSharedAccessKey"), path)
        };
        // Python quote_plus (upper case) and .NET HttpUtility.UrlEncode (lower case).
        ok(
            "https%3A%2F%2Fshop-ns.servicebus.windows.net%2Forders",
            "orders",
        )
        .unwrap();
        ok(
            "https%3a%2f%2fshop-ns.servicebus.windows.net%2forders",
            "orders",
        )
        .unwrap();
        ok(
            "sb%3A%2F%2Fshop-ns.servicebus.windows.net%2F",
            "orders/subscriptions/a/messages/head",
        )
        .unwrap();
        ok("http%3A%2F%2Fshop-ns.servicebus.windows.net", "x").unwrap();
        // Under the resource: a subscription of the topic the token names.
        ok(
            "https%3A%2F%2Fshop-ns.servicebus.windows.net%2Forders",
            "Orders/Subscriptions/inventory",
        )
        .unwrap();
    }

    #[test]
    fn others_are_refused() {
        let t = |sr: &str| token(sr, NOW + 60, KEY, "RootManageSharedAccessKey");
        let orders = "https%3A%2F%2Fshop-ns.servicebus.windows.net%2Forders";
        let refused = |tok: &str, path: &str, word: &str| {
            let e = check(tok, path).unwrap_err();
            assert_eq!(e.status.as_u16(), 401, "{e}");
            assert!(e.detail.contains(word), "{word}: {e}");
        };
        refused(&t(orders), "orders2", "does not cover");
        refused(&t(orders), "payments", "does not cover");
        refused(
            &t("https%3A%2F%2Fother-ns.servicebus.windows.net%2Forders"),
            "orders",
            "namespace",
        );
        refused(
            &t("ftp%3A%2F%2Fshop-ns.servicebus.windows.net"),
            "orders",
            "address",
        );
        refused(
            &token(orders, NOW - 1, KEY, "RootManageSharedAccessKey"),
            "orders",
            "ExpiredToken",
        );
        refused(
            &token(orders, NOW + 60, "d3Jvbmc=", "RootManageSharedAccessKey"),
            "orders",
            "InvalidSignature",
        );
        refused(
            &token(orders, NOW + 60, KEY, "send"),
            "orders",
            "no shared access rule",
        );
        // The signature covers sr as sent: re-encoding it differently breaks it.
        let tampered = t(orders).replace("%2Forders", "%2forders");
        refused(&tampered, "orders", "InvalidSignature");
        refused(&format!("{}&se=1", t(orders)), "orders", "twice");
        refused("Bearer x", "orders", "MissingToken");
        assert!(authority().check_at(None, "orders", NOW).is_err());
    }
}
