//! The outcome row of a charge (consume, check, allocate) turned into the contract's result or
//! error, with limit windows computed by the core from the statement's own `now`.

use crate::core::account::{AccountKind, AccountRef};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::window::{retry_after_seconds, Period, WindowUsage};
use crate::sql::statement::single_row;
use serde::{Deserialize, Serialize};

/// What a charge statement reports; a replay carries the original facts in `original`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChargeFacts {
    pub status: String,
    pub transaction_id: Option<String>,
    pub charged_kind: Option<AccountKind>,
    pub charged_id: Option<String>,
    pub amount: Option<i64>,
    pub balance: Option<i64>,
    pub daily_limit: Option<i64>,
    pub daily_used: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub monthly_used: Option<i64>,
    pub now: Option<String>,
    pub original: Option<Box<ChargeFacts>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub daily: WindowUsage,
    pub monthly: WindowUsage,
}

/// API.md "Consume / check result".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub replayed: bool,
    pub charged: AccountRef,
    pub amount: i64,
    pub balance: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Limits {
    /// The limited window that runs out first (smallest remaining), for the X-RateLimit-* headers.
    pub fn tightest(&self) -> Option<&WindowUsage> {
        [&self.daily, &self.monthly]
            .into_iter()
            .filter(|w| w.limit.is_some())
            .min_by_key(|w| w.remaining.unwrap_or(i64::MAX))
    }
}

fn missing(field: &str) -> CreditError {
    CreditError::internal(format!("charge outcome lacks {field}"))
}

fn windows(facts: &ChargeFacts, now: Timestamp) -> (WindowUsage, WindowUsage) {
    // Counters in the facts are already normalised to the current windows by the statement.
    let daily = WindowUsage::current(Period::Daily, facts.daily_limit, facts.daily_used.unwrap_or(0), Some(now), now);
    let monthly =
        WindowUsage::current(Period::Monthly, facts.monthly_limit, facts.monthly_used.unwrap_or(0), Some(now), now);
    (daily, monthly)
}

fn success(facts: &ChargeFacts, replayed: bool, writes: bool) -> Result<ChargeResult, CreditError> {
    let now = Timestamp::parse(facts.now.as_deref().ok_or_else(|| missing("now"))?)?;
    let kind = facts.charged_kind.ok_or_else(|| missing("charged_kind"))?;
    let id = facts.charged_id.as_deref().ok_or_else(|| missing("charged_id"))?;
    let balance = facts.balance.ok_or_else(|| missing("balance"))?;
    let (daily, monthly) = windows(facts, now);
    // Postconditions the statement must have kept; a violation is a bug, never a user error.
    if writes
        && (balance < 0
            || daily.limit.is_some_and(|l| daily.used > l)
            || monthly.limit.is_some_and(|l| monthly.used > l))
    {
        return Err(CreditError::internal(format!(
            "charge broke an invariant: balance {balance}, daily {daily:?}, monthly {monthly:?}"
        )));
    }
    if writes && facts.transaction_id.is_none() {
        return Err(missing("transaction_id"));
    }
    Ok(ChargeResult {
        ok: true,
        transaction_id: if writes { facts.transaction_id.clone() } else { None },
        replayed,
        charged: AccountRef::public(kind, id),
        amount: facts.amount.ok_or_else(|| missing("amount"))?,
        balance,
        limits: (kind == AccountKind::ApiKey).then_some(Limits { daily, monthly }),
    })
}

/// A credit that would lift a balance past the seed's `integer` columns: refused whole, before
/// Postgres would fail the statement with an overflow.
pub fn out_of_range() -> CreditError {
    CreditError::invalid_amount(format!(
        "the balance would exceed {}, the largest the integer column holds; nothing was written",
        i32::MAX
    ))
}

/// A team charged by the service, or granted to, with neither an owner nor a member to put on
/// the ledger row (`credit_transactions.user_id` is NOT NULL in the seed).
pub fn unattributable() -> CreditError {
    CreditError::invalid_request("the team has no owner_id and no members to attribute the ledger row to")
}

fn refusal(facts: &ChargeFacts) -> Result<CreditError, CreditError> {
    // A limit refusal reports its window as of the statement's own `now`.
    let limit_error = |period: Period| -> Result<(i64, i64, Timestamp, i64), CreditError> {
        let now = Timestamp::parse(facts.now.as_deref().ok_or_else(|| missing("now"))?)?;
        let (daily, monthly) = windows(facts, now);
        let window = if period == Period::Daily { daily } else { monthly };
        Ok((window.limit.unwrap_or(0), window.used, window.reset, retry_after_seconds(now, window.reset)))
    };
    Ok(match facts.status.as_str() {
        "not_a_member" => CreditError::forbidden(
            "this team key's owner is no longer a member of its team: it cannot spend or be funded from the team pool until they rejoin (its allowance is kept)",
        ),
        "unattributable" => unattributable(),
        "out_of_range" => out_of_range(),
        "insufficient_credits" => CreditError::InsufficientCredits {
            balance: facts.balance.ok_or_else(|| missing("balance"))?,
            required: facts.amount.ok_or_else(|| missing("amount"))?,
        },
        "daily_limit_exceeded" => {
            let (limit, used, reset, retry_after) = limit_error(Period::Daily)?;
            CreditError::DailyLimitExceeded { limit, used, reset, retry_after }
        }
        "monthly_limit_exceeded" => {
            let (limit, used, reset, retry_after) = limit_error(Period::Monthly)?;
            CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after }
        }
        other => return Err(CreditError::internal(format!("unknown charge status {other:?}"))),
    })
}

/// Decodes a charge outcome. `writes` is false for `check`.
pub fn decode_charge(
    operation: &str,
    rows: &[String],
    idempotency_key: Option<&str>,
    writes: bool,
) -> Result<ChargeResult, CreditError> {
    let facts: ChargeFacts = single_row(operation, rows)?;
    match facts.status.as_str() {
        "ok" => success(&facts, false, writes),
        "replay" => success(facts.original.as_deref().ok_or_else(|| missing("original"))?, true, writes),
        "idempotency_conflict" => {
            Err(CreditError::IdempotencyConflict { key: idempotency_key.unwrap_or_default().to_string() })
        }
        "not_found" => Err(CreditError::not_found("no such account")),
        _ => Err(refusal(&facts)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn row(json: &str) -> Vec<String> {
        vec![json.to_string()]
    }

    #[test]
    fn an_ok_api_key_charge_carries_both_windows() {
        let result = decode_charge(
            "consume",
            &row(r#"{"status":"ok","transaction_id":"ctx_1","charged_kind":"api_key","charged_id":"fltr_live_0123456789","amount":5,"balance":95,"daily_limit":700,"daily_used":12,"monthly_limit":null,"monthly_used":12,"now":"2026-11-25 10:00:00"}"#),
            None,
            true,
        )
        .unwrap();
        let body = serde_json::to_value(&result).unwrap();
        assert_eq!(body["charged"]["id"], "fltr****6789");
        assert_eq!(body["limits"]["daily"]["remaining"], 688);
        assert_eq!(body["limits"]["daily"]["reset"], "2026-11-26T00:00:00Z");
        assert_eq!(body["limits"]["monthly"]["remaining"], serde_json::Value::Null);
        assert_eq!(body["limits"]["monthly"]["reset"], "2026-12-01T00:00:00Z");
        assert_eq!(result.limits.as_ref().and_then(Limits::tightest).unwrap().limit, Some(700));
    }

    #[test]
    fn refusals_by_precedence_become_contract_errors() {
        let base = r#""charged_kind":"api_key","charged_id":"k","amount":5,"balance":3,"daily_limit":10,"daily_used":10,"monthly_limit":null,"monthly_used":0,"now":"2026-11-25 23:00:00""#;
        let table = [
            ("insufficient_credits", "insufficient_credits", None),
            ("daily_limit_exceeded", "daily_limit_exceeded", Some(3600)),
        ];
        for (status, code, retry_after) in table {
            let error =
                decode_charge("consume", &row(&format!(r#"{{"status":"{status}",{base}}}"#)), None, true).unwrap_err();
            assert_eq!(error.code(), code);
            assert_eq!(error.retry_after(), retry_after);
        }
        assert_eq!(
            decode_charge("consume", &row(r#"{"status":"not_found"}"#), None, true).unwrap_err().code(),
            "not_found"
        );
        assert_eq!(
            decode_charge("consume", &row(r#"{"status":"idempotency_conflict"}"#), Some("k"), true).unwrap_err().code(),
            "idempotency_conflict"
        );
        assert_eq!(decode_charge("consume", &[], None, true).unwrap_err().code(), "internal");
    }

    #[test]
    fn an_outcome_that_broke_an_invariant_is_an_internal_error() {
        let json = r#"{"status":"ok","transaction_id":"t","charged_kind":"api_key","charged_id":"k","amount":5,"balance":5,"daily_limit":10,"daily_used":11,"monthly_limit":null,"monthly_used":0,"now":"2026-11-25 10:00:00"}"#;
        assert_eq!(decode_charge("consume", &row(json), None, true).unwrap_err().code(), "internal");
    }
}
