//! Holds' pure rules: their states, how long one may live, and how its id looks.

use crate::core::error::CreditError;
use crate::core::validate::Amount;
use serde::Serialize;
use serde_json::Value;

/// Without `ttl_seconds` a hold lives 15 minutes; at most a day (API.md "Holds"): long enough for a
/// document run or an LLM call, short enough that an abandoned hold does not freeze an account.
pub const DEFAULT_TTL_SECONDS: i64 = 900;
pub const MAX_TTL_SECONDS: i64 = 86_400;

/// A hold's life: `active` until captured, released or past its `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Captured,
    Released,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Active => "active",
            HoldState::Captured => "captured",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "active" => HoldState::Active,
            "captured" => HoldState::Captured,
            "released" => HoldState::Released,
            "expired" => HoldState::Expired,
            _ => return None,
        })
    }
}

/// `ttl_seconds`: 1 to a day, default 15 minutes.
pub fn ttl_seconds(value: Option<i64>) -> Result<i64, CreditError> {
    match value {
        None => Ok(DEFAULT_TTL_SECONDS),
        Some(seconds) if (1..=MAX_TTL_SECONDS).contains(&seconds) => Ok(seconds),
        Some(_) => Err(CreditError::invalid_request(format!(
            "ttl_seconds must be an integer from 1 to {MAX_TTL_SECONDS} (default {DEFAULT_TTL_SECONDS})"
        ))),
    }
}

/// A capture's `amount`: 0 (nothing was used) or a positive amount (at most the held amount,
/// which only the statement knows).
pub fn capture_amount(value: &Value) -> Result<i64, CreditError> {
    if value.as_u64() == Some(0) || value.as_f64() == Some(0.0) {
        return Ok(0);
    }
    Amount::from_json(value).map(Amount::get).map_err(capture_amount_error)
}

/// The same from a CLI argument.
pub fn parse_capture_amount(text: &str) -> Result<i64, CreditError> {
    if text.trim() == "0" {
        return Ok(0);
    }
    Amount::parse(text).map(Amount::get).map_err(capture_amount_error)
}

fn capture_amount_error(error: CreditError) -> CreditError {
    match error {
        CreditError::InvalidAmount { .. } => {
            CreditError::invalid_amount("amount must be an integer from 0 to the held amount")
        }
        other => other,
    }
}

/// A hold id as the statements write it (`hold_` + 32 hex). Anything else is `not_found` without a
/// lookup, so no other value ever reaches SQL text in a hold's place.
pub fn hold_id(value: &str) -> Result<&str, CreditError> {
    let hex = value.strip_prefix("hold_").unwrap_or("");
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        Ok(value)
    } else {
        Err(CreditError::not_found("no such hold"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ttl_defaults_and_bounds() {
        assert_eq!(ttl_seconds(None).unwrap(), 900);
        assert_eq!(ttl_seconds(Some(1)).unwrap(), 1);
        assert_eq!(ttl_seconds(Some(86_400)).unwrap(), 86_400);
        for bad in [0, -1, 86_401, i64::MAX] {
            assert_eq!(ttl_seconds(Some(bad)).unwrap_err().code(), "invalid_request");
        }
    }

    #[test]
    fn hold_ids_are_checked_before_any_lookup() {
        assert!(hold_id("hold_0123456789abcdef0123456789abcdef").is_ok());
        for bad in
            ["", "hold_", "hold_0123456789ABCDEF0123456789abcdef", "ctx_0123456789abcdef0123456789abcdef", "hold_x'--"]
        {
            assert_eq!(hold_id(bad).unwrap_err().code(), "not_found", "{bad}");
        }
    }

    #[test]
    fn a_capture_may_take_nothing_but_never_less() {
        assert_eq!(capture_amount(&serde_json::json!(0)).unwrap(), 0);
        assert_eq!(capture_amount(&serde_json::json!(0.0)).unwrap(), 0);
        assert_eq!(capture_amount(&serde_json::json!(42)).unwrap(), 42);
        for bad in [serde_json::json!(-1), serde_json::json!(1.5), serde_json::json!("5"), serde_json::json!(-0.5)] {
            assert_eq!(capture_amount(&bad).unwrap_err().code(), "invalid_amount", "{bad}");
        }
        assert_eq!(parse_capture_amount("0").unwrap(), 0);
        assert_eq!(parse_capture_amount("-3").unwrap_err().code(), "invalid_amount");
    }

    #[test]
    fn states_round_trip() {
        for state in [HoldState::Active, HoldState::Captured, HoldState::Released, HoldState::Expired] {
            assert_eq!(HoldState::from_word(state.as_str()), Some(state));
        }
    }
}
