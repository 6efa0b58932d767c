//! What the two tokio-postgres adapters (native, Worker over Hyperdrive) share: how a driver error
//! becomes a `DbFailure`. Written once for both. (Rows differ: the native adapter reads the
//! extended protocol's rows, the Worker the simple protocol's.)

use crate::sql::failure::DbFailure;

/// A server error keeps its SQLSTATE; anything else (refused, reset, closed) is a connection
/// failure, with every layer of the error chain in its message (for the operator's log).
pub fn failure(error: tokio_postgres::Error) -> DbFailure {
    match error.as_db_error() {
        Some(db) => DbFailure { sqlstate: Some(db.code().code().to_string()), message: db.message().to_string() },
        None => DbFailure::connection(flatten(&error)),
    }
}

fn flatten(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
