//! The SAS signature as Service Bus documents it, computed by the stand-in to check tokens.

use base64::Engine as _;
use courier_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `base64(HMAC-SHA256(UTF-8 key, urlencode(uri) + "\n" + expiry))`.
pub(crate) fn signature(resource_uri: &str, expiry: u64, key: &Secret) -> String {
    let to_sign = format!("{}\n{expiry}", encode(resource_uri));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
