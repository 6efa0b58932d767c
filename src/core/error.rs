//! Every failure a caller can see, with the stable machine code of `shared/API.md`.
//!
//! Codes are part of the public contract: a code is never renamed or reused. Variants are listed in
//! the order a request is checked (input before authentication before accounts before funds), so a
//! request with several faults always reports the first one. What a code means on each surface is
//! mapped at that surface: HTTP status and the error object in `http::status` / `http::error_body`,
//! the CLI's exit code in `exit`, the JS error in `adapters::js::convert`.

use crate::core::hold::HoldState;
use crate::core::time::Timestamp;

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
    /// Extension of API.md: update or rotate of a revoked API key (a revoke is final).
    #[error("this API key was revoked: it cannot be changed or rotated; create a new one")]
    ApiKeyRevoked,
    /// Capture or release of a hold that is no longer active (`state` says why).
    #[error("this hold is {}: it can no longer be captured or released", state.as_str())]
    HoldClosed { state: HoldState },
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u32 },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// `available` is `balance` less the account's active holds (API.md "Holds").
    #[error("insufficient credits: available {available} (balance {balance}), required {required}")]
    InsufficientCredits { balance: i64, available: i64, required: i64 },
    #[error("daily limit of {limit} credits reached ({used} used); resets at {}", reset.to_rfc3339())]
    DailyLimitExceeded { limit: i64, used: i64, reset: Timestamp, retry_after: i64 },
    #[error("monthly limit of {limit} credits reached ({used} used); resets at {}", reset.to_rfc3339())]
    MonthlyLimitExceeded { limit: i64, used: i64, reset: Timestamp, retry_after: i64 },
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
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::HoldClosed { .. } => "hold_closed",
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

    /// Seconds a client should wait before retrying (the `Retry-After` header), where that applies.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::DailyLimitExceeded { retry_after, .. } | Self::MonthlyLimitExceeded { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

/// Every code, in precedence order; used by tests and by generated documentation.
pub const ALL_CODES: [&str; 19] = [
    "invalid_request",
    "invalid_amount",
    "unauthenticated",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "idempotency_conflict",
    "api_key_revoked",
    "hold_closed",
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
