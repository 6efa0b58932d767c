//! Every failure a caller can see, with the stable machine code of `shared/API.md`.
//!
//! Codes are part of the public contract: a code is never renamed or reused. Variants are listed in
//! the order a request is checked (input before authentication before accounts before funds), so a
//! request with several faults always reports the first one.

use serde_json::{json, Map, Value};

/// A failure with its stable code; the extra fields are those API.md puts beside `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreditError {
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("{message}")]
    InvalidAmount { message: String },
    #[error("{message}")]
    Unauthenticated { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyConflict { key: String },
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u32 },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("insufficient credits: balance {balance}, required {required}")]
    InsufficientCredits { balance: i64, required: i64 },
    #[error("daily limit of {limit} credits reached ({used} used); resets at {reset}")]
    DailyLimitExceeded { limit: i64, used: i64, reset: String, retry_after: i64 },
    #[error("monthly limit of {limit} credits reached ({used} used); resets at {reset}")]
    MonthlyLimitExceeded { limit: i64, used: i64, reset: String, retry_after: i64 },
    #[error("{message}")]
    InvalidSignature { message: String },
    #[error("{message}")]
    DatabaseUnavailable { message: String },
    /// Extension of API.md: the database lacks tables or columns this version needs.
    #[error("{message}")]
    SchemaNotReady { message: String },
    #[error("{message}")]
    Internal { message: String },
}

impl CreditError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::InvalidRequest { message: message.into() }
    }
    pub fn invalid_amount(message: impl Into<String>) -> Self {
        Self::InvalidAmount { message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound { message: message.into() }
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated { message: message.into() }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden { message: message.into() }
    }
    pub fn database_unavailable(message: impl Into<String>) -> Self {
        Self::DatabaseUnavailable { message: message.into() }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal { message: message.into() }
    }

    /// The stable machine code (shared/API.md). Never renamed, never reused.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::Unauthenticated { .. } => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::IdempotencyConflict { .. } => "idempotency_conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::DailyLimitExceeded { .. } => "daily_limit_exceeded",
            Self::MonthlyLimitExceeded { .. } => "monthly_limit_exceeded",
            Self::InvalidSignature { .. } => "invalid_signature",
            Self::DatabaseUnavailable { .. } => "database_unavailable",
            Self::SchemaNotReady { .. } => "schema_not_ready",
            Self::Internal { .. } => "internal",
        }
    }

    /// HTTP status of the Worker's answer.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } | Self::InvalidAmount { .. } | Self::InvalidSignature { .. } => 400,
            Self::Unauthenticated { .. } => 401,
            Self::InsufficientCredits { .. } => 402,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::IdempotencyConflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::DailyLimitExceeded { .. } | Self::MonthlyLimitExceeded { .. } => 429,
            Self::DatabaseUnavailable { .. } | Self::SchemaNotReady { .. } => 503,
            Self::Internal { .. } => 500,
        }
    }

    /// Exit status of the CLI.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Internal { .. } => 1,
            Self::InsufficientCredits { .. } | Self::DailyLimitExceeded { .. } | Self::MonthlyLimitExceeded { .. } => 3,
            Self::IdempotencyConflict { .. } => 4,
            Self::NotFound { .. } => 5,
            Self::DatabaseUnavailable { .. } => 6,
            Self::SchemaNotReady { .. } => 7,
            _ => 2,
        }
    }

    /// Seconds a client should wait before retrying (the `Retry-After` header), where that applies.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::DailyLimitExceeded { retry_after, .. } | Self::MonthlyLimitExceeded { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// `{"error": {"code", "message", …}}` as API.md shows it.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(self.to_string()));
        match self {
            Self::InsufficientCredits { balance, required } => {
                body.insert("balance".into(), json!(balance));
                body.insert("required".into(), json!(required));
            }
            Self::DailyLimitExceeded { limit, used, reset, retry_after }
            | Self::MonthlyLimitExceeded { limit, used, reset, retry_after } => {
                body.insert("limit".into(), json!(limit));
                body.insert("used".into(), json!(used));
                body.insert("reset".into(), json!(reset));
                body.insert("retry_after".into(), json!(retry_after));
            }
            Self::IdempotencyConflict { key } => {
                body.insert("idempotency_key".into(), json!(key));
            }
            Self::PayloadTooLarge { limit_bytes } => {
                body.insert("limit_bytes".into(), json!(limit_bytes));
            }
            _ => {}
        }
        json!({ "error": Value::Object(body) })
    }
}

/// Every code, in precedence order; used by tests and by generated documentation.
pub const ALL_CODES: [&str; 15] = [
    "invalid_request",
    "invalid_amount",
    "unauthenticated",
    "forbidden",
    "not_found",
    "idempotency_conflict",
    "payload_too_large",
    "unsupported_media_type",
    "insufficient_credits",
    "daily_limit_exceeded",
    "monthly_limit_exceeded",
    "invalid_signature",
    "database_unavailable",
    "schema_not_ready",
    "internal",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_exit_codes_match_the_contract_table() {
        let table: [(CreditError, &str, u16, i32); 6] = [
            (CreditError::invalid_amount("x"), "invalid_amount", 400, 2),
            (CreditError::InsufficientCredits { balance: 3, required: 5 }, "insufficient_credits", 402, 3),
            (CreditError::IdempotencyConflict { key: "k".into() }, "idempotency_conflict", 409, 4),
            (CreditError::not_found("x"), "not_found", 404, 5),
            (CreditError::database_unavailable("x"), "database_unavailable", 503, 6),
            (CreditError::internal("x"), "internal", 500, 1),
        ];
        for (error, code, status, exit) in table {
            assert_eq!(error.code(), code);
            assert_eq!(error.http_status(), status);
            assert_eq!(error.exit_code(), exit);
            assert!(ALL_CODES.contains(&code));
        }
    }

    #[test]
    fn limit_errors_carry_retry_after_in_their_body() {
        let error = CreditError::DailyLimitExceeded {
            limit: 700,
            used: 700,
            reset: "2026-11-26T00:00:00Z".into(),
            retry_after: 3600,
        };
        let body = error.to_json();
        assert_eq!(body["error"]["code"], "daily_limit_exceeded");
        assert_eq!(body["error"]["retry_after"], 3600);
        assert_eq!(error.http_status(), 429);
        assert_eq!(error.retry_after(), Some(3600));
    }
}
