//! API.md's rate-limit headers: `X-RateLimit-Limit/Remaining/Reset` (unix seconds) for the
//! tightest limited window of an API key, and `Retry-After` on a 429. Empty when no limit applies.
//! The HTTP answer carries them; the npm package's `limitHeaders()` returns the same pairs.

use crate::core::error::CreditError;
use crate::sql::outcome::{ChargeResult, Limits};

pub type Headers = Vec<(&'static str, String)>;

/// For a successful charge or check.
pub fn for_result(result: &ChargeResult) -> Headers {
    result.limits.as_ref().map(for_limits).unwrap_or_default()
}

/// For a key's windows (the npm package's `limitHeaders` reads them from a result object).
pub fn for_limits(limits: &Limits) -> Headers {
    match limits.tightest() {
        Some(window) => vec![
            ("X-RateLimit-Limit", window.limit.unwrap_or(0).to_string()),
            ("X-RateLimit-Remaining", window.remaining.unwrap_or(0).to_string()),
            ("X-RateLimit-Reset", window.reset.unix_seconds().to_string()),
        ],
        None => Vec::new(),
    }
}

/// For a refusal: only the limit errors carry headers.
pub fn for_error(error: &CreditError) -> Headers {
    match error {
        CreditError::DailyLimitExceeded { limit, reset, retry_after, .. }
        | CreditError::MonthlyLimitExceeded { limit, reset, retry_after, .. } => vec![
            ("X-RateLimit-Limit", limit.to_string()),
            ("X-RateLimit-Remaining", "0".to_string()),
            ("X-RateLimit-Reset", reset.unix_seconds().to_string()),
            ("Retry-After", retry_after.to_string()),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::Timestamp;
    use crate::sql::outcome::decode_charge;
    use crate::sql::row::Row;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn headers_follow_the_tightest_window_and_429_adds_retry_after() {
        let rows = [Row::of(&[
            ("status", Some("ok")),
            ("transaction_id", Some("t")),
            ("charged_kind", Some("api_key")),
            ("charged_id", Some("k")),
            ("amount", Some("1")),
            ("balance", Some("9")),
            ("available", Some("9")),
            ("expires_at", None),
            ("daily_limit", Some("100")),
            ("daily_used", Some("90")),
            ("monthly_limit", Some("1000")),
            ("monthly_used", Some("995")),
            ("now", Some("2026-11-25 10:00:00")),
        ])];
        let result = decode_charge("consume", &rows, None, true).unwrap();
        let headers = for_result(&result);
        assert_eq!(headers[0], ("X-RateLimit-Limit", "1000".to_string()), "monthly has 5 left, daily 10");
        assert_eq!(headers[1].1, "5");
        assert_eq!(headers[2].1, Timestamp::parse("2026-12-01T00:00:00Z").unwrap().unix_seconds().to_string());
        let reset = Timestamp::parse("2026-11-26T00:00:00Z").unwrap();
        let error = CreditError::DailyLimitExceeded { limit: 10, used: 10, reset, retry_after: 50400 };
        let headers = for_error(&error);
        assert_eq!(headers.last().unwrap(), &("Retry-After", "50400".to_string()));
        assert_eq!(headers[2].1, reset.unix_seconds().to_string());
        assert!(for_error(&CreditError::not_found("x")).is_empty());
    }
}
