//! The one error type of courier, named by meaning.

use std::time::Duration;

/// A boxed error kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is courier's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a broker.
///
/// Variants are named by what happened, not by which backend said it; each keeps the
/// backend's own error as its `source` so chains stay typed. Use [`Error::is_transient`]
/// to decide whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A topic, queue or subscription does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for, e.g. `queue 'audit'`.
        what: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Something exists with settings that differ from what was asked for.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts and how.
        what: String,
    },
    /// The credentials were refused.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// What was refused (never the credentials themselves).
        message: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A message is larger than the destination accepts.
    #[error("payload too large: message is {size} bytes, the limit is {limit} bytes")]
    PayloadTooLarge {
        /// Size of the message as the backend counts it (body plus attributes).
        size: usize,
        /// The backend's limit.
        limit: usize,
    },
    /// The backend cannot do what was asked.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked for and why it cannot be done.
        what: String,
    },
    /// Configuration is missing or wrong.
    #[error("invalid config: {message}")]
    InvalidConfig {
        /// What is wrong, naming the setting.
        message: String,
        /// The underlying error (e.g. a parse error), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A topology file is missing or wrong.
    #[error("invalid topology: {message}")]
    InvalidTopology {
        /// What is wrong, naming the file and entry.
        message: String,
    },
    /// A message or request is malformed (e.g. a FIFO message without a group id).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
    /// A received message could not be decoded as the requested event type.
    #[error("cannot decode message: {message}")]
    Decode {
        /// What did not decode.
        message: String,
        /// The parser's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The delivery was already acked, nacked or dead-lettered.
    #[error("delivery already settled")]
    AlreadySettled,
    /// The delivery's lock or visibility was lost: it has been delivered again since.
    #[error("lock lost: {message}")]
    LockLost {
        /// Which delivery lost its lock.
        message: String,
    },
    /// A temporary failure (throttling, timeout, 5xx): retrying may succeed.
    #[error("transient failure: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// After how long the backend suggests retrying, if it said.
        retry_after: Option<Duration>,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other failure reported by a backend.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// A [`Error::NotFound`] without a source.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound {
            what: what.into(),
            source: None,
        }
    }

    /// An [`Error::Unsupported`].
    pub fn unsupported(what: impl Into<String>) -> Self {
        Error::Unsupported { what: what.into() }
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    /// An [`Error::InvalidConfig`] without a source.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::InvalidTopology`].
    pub fn invalid_topology(message: impl Into<String>) -> Self {
        Error::InvalidTopology {
            message: message.into(),
        }
    }

    /// An [`Error::Decode`] without a source.
    pub fn decode(message: impl Into<String>) -> Self {
        Error::Decode {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Transient`] without a source.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }
}

/// Renders an error and its chain of sources on one line: `outer: inner: innermost`.
///
/// The command-line tool prints errors this way; it is public so that applications can too.
pub fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // thiserror messages often already embed their source; do not repeat it.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_is_transient() {
        assert!(Error::transient("throttled").is_transient());
        assert!(!Error::not_found("queue 'a'").is_transient());
        assert!(!Error::AlreadySettled.is_transient());
    }

    #[test]
    fn chain_is_one_line_and_keeps_sources() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file\nat all");
        let err = Error::InvalidConfig {
            message: "cannot read 'courier.toml'".into(),
            source: Some(Box::new(inner)),
        };
        let line = display_chain(&err);
        assert_eq!(
            line,
            "invalid config: cannot read 'courier.toml': no such file at all"
        );
    }
}
