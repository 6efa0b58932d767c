//! The contract's error object, `{"error": {"code", "message", …}}` (shared/API.md "Errors"): the
//! HTTP body, the CLI's `--json` output and the npm package's rejection carry the same fields.

use crate::core::error::CreditError;
use serde_json::{json, Map, Value};

pub fn of(error: &CreditError) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), json!(error.code()));
    body.insert("message".into(), json!(crate::core::api_key::redact(&error.to_string())));
    match error {
        CreditError::InsufficientCredits { balance, available, required } => {
            body.insert("balance".into(), json!(balance));
            body.insert("available".into(), json!(available));
            body.insert("required".into(), json!(required));
        }
        CreditError::HoldClosed { state } => {
            body.insert("state".into(), json!(state.as_str()));
        }
        CreditError::DailyLimitExceeded { limit, used, reset, retry_after }
        | CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after } => {
            body.insert("limit".into(), json!(limit));
            body.insert("used".into(), json!(used));
            body.insert("reset".into(), json!(reset.to_rfc3339()));
            body.insert("retry_after".into(), json!(retry_after));
        }
        CreditError::IdempotencyConflict { key } => {
            body.insert("idempotency_key".into(), json!(key));
        }
        CreditError::PayloadTooLarge { limit_bytes } => {
            body.insert("limit_bytes".into(), json!(limit_bytes));
        }
        CreditError::MethodNotAllowed { allow, .. } => {
            body.insert("allow".into(), json!(allow));
        }
        CreditError::PurchaseNotCredited { payment_id, .. } => {
            body.insert("payment_id".into(), json!(payment_id));
        }
        _ => {}
    }
    json!({ "error": Value::Object(body) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::Timestamp;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn limit_errors_carry_their_window_and_retry_after() {
        let reset = Timestamp::parse("2026-11-26T00:00:00Z").unwrap();
        let error = CreditError::DailyLimitExceeded { limit: 700, used: 700, reset, retry_after: 3600 };
        let body = of(&error);
        assert_eq!(body["error"]["code"], "daily_limit_exceeded");
        assert_eq!(body["error"]["reset"], "2026-11-26T00:00:00Z");
        assert_eq!(body["error"]["retry_after"], 3600);
        assert_eq!(error.retry_after(), Some(3600));
    }

    #[test]
    fn a_database_detail_never_reaches_the_body() {
        let error = CreditError::DatabaseUnavailable {
            message: "database unavailable".into(),
            detail: Some("relation \"users\" is locked".into()),
        };
        assert!(!of(&error).to_string().contains("users"));
        assert_eq!(error.detail(), Some("relation \"users\" is locked"));
    }
}
