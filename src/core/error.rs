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
    /// `detail` (a database's own words, when the cause was a missing privilege) is for the
    /// operator's log only; no body carries it.
    #[error("{message}")]
    Forbidden { message: String, detail: Option<String> },
    #[error("{message}")]
    NotFound { message: String },
    /// Extension of API.md: the path exists but does not serve this method (HTTP 405 + `Allow`).
    #[error("{method} is not served here; use {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// `key` is empty when an identical request committed while this one ran inside the caller's
    /// own transaction: that transaction is aborted and must be rolled back and retried.
    #[error("{}", idempotency_message(key))]
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
    DatabaseUnavailable { message: String, detail: Option<String> },
    /// Extension of API.md: the database lacks tables or columns this version needs.
    #[error("{message}")]
    SchemaNotReady { message: String, detail: Option<String> },
    /// Extension of API.md: a verified Stripe purchase could not be credited (unknown buyer, no
    /// credits in its metadata, a balance out of range). Answered 500 so Stripe retries; kept in
    /// `credit_unfulfilled_purchases` for the operator (`/health`, `reconcile`).
    #[error("{message}")]
    PurchaseNotCredited { message: String, payment_id: String },
    #[error("{message}")]
    Internal { message: String },
}

fn idempotency_message(key: &str) -> String {
    if key.is_empty() {
        "an identical request committed concurrently inside your transaction; roll it back and retry to get its replay"
            .into()
    } else {
        format!("idempotency key {key:?} was already used with a different request")
    }
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
        Self::Forbidden { message: message.into(), detail: None }
    }
    pub fn database_unavailable(message: impl Into<String>) -> Self {
        Self::DatabaseUnavailable { message: message.into(), detail: None }
    }
    pub fn schema_not_ready(message: impl Into<String>) -> Self {
        Self::SchemaNotReady { message: message.into(), detail: None }
    }

    /// What only the operator's log may see: a database's own message, an internal cause.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Forbidden { detail, .. }
            | Self::DatabaseUnavailable { detail, .. }
            | Self::SchemaNotReady { detail, .. } => detail.as_deref(),
            Self::Internal { message } => Some(message),
            _ => None,
        }
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
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::IdempotencyConflict { .. } => "idempotency_conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::DailyLimitExceeded { .. } => "daily_limit_exceeded",
            Self::MonthlyLimitExceeded { .. } => "monthly_limit_exceeded",
            Self::InvalidSignature { .. } => "invalid_signature",
            Self::DatabaseUnavailable { .. } => "database_unavailable",
            Self::SchemaNotReady { .. } => "schema_not_ready",
            Self::PurchaseNotCredited { .. } => "purchase_not_credited",
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
            Self::MethodNotAllowed { .. } => 405,
            Self::IdempotencyConflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::DailyLimitExceeded { .. } | Self::MonthlyLimitExceeded { .. } => 429,
            Self::DatabaseUnavailable { .. } | Self::SchemaNotReady { .. } => 503,
            Self::Internal { .. } | Self::PurchaseNotCredited { .. } => 500,
        }
    }

    /// Exit status of the CLI.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Internal { .. } | Self::PurchaseNotCredited { .. } => 1,
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
            Self::DailyLimitExceeded { retry_after, .. } | Self::MonthlyLimitExceeded { retry_after, .. } => {
                Some(*retry_after)
            }
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
            Self::MethodNotAllowed { allow, .. } => {
                body.insert("allow".into(), json!(allow));
            }
            Self::PurchaseNotCredited { payment_id, .. } => {
                body.insert("payment_id".into(), json!(payment_id));
            }
            _ => {}
        }
        json!({ "error": Value::Object(body) })
    }
}

/// Every code, in precedence order; used by tests and by generated documentation.
pub const ALL_CODES: [&str; 17] = [
    "invalid_request",
    "invalid_amount",
    "unauthenticated",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "idempotency_conflict",
    "payload_too_large",
    "unsupported_media_type",
    "insufficient_credits",
    "daily_limit_exceeded",
    "monthly_limit_exceeded",
    "invalid_signature",
    "database_unavailable",
    "schema_not_ready",
    "purchase_not_credited",
    "internal",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code with its HTTP status and CLI exit code, in the contract's precedence order.
    fn contract_table() -> Vec<(CreditError, &'static str, u16, i32)> {
        let limit = |daily| {
            let (limit, used, reset, retry_after) = (10, 10, "2026-11-26T00:00:00Z".to_string(), 60);
            if daily {
                CreditError::DailyLimitExceeded { limit, used, reset, retry_after }
            } else {
                CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after }
            }
        };
        vec![
            (CreditError::invalid_request("x"), "invalid_request", 400, 2),
            (CreditError::invalid_amount("x"), "invalid_amount", 400, 2),
            (CreditError::unauthenticated("x"), "unauthenticated", 401, 2),
            (CreditError::forbidden("x"), "forbidden", 403, 2),
            (CreditError::not_found("x"), "not_found", 404, 5),
            (
                CreditError::MethodNotAllowed { method: "PUT".into(), allow: "POST".into() },
                "method_not_allowed",
                405,
                2,
            ),
            (CreditError::IdempotencyConflict { key: "k".into() }, "idempotency_conflict", 409, 4),
            (CreditError::PayloadTooLarge { limit_bytes: 1 }, "payload_too_large", 413, 2),
            (CreditError::UnsupportedMediaType { message: "x".into() }, "unsupported_media_type", 415, 2),
            (CreditError::InsufficientCredits { balance: 3, required: 5 }, "insufficient_credits", 402, 3),
            (limit(true), "daily_limit_exceeded", 429, 3),
            (limit(false), "monthly_limit_exceeded", 429, 3),
            (CreditError::InvalidSignature { message: "x".into() }, "invalid_signature", 400, 2),
            (CreditError::database_unavailable("x"), "database_unavailable", 503, 6),
            (CreditError::schema_not_ready("x"), "schema_not_ready", 503, 7),
            (
                CreditError::PurchaseNotCredited { message: "x".into(), payment_id: "cs_1".into() },
                "purchase_not_credited",
                500,
                1,
            ),
            (CreditError::internal("x"), "internal", 500, 1),
        ]
    }

    #[test]
    fn codes_statuses_and_exit_codes_match_the_contract_table() {
        let table = contract_table();
        assert_eq!(table.len(), ALL_CODES.len(), "every code is in the table");
        for ((error, code, status, exit), listed) in table.into_iter().zip(ALL_CODES) {
            assert_eq!(error.code(), code);
            assert_eq!(code, listed, "ALL_CODES keeps the contract's order");
            assert_eq!(error.http_status(), status, "{code}");
            assert_eq!(error.exit_code(), exit, "{code}");
        }
    }

    #[test]
    fn a_database_detail_never_reaches_the_body() {
        let error = CreditError::DatabaseUnavailable {
            message: "database unavailable".into(),
            detail: Some("relation \"users\" is locked".into()),
        };
        assert!(!error.to_json().to_string().contains("users"));
        assert_eq!(error.detail(), Some("relation \"users\" is locked"));
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
