//! The outcome row of a charge (consume, check, allocate) turned into the contract's result or
//! error, with limit windows computed by the core from the statement's own `now`.

use crate::core::account::{Account, AccountKind, AccountRef};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::window::{retry_after_seconds, Period, WindowUsage};
use crate::sql::row::{single, Row, Word};
use serde::Serialize;

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
    /// `balance` less the account's active holds: what the next consume may spend.
    pub available: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Limits {
    /// A key row's windows: its `daily_limit`, `daily_used`, `monthly_limit` and `monthly_used`
    /// columns (the counters already as of `now`'s windows, as every key statement selects them).
    pub fn read(row: &Row, now: Timestamp) -> Result<Self, CreditError> {
        let window = |period, limit: &str, used: &str| -> Result<WindowUsage, CreditError> {
            Ok(WindowUsage::current(period, row.opt_int(limit)?, row.int(used)?, Some(now), now))
        };
        Ok(Limits {
            daily: window(Period::Daily, "daily_limit", "daily_used")?,
            monthly: window(Period::Monthly, "monthly_limit", "monthly_used")?,
        })
    }

    /// The limited window that runs out first (smallest remaining), for the X-RateLimit-* headers.
    pub fn tightest(&self) -> Option<&WindowUsage> {
        [&self.daily, &self.monthly]
            .into_iter()
            .filter(|w| w.limit.is_some())
            .min_by_key(|w| w.remaining.unwrap_or(i64::MAX))
    }
}

/// The idempotency tail of every charge statement (consume, allocate): its outcome row is the
/// charge row `ChargeOutcome::read` decodes — `status`, then these columns.
macro_rules! charge_idempotent_tail {
    () => {
        crate::sql::idempotency::idempotent_tail!(
            transaction_id,
            charged_kind,
            charged_id,
            amount,
            balance,
            available,
            daily_limit,
            daily_used,
            monthly_limit,
            monthly_used,
            now,
            expires_at
        )
    };
}

pub(crate) use charge_idempotent_tail;

/// The facts of a charge as its statement reports them, typed; a replay carries the stored ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeFacts {
    pub charged: Account,
    pub amount: i64,
    pub balance: i64,
    /// `balance` less active holds (an outcome stored before holds existed has none: `balance`).
    pub available: i64,
    pub daily_limit: Option<i64>,
    pub daily_used: i64,
    pub monthly_limit: Option<i64>,
    pub monthly_used: i64,
    /// The statement's own clock: windows and resets are computed from it, never from the caller's.
    pub now: Timestamp,
    /// A hold's deadline (only a hold's statement reports one).
    pub expires_at: Option<Timestamp>,
}

/// Why a charge wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAMember,
    Unattributable,
    OutOfRange,
    InsufficientCredits,
    DailyLimitExceeded,
    MonthlyLimitExceeded,
}

/// Every outcome a charge statement (consume, check, allocate) can report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Written now (`transaction_id` is `None` only for `check`, which writes nothing).
    Charged {
        transaction_id: Option<String>,
        facts: ChargeFacts,
    },
    /// The stored outcome of the same request under the same idempotency key.
    Replayed {
        transaction_id: String,
        facts: ChargeFacts,
    },
    IdempotencyConflict,
    NotFound,
    Refused {
        refusal: Refusal,
        facts: ChargeFacts,
    },
    /// Nothing was debited, yet the row passed every check when the refusal read it: a credit
    /// landed in between. Nothing was written; the engine runs the statement again.
    Contended,
    /// The account has holds past their deadline that no statement closed yet: nothing was
    /// written; the engine closes them (`holds::settle`) and runs the statement again.
    Settle(Account),
}

/// The `status` column of a charge row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Replay,
    IdempotencyConflict,
    NotFound,
    Refused(Refusal),
    Contended,
    Settle,
}

impl Word for Status {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "ok" => Status::Ok,
            "replay" => Status::Replay,
            "idempotency_conflict" => Status::IdempotencyConflict,
            "not_found" => Status::NotFound,
            "contended" => Status::Contended,
            "settle" => Status::Settle,
            "not_a_member" => Status::Refused(Refusal::NotAMember),
            "unattributable" => Status::Refused(Refusal::Unattributable),
            "out_of_range" => Status::Refused(Refusal::OutOfRange),
            "insufficient_credits" => Status::Refused(Refusal::InsufficientCredits),
            "daily_limit_exceeded" => Status::Refused(Refusal::DailyLimitExceeded),
            "monthly_limit_exceeded" => Status::Refused(Refusal::MonthlyLimitExceeded),
            _ => return None,
        })
    }
}

impl ChargeFacts {
    fn read(row: &Row) -> Result<Self, CreditError> {
        let balance = row.int("balance")?;
        Ok(ChargeFacts {
            charged: Account { kind: row.word("charged_kind")?, id: row.owned("charged_id")? },
            amount: row.int("amount")?,
            balance,
            available: row.opt_int("available")?.unwrap_or(balance),
            daily_limit: row.opt_int("daily_limit")?,
            daily_used: row.opt_int("daily_used")?.unwrap_or(0),
            monthly_limit: row.opt_int("monthly_limit")?,
            monthly_used: row.opt_int("monthly_used")?.unwrap_or(0),
            now: row.timestamp("now")?,
            expires_at: match row.opt_text("expires_at")? {
                Some(_) => Some(row.timestamp("expires_at")?),
                None => None,
            },
        })
    }

    /// Both windows as of the statement's `now` (its counters are already normalised to them).
    fn limits(&self) -> Limits {
        Limits {
            daily: WindowUsage::current(Period::Daily, self.daily_limit, self.daily_used, Some(self.now), self.now),
            monthly: WindowUsage::current(
                Period::Monthly,
                self.monthly_limit,
                self.monthly_used,
                Some(self.now),
                self.now,
            ),
        }
    }
}

impl ChargeOutcome {
    /// Reads a charge statement's single row.
    pub fn read(operation: &str, rows: &[Row]) -> Result<Self, CreditError> {
        let row = single(operation, rows)?;
        Ok(match row.word::<Status>("status")? {
            Status::Ok => ChargeOutcome::Charged {
                transaction_id: row.opt_owned("transaction_id")?,
                facts: ChargeFacts::read(row)?,
            },
            Status::Replay => {
                ChargeOutcome::Replayed { transaction_id: row.owned("transaction_id")?, facts: ChargeFacts::read(row)? }
            }
            Status::IdempotencyConflict => ChargeOutcome::IdempotencyConflict,
            Status::NotFound => ChargeOutcome::NotFound,
            Status::Contended => ChargeOutcome::Contended,
            Status::Settle => {
                ChargeOutcome::Settle(Account { kind: row.word("charged_kind")?, id: row.owned("charged_id")? })
            }
            Status::Refused(refusal) => ChargeOutcome::Refused { refusal, facts: ChargeFacts::read(row)? },
        })
    }

    /// The contract's result or error. `writes` is false for `check`.
    pub fn into_result(self, idempotency_key: Option<&str>, writes: bool) -> Result<ChargeResult, CreditError> {
        match self {
            ChargeOutcome::Charged { transaction_id, facts } => {
                if writes && transaction_id.is_none() {
                    return Err(CreditError::internal("a charge that wrote reported no transaction_id"));
                }
                success(transaction_id.filter(|_| writes), facts, false, writes)
            }
            ChargeOutcome::Replayed { transaction_id, facts } => success(Some(transaction_id), facts, true, writes),
            ChargeOutcome::IdempotencyConflict => {
                Err(CreditError::IdempotencyConflict { key: idempotency_key.unwrap_or_default().to_string() })
            }
            ChargeOutcome::NotFound => Err(CreditError::not_found("no such account")),
            ChargeOutcome::Refused { refusal, facts } => Err(refusal_error(refusal, &facts)),
            ChargeOutcome::Contended | ChargeOutcome::Settle(_) => Err(CreditError::DatabaseUnavailable {
                message: "the account kept changing while it was being charged; nothing was written, retry".into(),
                detail: None,
            }),
        }
    }
}

fn success(
    transaction_id: Option<String>,
    facts: ChargeFacts,
    replayed: bool,
    writes: bool,
) -> Result<ChargeResult, CreditError> {
    let limits = facts.limits();
    // Postconditions the statement must have kept; a violation is a bug, never a user error.
    if writes
        && (facts.balance < 0
            || limits.daily.limit.is_some_and(|l| limits.daily.used > l)
            || facts.available < 0
            || limits.monthly.limit.is_some_and(|l| limits.monthly.used > l))
    {
        return Err(CreditError::internal(
            ["charge broke an invariant: balance ", &facts.balance.to_string(), " after ", &facts.charged.id].concat(),
        ));
    }
    Ok(ChargeResult {
        ok: true,
        transaction_id,
        replayed,
        charged: AccountRef::public(facts.charged.kind, &facts.charged.id),
        amount: facts.amount,
        balance: facts.balance,
        available: facts.available,
        limits: (facts.charged.kind == AccountKind::ApiKey).then_some(limits),
    })
}

/// A credit that would lift a balance past the seed's `integer` columns: refused whole, before
/// Postgres would fail the statement with an overflow.
pub fn out_of_range() -> CreditError {
    CreditError::invalid_amount(
        "the balance would exceed 2147483647, the largest the integer column holds; nothing was written",
    )
}

/// A team charged by the service, or granted to, with neither an owner nor a member to put on
/// the ledger row (`credit_transactions.user_id` is NOT NULL in the seed).
pub fn unattributable() -> CreditError {
    CreditError::invalid_request("the team has no owner_id and no members to attribute the ledger row to")
}

fn refusal_error(refusal: Refusal, facts: &ChargeFacts) -> CreditError {
    // A limit refusal reports its window as of the statement's own `now`.
    let limits = facts.limits();
    let limit_error = |window: &WindowUsage| {
        (window.limit.unwrap_or(0), window.used, window.reset, retry_after_seconds(facts.now, window.reset))
    };
    match refusal {
        Refusal::NotAMember => CreditError::forbidden(
            "this team key's owner is no longer a member of its team: it cannot spend or be funded from the team pool until they rejoin (its allowance is kept)",
        ),
        Refusal::Unattributable => unattributable(),
        Refusal::OutOfRange => out_of_range(),
        Refusal::InsufficientCredits => {
            CreditError::InsufficientCredits {
                balance: facts.balance,
                available: facts.available,
                required: facts.amount,
            }
        }
        Refusal::DailyLimitExceeded => {
            let (limit, used, reset, retry_after) = limit_error(&limits.daily);
            CreditError::DailyLimitExceeded { limit, used, reset, retry_after }
        }
        Refusal::MonthlyLimitExceeded => {
            let (limit, used, reset, retry_after) = limit_error(&limits.monthly);
            CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after }
        }
    }
}

/// Decodes a charge outcome. `writes` is false for `check`.
pub fn decode_charge(
    operation: &str,
    rows: &[Row],
    idempotency_key: Option<&str>,
    writes: bool,
) -> Result<ChargeResult, CreditError> {
    ChargeOutcome::read(operation, rows)?.into_result(idempotency_key, writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const KEY_CHARGE: [(&str, Option<&str>); 12] = [
        ("transaction_id", Some("ctx_1")),
        ("charged_kind", Some("api_key")),
        ("charged_id", Some("fltr_live_0123456789")),
        ("amount", Some("5")),
        ("balance", Some("95")),
        ("daily_limit", Some("700")),
        ("daily_used", Some("12")),
        ("monthly_limit", None),
        ("monthly_used", Some("12")),
        ("now", Some("2026-11-25 10:00:00")),
        ("available", Some("95")),
        ("expires_at", None),
    ];

    fn row(status: &str, changes: &[(&str, Option<&str>)]) -> Vec<Row> {
        let mut pairs = vec![("status", Some(status))];
        pairs.extend(KEY_CHARGE.iter().map(|(name, value)| {
            (*name, changes.iter().find(|(changed, _)| changed == name).map_or(*value, |(_, v)| *v))
        }));
        vec![Row::of(&pairs)]
    }

    #[test]
    fn an_ok_api_key_charge_carries_both_windows() {
        let result = decode_charge("consume", &row("ok", &[]), None, true).unwrap();
        let body = serde_json::to_value(&result).unwrap();
        assert_eq!(body["charged"]["id"], "fltr****6789");
        assert_eq!(body["limits"]["daily"]["remaining"], 688);
        assert_eq!(body["limits"]["daily"]["reset"], "2026-11-26T00:00:00Z");
        assert_eq!(body["limits"]["monthly"]["remaining"], serde_json::Value::Null);
        assert_eq!(body["limits"]["monthly"]["reset"], "2026-12-01T00:00:00Z");
        assert_eq!(result.limits.as_ref().and_then(Limits::tightest).unwrap().limit, Some(700));
        let replay = decode_charge("consume", &row("replay", &[]), None, true).unwrap();
        assert!(replay.replayed && replay.transaction_id.as_deref() == Some("ctx_1"));
    }

    #[test]
    fn refusals_become_contract_errors() {
        let base = [
            ("balance", Some("3")),
            ("daily_limit", Some("10")),
            ("daily_used", Some("10")),
            ("now", Some("2026-11-25 23:00:00")),
        ];
        let table = [
            ("insufficient_credits", "insufficient_credits", None),
            ("daily_limit_exceeded", "daily_limit_exceeded", Some(3600)),
            ("not_a_member", "forbidden", None),
            ("out_of_range", "invalid_amount", None),
            ("unattributable", "invalid_request", None),
        ];
        for (status, code, retry_after) in table {
            let error = decode_charge("consume", &row(status, &base), None, true).unwrap_err();
            assert_eq!(error.code(), code);
            assert_eq!(error.retry_after(), retry_after);
        }
        let bare = |status: &str| vec![Row::of(&[("status", Some(status))])];
        assert_eq!(decode_charge("consume", &bare("not_found"), None, true).unwrap_err().code(), "not_found");
        assert_eq!(
            decode_charge("consume", &bare("idempotency_conflict"), Some("k"), true).unwrap_err().code(),
            "idempotency_conflict"
        );
        assert_eq!(decode_charge("consume", &[], None, true).unwrap_err().code(), "internal");
    }

    #[test]
    fn a_row_the_decoder_does_not_understand_is_internal() {
        for broken in [
            row("paid", &[]),
            row("ok", &[("balance", None)]),
            row("ok", &[("transaction_id", None)]),
            row("replay", &[("transaction_id", None)]),
            row("ok", &[("charged_kind", Some("wallet"))]),
            row("ok", &[("amount", Some("5.0"))]),
            row("ok", &[("now", Some("yesterday"))]),
        ] {
            assert_eq!(decode_charge("consume", &broken, None, true).unwrap_err().code(), "internal", "{broken:?}");
        }
    }

    #[test]
    fn an_outcome_that_broke_an_invariant_is_an_internal_error() {
        let broken = row("ok", &[("daily_limit", Some("10")), ("daily_used", Some("11"))]);
        assert_eq!(decode_charge("consume", &broken, None, true).unwrap_err().code(), "internal");
    }
}
