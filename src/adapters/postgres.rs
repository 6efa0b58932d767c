//! What the two tokio-postgres adapters (native, Worker over Hyperdrive) share: how a driver error
//! becomes a `DbFailure`, and how a result's rows are read. Written once for both.

use crate::sql::failure::DbFailure;
use crate::sql::row::Row;

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

/// Every row, by column name (each statement of the core selects text columns only).
pub fn text_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, DbFailure> {
    rows.iter()
        .map(|row| {
            let columns = row
                .columns()
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    let value = row.try_get::<_, Option<String>>(index).map_err(|error| DbFailure {
                        sqlstate: Some("XX000".into()),
                        message: format!("result column {} is not text: {error}", column.name()),
                    })?;
                    Ok((column.name().to_string(), value))
                })
                .collect::<Result<Vec<_>, DbFailure>>()?;
            Ok(Row::new(columns))
        })
        .collect()
}
