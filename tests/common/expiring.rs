//! Shared by the expiring-credits tests: a grant with or without a deadline.
#![allow(dead_code)]

use super::holds::at;
use fltr_credits::core::account::Account;
use fltr_credits::core::validate::Amount;
use fltr_credits::sql::ops::grant::GrantRequest;

/// A grant of `amount` to `account`, expiring at `expires_at` (RFC 3339) when given.
pub fn grant(account: Account, amount: i64, expires_at: Option<&str>) -> GrantRequest {
    GrantRequest {
        account,
        amount: Amount::new(amount).unwrap(),
        operation: None,
        metadata: None,
        idempotency_key: None,
        expires_at: expires_at.map(at),
    }
}
