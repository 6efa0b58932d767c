//! Expiring credits (API.md "Expiring credits"): a grant may carry a deadline; its credits are a
//! *block* spent before every block that expires later and before credits that never expire, and
//! what is left of it at the deadline expires, with one `expiration` ledger row.
//!
//! Invariants, kept by every statement that touches an account (`sql::ops::expiring`):
//! - `balance == Σ ledger` once due expirations are written: an expiration is a ledger row.
//! - On each account row the live blocks are three parallel arrays sorted by (deadline, id):
//!   `expiring_ids` (the granting ledger row's id), `expiring_at`, `expiring_left` (unspent and
//!   unheld). `credits - held_credits - Σ expiring_left` is the part that never expires, never
//!   negative.
//! - For every block, Σ over the account's ledger rows of their `expiring` effect on it (signed
//!   as the row's amount) less what its active holds took from it equals its `expiring_left` while
//!   it is on the row, and 0 once it has expired.
//! - No debit spends a block at or past its deadline: a debit that finds one on its row answers
//!   `settle`, and the engine expires it (and closes expired holds) before running it again.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use serde::Serialize;

/// The furthest a grant's deadline may lie ahead: ten years, as for API keys.
pub const DEADLINE_MAX_SECONDS: i64 = crate::core::api_key::EXPIRY_MAX_SECONDS;

/// A grant's `expires_at`: RFC 3339 UTC, strictly after `now` (a grant already expired would
/// credit nothing spendable), at most ten years ahead.
pub fn deadline(text: &str, now: Timestamp) -> Result<Timestamp, CreditError> {
    let at = Timestamp::parse(text).map_err(|_| {
        CreditError::invalid_request("expires_at must be an RFC 3339 UTC time, e.g. 2027-01-01T00:00:00Z")
    })?;
    if at <= now {
        return Err(CreditError::invalid_request("expires_at must be in the future"));
    }
    if at.0 - now.0 > DEADLINE_MAX_SECONDS * 1_000_000 {
        return Err(CreditError::invalid_request("expires_at must be at most ten years ahead"));
    }
    Ok(at)
}

/// What is left of one block, as balances show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub amount: i64,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// Reads the statements' compact list `amount@timestamp;…` (soonest first; empty: none).
pub fn parse_list(text: Option<&str>) -> Result<Vec<Expiring>, CreditError> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(';')
        .map(|part| {
            let (amount, at) = part
                .split_once('@')
                .ok_or_else(|| CreditError::internal(format!("unreadable expiring block {part:?}")))?;
            let amount =
                amount.parse().map_err(|_| CreditError::internal(format!("unreadable expiring amount {amount:?}")))?;
            Ok(Expiring { amount, expires_at: Timestamp::parse(at)? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const NOW: Timestamp = Timestamp(1_764_547_200_000_000); // 2025-12-01T00:00:00Z

    #[test]
    fn a_deadline_must_lie_ahead() {
        assert_eq!(deadline("2025-12-01T00:00:01Z", NOW).unwrap(), NOW.plus_millis(1000));
        for bad in ["2025-12-01T00:00:00Z", "2025-11-30T23:59:59Z", "tomorrow", "2040-01-01T00:00:00Z"] {
            assert_eq!(deadline(bad, NOW).unwrap_err().code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn the_list_reads_back_soonest_first() {
        let list = parse_list(Some("50@2025-12-02 00:00:00;7@2025-12-08 12:00:00.5")).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], Expiring { amount: 50, expires_at: Timestamp(NOW.0 + 86_400_000_000) });
        assert_eq!(list[1].amount, 7);
        assert!(parse_list(None).unwrap().is_empty());
        assert!(parse_list(Some("")).unwrap().is_empty());
        assert_eq!(parse_list(Some("x@y")).unwrap_err().code(), "internal");
    }
}
