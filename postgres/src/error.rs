//! PostgreSQL errors as courier [`Error`]s, classified by SQLSTATE and connection state.

use courier_core::Error;
use tokio_postgres::error::SqlState;

/// Converts a driver error into courier's [`Error`], keeping it as the source.
///
/// For code that runs its own statements around courier's (the business writes in the
/// outbox transaction): `tx.commit().await.map_err(courier_postgres::error)?`.
pub fn error(e: tokio_postgres::Error) -> Error {
    map("PostgreSQL", e)
}

/// Classifies `e`, naming `what` was being done. Connection failures and the SQLSTATEs a
/// retry can cure are transient; refused credentials are unauthorized; a missing courier
/// table says to run the migrations. The password is never part of the text: the driver's
/// messages do not carry it.
pub(crate) fn map(what: &str, e: tokio_postgres::Error) -> Error {
    let Some(code) = e.code().cloned() else {
        return without_code(what, e);
    };
    let transient = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::QUERY_CANCELED,
        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        SqlState::CONNECTION_FAILURE,
    ];
    if transient.contains(&code) {
        return Error::Transient {
            message: what.to_owned(),
            retry_after: None,
            source: Some(Box::new(e)),
        };
    }
    if [
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        SqlState::INSUFFICIENT_PRIVILEGE,
    ]
    .contains(&code)
    {
        return Error::Unauthorized {
            message: what.to_owned(),
            source: Some(Box::new(e)),
        };
    }
    if [SqlState::UNDEFINED_TABLE, SqlState::INVALID_SCHEMA_NAME].contains(&code) {
        return Error::NotFound {
            what: format!("{what}: courier's tables (run `courier outbox migrate`)"),
            source: Some(Box::new(e)),
        };
    }
    Error::Backend {
        message: what.to_owned(),
        source: Some(Box::new(e)),
    }
}

/// An error without SQLSTATE: the connection (refused, reset, closed) is transient; a
/// conversion or protocol error is a fault of this code.
fn without_code(what: &str, e: tokio_postgres::Error) -> Error {
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        Error::Transient {
            message: format!("{what}: connection to PostgreSQL failed"),
            retry_after: None,
            source: Some(Box::new(e)),
        }
    } else {
        Error::Backend {
            message: what.to_owned(),
            source: Some(Box::new(e)),
        }
    }
}
