//! What a failed statement means, from its SQLSTATE alone, the same for every adapter.

use crate::core::error::CreditError;

/// A statement that did not return rows: the server's SQLSTATE when there was one (none when the
/// connection itself failed), and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFailure {
    pub sqlstate: Option<String>,
    pub message: String,
}

pub const UNIQUE_VIOLATION: &str = "23505";

impl DbFailure {
    pub fn connection(message: impl Into<String>) -> Self {
        DbFailure { sqlstate: None, message: message.into() }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate.as_deref() == Some(UNIQUE_VIOLATION)
    }

    /// Maps to the public error. Nothing was written in any of these cases: each operation is a
    /// single statement, and Postgres rolls a failed statement back whole.
    pub fn into_credit_error(self) -> CreditError {
        let Some(code) = self.sqlstate.as_deref() else {
            return CreditError::database_unavailable(format!("database unreachable: {}", self.message));
        };
        let class = code.get(..2).unwrap_or("");
        match (class, code) {
            (_, "22003") => CreditError::invalid_amount(format!("the balance would leave the integer range: {}", self.message)),
            (_, "42501") => CreditError::forbidden(format!("the database role lacks a privilege: {}", self.message)),
            (_, "42P01" | "42703" | "42883" | "3F000") => CreditError::SchemaNotReady {
                message: format!("database schema is not ready ({}); run `fltr-credits migrate`", self.message),
            },
            ("08" | "53" | "57" | "28" | "3D", _) | (_, "40001" | "40P01" | "55P03" | "25006") => {
                CreditError::database_unavailable(format!("database unavailable: {}", self.message))
            }
            _ => CreditError::internal(format!("database error {code}: {}", self.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_stable_codes() {
        let table = [
            (None, "database_unavailable"),
            (Some("57P01"), "database_unavailable"),
            (Some("57014"), "database_unavailable"),
            (Some("08006"), "database_unavailable"),
            (Some("42501"), "forbidden"),
            (Some("42P01"), "schema_not_ready"),
            (Some("42703"), "schema_not_ready"),
            (Some("23505"), "internal"),
        ];
        for (sqlstate, expected) in table {
            let failure = DbFailure { sqlstate: sqlstate.map(String::from), message: "m".into() };
            assert_eq!(failure.into_credit_error().code(), expected, "{sqlstate:?}");
        }
    }
}
