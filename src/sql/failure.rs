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
/// "current transaction is aborted": a statement after a failure in the caller's transaction.
pub const IN_FAILED_TRANSACTION: &str = "25P02";

impl DbFailure {
    pub fn connection(message: impl Into<String>) -> Self {
        DbFailure { sqlstate: None, message: message.into() }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate.as_deref() == Some(UNIQUE_VIOLATION)
    }

    /// Postgres broke a lock cycle by rolling this statement back (40P01).
    pub fn is_deadlock(&self) -> bool {
        self.sqlstate.as_deref() == Some("40P01")
    }

    /// Maps to the public error. Nothing was written in any of these cases: each operation is a
    /// single statement, and Postgres rolls a failed statement back whole. The database's own
    /// message (table names, roles, SQL) goes to `detail`, which only the operator's log sees.
    pub fn into_credit_error(self) -> CreditError {
        let text = match &self.sqlstate {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        };
        let detail = Some(text.clone());
        let Some(code) = self.sqlstate.as_deref() else {
            return CreditError::DatabaseUnavailable {
                message: "the database could not be reached; nothing was written".into(),
                detail,
            };
        };
        let class = code.get(..2).unwrap_or("");
        match (class, code) {
            (_, "42501") => CreditError::Forbidden {
                message: "the database role lacks a privilege this operation needs".into(),
                detail,
            },
            (_, "42P01" | "42703" | "42883" | "3F000") => CreditError::SchemaNotReady {
                message: "the database schema is not ready; run `fltr-credits migrate` (or POST /admin/migrate)".into(),
                detail,
            },
            // 57014: statement_timeout; 55P03: lock_timeout — the server gave up before the
            // caller did, so the statement was rolled back and nothing was written.
            ("08" | "53" | "57" | "28" | "3D", _) | (_, "40001" | "40P01" | "55P03" | "25006") => {
                CreditError::DatabaseUnavailable {
                    message: "the database is unavailable or busy; nothing was written, retry later".into(),
                    detail,
                }
            }
            _ => CreditError::Internal { message: text },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
            (Some("55P03"), "database_unavailable"),
            (Some("22003"), "internal"),
        ];
        for (sqlstate, expected) in table {
            let failure =
                DbFailure { sqlstate: sqlstate.map(String::from), message: "relation secret_table: m".into() };
            let error = failure.into_credit_error();
            assert_eq!(error.code(), expected, "{sqlstate:?}");
            // Internal errors' bodies are replaced whole by HttpResponse::error; every other code
            // carries its own sentence, never the database's.
            if expected != "internal" {
                assert!(
                    !crate::http::error_body::of(&error).to_string().contains("secret_table"),
                    "no database text in a body"
                );
                assert!(error.detail().is_some_and(|detail| detail.contains("secret_table")), "the log keeps it");
            }
        }
    }
}
