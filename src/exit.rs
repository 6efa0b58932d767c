//! The CLI's exit codes (shared/API.md's table, exit column), for the native and npm CLIs alike.

use crate::core::error::CreditError;

/// `verify`, `migrate` and `reconcile` with drift left, `generate --check` out of sync (an
/// extension of API.md's table; 1 stays reserved for `internal`).
pub const DRIFT: i32 = 8;

pub fn code(error: &CreditError) -> i32 {
    match error {
        CreditError::Internal { .. } | CreditError::PurchaseNotCredited { .. } => 1,
        CreditError::InsufficientCredits { .. }
        | CreditError::DailyLimitExceeded { .. }
        | CreditError::MonthlyLimitExceeded { .. } => 3,
        CreditError::IdempotencyConflict { .. } | CreditError::ApiKeyRevoked | CreditError::HoldClosed { .. } => 4,
        CreditError::NotFound { .. } => 5,
        CreditError::DatabaseUnavailable { .. } => 6,
        CreditError::SchemaNotReady { .. } => 7,
        CreditError::InvalidRequest { .. }
        | CreditError::InvalidAmount { .. }
        | CreditError::Unauthenticated { .. }
        | CreditError::Forbidden { .. }
        | CreditError::MethodNotAllowed { .. }
        | CreditError::PayloadTooLarge { .. }
        | CreditError::UnsupportedMediaType { .. }
        | CreditError::InvalidSignature { .. } => 2,
    }
}
