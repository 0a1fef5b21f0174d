//! The one error type of courier, named by meaning.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A boxed error kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is courier's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a broker.
///
/// Variants are named by what happened, not by which backend said it; each keeps the
/// backend's own error as its `source` so chains stay typed. Use [`Error::is_transient`]
/// to decide whether a retry can help, and [`display_chain`] to print the whole story on
/// one line. `Debug` prints the same line (so `?` from `main` stays readable); `{:#?}`
/// prints the variant and one cause per line.
///
/// ```
/// use courier_core::{display_chain, Error};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
/// let err = Error::Transient { message: "ReceiveMessage on queue 'audit'".into(), retry_after: None, source: Some(Box::new(io)) };
/// assert!(err.is_transient());
/// assert_eq!(display_chain(&err), "transient failure: ReceiveMessage on queue 'audit': connection reset");
/// ```
#[derive(thiserror::Error)]
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
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The credentials were refused, or there are none.
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
    /// A quota of the broker is used up (entity size, number of entities, …).
    #[error("quota exceeded: {message}")]
    QuotaExceeded {
        /// Which quota, as the backend said.
        message: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
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
        /// The underlying error (e.g. a YAML parse error), if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A message or request is malformed (e.g. a FIFO message without a group id).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with it.
        message: String,
        /// The backend's or parser's error, if any.
        #[source]
        source: Option<BoxError>,
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
    /// The delivery's lock or visibility was lost: it has been (or will be) delivered again.
    #[error("lock lost: {message}")]
    LockLost {
        /// Which delivery lost its lock.
        message: String,
        /// The backend's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Nothing answered in time: a call that hung, or a request nobody replied to.
    #[error("timed out: {what} after {after:?}")]
    Timeout {
        /// What was waited for, e.g. `reply to ReserveStock on queue:inventory`.
        what: String,
        /// How long it was waited for.
        after: Duration,
    },
    /// The responder of a request answered that it cannot handle it.
    #[error("request refused: {what}: {reason}")]
    Fault {
        /// Which request, e.g. `ReserveStock sent to queue:inventory`.
        what: String,
        /// The responder's reason.
        reason: String,
    },
    /// A temporary failure (throttling, a reset connection, 5xx): retrying may succeed.
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
    /// One failure shared by several results, e.g. every entry of a batch call that
    /// failed as a whole. It reads, chains and classifies as the error it shares; use
    /// [`Error::inner`] to match on that error's variant.
    #[error(transparent)]
    Shared(Arc<Error>),
}

impl Error {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.inner(),
            Error::Transient { .. } | Error::Timeout { .. }
        )
    }

    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.inner(), Error::NotFound { .. })
    }

    /// How long the backend asked to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.inner() {
            Error::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error itself, looking through [`Error::Shared`].
    pub fn inner(&self) -> &Error {
        let mut e = self;
        while let Error::Shared(shared) = e {
            e = shared;
        }
        e
    }

    /// Wraps this error so that it can be handed to several results at once.
    pub fn into_shared(self) -> Arc<Error> {
        match self {
            Error::Shared(shared) => shared,
            other => Arc::new(other),
        }
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

    /// An [`Error::InvalidInput`] without a source.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::InvalidConfig`] without a source.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::InvalidTopology`] without a source.
    pub fn invalid_topology(message: impl Into<String>) -> Self {
        Error::InvalidTopology {
            message: message.into(),
            source: None,
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

    /// An [`Error::Backend`] without a source: a fault of courier or its backend that
    /// has no underlying error to keep.
    pub fn backend(message: impl Into<String>) -> Self {
        Error::Backend {
            message: message.into(),
            source: None,
        }
    }

    fn variant(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "NotFound",
            Error::Conflict { .. } => "Conflict",
            Error::Unauthorized { .. } => "Unauthorized",
            Error::PayloadTooLarge { .. } => "PayloadTooLarge",
            Error::QuotaExceeded { .. } => "QuotaExceeded",
            Error::Unsupported { .. } => "Unsupported",
            Error::InvalidConfig { .. } => "InvalidConfig",
            Error::InvalidTopology { .. } => "InvalidTopology",
            Error::InvalidInput { .. } => "InvalidInput",
            Error::Decode { .. } => "Decode",
            Error::LockLost { .. } => "LockLost",
            Error::Timeout { .. } => "Timeout",
            Error::Fault { .. } => "Fault",
            Error::Transient { .. } => "Transient",
            Error::Backend { .. } => "Backend",
            Error::Shared(inner) => inner.variant(),
        }
    }
}

impl fmt::Debug for Error {
    /// One readable line (`?` from `main` prints this); `{:#?}` adds the variant and puts
    /// each cause on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return f.write_str(&display_chain(self));
        }
        writeln!(f, "Error::{}: {self}", self.variant())?;
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            writeln!(f, "  caused by: {cause}")?;
            next = cause.source();
        }
        Ok(())
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
    fn transient_and_timeouts_are_transient() {
        assert!(Error::transient("throttled").is_transient());
        assert!(Error::Timeout {
            what: "x".into(),
            after: Duration::from_secs(1)
        }
        .is_transient());
        assert!(!Error::not_found("queue 'a'").is_transient());
        assert!(!Error::backend("x").is_transient());
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
        assert_eq!(format!("{err:?}"), line, "Debug is the readable line");
        let pretty = format!("{err:#?}");
        assert!(
            pretty.starts_with("Error::InvalidConfig: invalid config")
                && pretty.contains("\n  caused by: no such file"),
            "{pretty}"
        );
    }

    #[test]
    fn shared_errors_read_and_classify_as_what_they_share() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let shared = Error::Transient {
            message: "SendMessageBatch on queue 'a'".into(),
            retry_after: Some(Duration::from_secs(2)),
            source: Some(Box::new(io)),
        }
        .into_shared();
        let a = Error::Shared(shared.clone());
        let b = Error::Shared(shared);
        assert!(a.is_transient() && b.is_transient());
        assert_eq!(a.retry_after(), Some(Duration::from_secs(2)));
        assert!(matches!(a.inner(), Error::Transient { .. }));
        assert_eq!(
            display_chain(&b),
            "transient failure: SendMessageBatch on queue 'a': reset"
        );
        assert!(Error::Shared(Error::not_found("queue 'x'").into_shared()).is_not_found());
    }
}
