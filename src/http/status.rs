//! Each error code's HTTP status (shared/API.md's table, HTTP column).

use crate::core::error::CreditError;

pub fn of(error: &CreditError) -> u16 {
    match error {
        CreditError::InvalidRequest { .. }
        | CreditError::InvalidAmount { .. }
        | CreditError::InvalidSignature { .. } => 400,
        CreditError::Unauthenticated { .. } => 401,
        CreditError::InsufficientCredits { .. } => 402,
        CreditError::Forbidden { .. } => 403,
        CreditError::NotFound { .. } => 404,
        CreditError::MethodNotAllowed { .. } => 405,
        CreditError::IdempotencyConflict { .. } | CreditError::ApiKeyRevoked | CreditError::HoldClosed { .. } => 409,
        CreditError::PayloadTooLarge { .. } => 413,
        CreditError::UnsupportedMediaType { .. } => 415,
        CreditError::DailyLimitExceeded { .. } | CreditError::MonthlyLimitExceeded { .. } => 429,
        CreditError::DatabaseUnavailable { .. } | CreditError::SchemaNotReady { .. } => 503,
        CreditError::Internal { .. } | CreditError::PurchaseNotCredited { .. } => 500,
    }
}

#[cfg(test)]
mod tests {
    use crate::core::error::{CreditError, ALL_CODES};
    use crate::core::time::Timestamp;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The contract's table, written once: every code with its HTTP status and CLI exit code, in
    /// the precedence order API.md lists them.
    fn contract_table() -> Vec<(CreditError, &'static str, u16, i32)> {
        let reset = Timestamp::parse("2026-11-26T00:00:00Z").unwrap();
        let (limit, used, retry_after) = (10, 10, 60);
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
            (CreditError::ApiKeyRevoked, "api_key_revoked", 409, 4),
            (CreditError::HoldClosed { state: crate::core::hold::HoldState::Expired }, "hold_closed", 409, 4),
            (CreditError::PayloadTooLarge { limit_bytes: 1 }, "payload_too_large", 413, 2),
            (CreditError::UnsupportedMediaType { message: "x".into() }, "unsupported_media_type", 415, 2),
            (
                CreditError::InsufficientCredits { balance: 3, available: 3, required: 5 },
                "insufficient_credits",
                402,
                3,
            ),
            (CreditError::DailyLimitExceeded { limit, used, reset, retry_after }, "daily_limit_exceeded", 429, 3),
            (CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after }, "monthly_limit_exceeded", 429, 3),
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
    fn every_code_maps_to_its_status_and_exit_code_in_the_contracts_order() {
        let table = contract_table();
        assert_eq!(table.len(), ALL_CODES.len(), "every code is in the table");
        for ((error, code, status, exit), listed) in table.into_iter().zip(ALL_CODES) {
            assert_eq!(error.code(), code);
            assert_eq!(code, listed, "ALL_CODES keeps the contract's order");
            assert_eq!(super::of(&error), status, "{code}");
            assert_eq!(crate::exit::code(&error), exit, "{code}");
        }
    }
}
