//! The data layer's error: what went wrong in the database, in terms the service layer can
//! turn into an answer without knowing diesel, and without constraint names reaching clients.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such row")]
    NotFound,
    /// A unique constraint refused the row; the constraint name is for the service's mapping only.
    #[error("unique constraint {constraint} violated")]
    Duplicate { constraint: String },
    #[error("foreign key {constraint} violated")]
    MissingReference { constraint: String },
    #[error("check constraint {constraint} violated")]
    RuleBroken { constraint: String },
    /// A serialisation failure or deadlock: the transaction may be retried.
    #[error("concurrent update")]
    Conflict,
    /// The pool could not give a connection, or the connection was lost.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value this build cannot read (an unknown enum code, say), or any other failure.
    #[error("database error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("").to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation => Self::Duplicate { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => Self::MissingReference { constraint },
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        Self::RuleBroken { constraint }
                    }
                    DatabaseErrorKind::SerializationFailure => Self::Conflict,
                    DatabaseErrorKind::ClosedConnection => {
                        Self::Unavailable("the database connection was lost".into())
                    }
                    _ if info.message().contains("deadlock detected") => Self::Conflict,
                    // The server ended the session under the query (failover, restart, an
                    // administrator): the request may be retried.
                    _ if lost_connection(info.message()) => {
                        Self::Unavailable(info.message().to_owned())
                    }
                    _ => Self::Other(info.message().to_owned()),
                }
            }
            DieselError::BrokenTransactionManager => {
                Self::Unavailable("the database connection is in an unusable state".into())
            }
            other => {
                let text = with_causes(&other);
                if lost_connection(&text) {
                    Self::Unavailable(text)
                } else {
                    Self::Other(text)
                }
            }
        }
    }
}

fn lost_connection(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "terminating connection",
        "connection closed",
        "server closed the connection",
        "connection reset",
        "broken pipe",
        "the database system is shutting down",
        "the database system is starting up",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The error and its causes (diesel names only the field when a value cannot be read).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ended_by_the_server_is_unavailable_not_a_bug() {
        assert!(lost_connection(
            "FATAL: terminating connection due to administrator command"
        ));
        assert!(lost_connection("connection closed"));
        assert!(!lost_connection(
            "duplicate key value violates unique constraint"
        ));
    }
}
