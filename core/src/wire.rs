//! What the cloud backends share about putting a [`Message`] on a wire that cannot carry
//! all of it natively: the metadata packed into one attribute, and bodies that are not
//! text travelling as base64.
//!
//! SQS/SNS carry at most 10 attributes and no content type, correlation id or reply
//! address; Service Bus REST headers fold names to lower case. Both backends therefore
//! send the exact metadata in one attribute named [`PACK_ATTRIBUTE`] (JSON), the same
//! shape on both, and read it back with [`Packed::unpack`].

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::message::Message;

/// The attribute holding the packed metadata.
pub const PACK_ATTRIBUTE: &str = "courier";

/// Message metadata a backend carries in its [`PACK_ATTRIBUTE`] attribute.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Packed {
    /// Attributes that do not travel as native attributes, by exact name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    /// The message's content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The application message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Where replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The ordering group, kept (not acted on) where the destination is not FIFO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Whether the body travels as base64.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base64: bool,
}

impl Packed {
    /// Whether there is nothing to pack (the attribute can be left out).
    pub fn is_empty(&self) -> bool {
        self == &Packed::default()
    }

    /// The JSON text of the attribute.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::InvalidInput {
            message: "cannot pack message metadata".into(),
            source: Some(Box::new(e)),
        })
    }

    /// Reads the attribute; `None` when it is not courier's (a foreign producer's own
    /// attribute of that name, which then stays an ordinary attribute).
    pub fn unpack(json: &str) -> Option<Packed> {
        serde_json::from_str(json).ok()
    }

    /// Fills `message`'s metadata from the pack and turns the received body text back
    /// into bytes.
    pub fn apply(self, message: &mut Message, body: String) {
        message.body = body_from_wire(body, self.base64);
        message.attributes.extend(self.attrs);
        message.content_type = self.content_type.or(message.content_type.take());
        message.message_id = self.message_id.or(message.message_id.take());
        message.correlation_id = self.correlation_id.or(message.correlation_id.take());
        message.reply_to = self.reply_to.or(message.reply_to.take());
        message.group_id = self.group_id.or(message.group_id.take());
    }
}

/// A body as wire text: itself when it is UTF-8 that `allowed` accepts, else base64
/// (the `bool` says which).
pub fn body_to_wire(body: &[u8], allowed: impl Fn(&str) -> bool) -> (String, bool) {
    match std::str::from_utf8(body) {
        Ok(text) if allowed(text) => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    }
}

/// The body bytes of wire text. Text that claims base64 but is not is kept as it came
/// (a corrupted or foreign message is still delivered, for a handler or the dead-letter
/// queue to judge).
pub fn body_from_wire(body: String, base64: bool) -> Vec<u8> {
    if !base64 {
        return body.into_bytes();
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .unwrap_or_else(|_| body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_round_trip_and_foreign_values_are_not_packs() {
        let p = Packed {
            content_type: Some("application/json".into()),
            base64: true,
            ..Packed::default()
        };
        let json = p.to_json().unwrap();
        assert_eq!(json, r#"{"content_type":"application/json","base64":true}"#);
        assert_eq!(Packed::unpack(&json), Some(p));
        assert_eq!(Packed::unpack("plain value"), None);
        assert!(Packed::default().is_empty());
    }

    #[test]
    fn bodies_that_are_not_allowed_text_travel_as_base64() {
        assert_eq!(body_to_wire(b"hi", |_| true), ("hi".to_owned(), false));
        let (text, b64) = body_to_wire(&[0, 159, 146, 150], |_| true);
        assert!(b64);
        assert_eq!(body_from_wire(text, true), vec![0, 159, 146, 150]);
        let (_, b64) = body_to_wire(b"a\x01", |t| !t.contains('\x01'));
        assert!(b64);
        assert_eq!(body_from_wire("not base64!".into(), true), b"not base64!");
    }
}
