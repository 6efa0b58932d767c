//! Closing a hold, in one statement: `capture` (what the work really cost: one `usage` ledger row
//! of that amount, the rest given back) or `release` (the service gives it all back). Either way the
//! hold leaves `active` exactly once: it is locked first, then its account, and a second close
//! finds it closed (`hold_closed` with its state).
//!
//! What the hold took from expiring blocks is captured soonest-expiring first (the `usage` row
//! records it), but never from a block past its deadline: what it took from one expires, and a
//! capture of more than the rest of the hold takes the difference from the account's credits that
//! never expire (`insufficient_credits` when they fall short). What goes back to a live block is
//! spendable again; what goes back to a block past its deadline expires in the same statement,
//! with an `expiration` row.
//!
//! Locks follow the order every statement keeps: user rows first (`FOR UPDATE` for a personal
//! hold's pool, the maker's `FOR SHARE` for a team or team-key hold), a key's row before its holds,
//! then the hold, then a team's row. A hold past its deadline is not locked (it is `expired`, whatever its row
//! still says); a debit that stopped counting it has closed it already, in its own statement.
//!
//! The ledger row carries the hold's metadata plus `hold_id`, appended to the object's text (the
//! open stored it as serde_json wrote it: one object, `{…}`), never parsed again: Postgres' jsonb
//! refuses text a JSON object may hold (an escaped NUL), which must not make a hold uncapturable.
//! A `hold_id` of the caller's is overridden: JSON readers keep the last of duplicate keys.

use crate::core::account::{Account, AccountRef};
use crate::core::error::CreditError;
use crate::core::hold::HoldState;
use crate::core::idempotency::request_hash;
use crate::core::time::Timestamp;
use crate::sql::idempotency::idempotent_tail;
use crate::sql::ops::expiring::{blocks_store, blocks_total, expire_returned, record_part, record_split, record_total};
use crate::sql::ops::holds::expired_holds;
use crate::sql::outcome::Limits;
use crate::sql::row::{single, Row, Word};
use crate::sql::statement::Statement;
use serde::Serialize;

/// The holds an actor (`$kind`, `$id`) may see and close, alias `h`: the service any; an end user
/// only the holds they opened themselves (`opened_by`). A hold the service opened for a user is
/// the service's to close: otherwise the user could capture it at 0 before the backend that ran
/// the job charges it — deciding their own cost, which only the service may (API.md "Who may do
/// what").
macro_rules! hold_of_actor {
    ($kind:literal, $id:literal) => {
        concat!(
            "(",
            $kind,
            "::text = 'service' OR (",
            $kind,
            "::text = 'user' AND h.opened_by = 'user' AND h.user_id = ",
            $id,
            "::text) OR (",
            $kind,
            "::text = 'api_key' AND h.opened_by = 'api_key' AND h.api_key_id = ",
            $id,
            "::text))"
        )
    };
}

pub(crate) use hold_of_actor;

/// Parameters: `$1` hold id, `$2` amount to capture (NULL: all of it; release: 0), `$3` `capture` |
/// `release`, `$4`/`$5` the actor (`service` | `user` | `api_key`, and its id), `$6` now, `$7` the
/// idempotency key as stored, `$8` the request's fingerprint.
pub const SQL: &str = concat!(
    r#"WITH seen AS (
  SELECT h.id, h.account_kind, h.account_id, h.user_id, h.team_id FROM credit_holds h WHERE h.id = $1::text AND "#,
    hold_of_actor!("$4", "$5"),
    r#"
), prior AS (
  SELECT i.request_hash = $8::text AS same, i.response FROM credit_idempotency_keys i, seen v
  WHERE $7::text IS NOT NULL AND i.account_kind = v.account_kind AND i.account_id = v.account_id
    AND i.idempotency_key = $7::text
), owner_row AS (
  SELECT u.id FROM users u, seen v
  WHERE v.account_kind = 'user' AND u.id = v.account_id AND NOT EXISTS (SELECT 1 FROM prior)
  FOR UPDATE OF u
), member AS (
  SELECT o.id FROM users o, seen v
  WHERE v.team_id IS NOT NULL AND o.id = v.user_id AND o.team_id = v.team_id AND NOT EXISTS (SELECT 1 FROM prior)
  FOR SHARE OF o
), key_row AS (
  SELECT k.api_key FROM api_key_credits k, seen v
  WHERE v.account_kind = 'api_key' AND k.api_key = v.account_id AND NOT EXISTS (SELECT 1 FROM prior)
    AND (SELECT count(*) FROM member) >= 0
  FOR UPDATE OF k
), hold AS (
  SELECT h.* FROM credit_holds h, seen v
  WHERE h.id = v.id AND (h.state <> 'active' OR h.expires_at > $6::timestamp) AND NOT EXISTS (SELECT 1 FROM prior)
    AND (SELECT count(*) FROM owner_row) + (SELECT count(*) FROM member) + (SELECT count(*) FROM key_row) >= 0
  FOR UPDATE OF h
), locked_user AS (
  SELECT u.id, u.credits, u.held_credits, "#,
    blocks_total!("u"),
    r#" AS blocks FROM users u, hold v
  WHERE v.state = 'active' AND v.account_kind = 'user' AND u.id = v.account_id FOR UPDATE OF u
), locked_team AS (
  SELECT tm.id, tm.credits, tm.held_credits, "#,
    blocks_total!("tm"),
    r#" AS blocks FROM teams tm, hold v
  WHERE v.state = 'active' AND v.account_kind = 'team' AND tm.id = v.account_id FOR UPDATE OF tm
), locked_key AS (
  SELECT k.api_key AS id, k.credits, k.held_credits, "#,
    blocks_total!("k"),
    r#" AS blocks FROM api_key_credits k, hold v
  WHERE v.state = 'active' AND v.account_kind = 'api_key' AND k.api_key = v.account_id FOR UPDATE OF k
), pool AS (
  SELECT id, credits, held_credits, blocks FROM locked_user
  UNION ALL SELECT id, credits, held_credits, blocks FROM locked_team
  UNION ALL SELECT id, credits, held_credits, blocks FROM locked_key
), wanted AS (
  SELECT v.*, CASE WHEN $3::text = 'release' THEN 0 ELSE coalesce($2::int, v.amount) END AS to_capture,
    v.amount - "#,
    record_total!("v.expiring"),
    r#" AS never_held, "#,
    record_total!(record_part!("v.expiring", "$6", live)),
    r#" AS live_held
  FROM hold v
), decision AS (
  SELECT v.id, v.account_kind, v.account_id, v.amount, p.credits, v.to_capture AS captured,
    CASE WHEN v.state <> 'active' THEN v.state
      WHEN $3::text = 'capture' AND coalesce($2::int, v.amount) > v.amount THEN 'over_capture'
      WHEN $3::text = 'capture' AND $4::text <> 'service' AND v.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM member)
        THEN 'not_a_member'
      WHEN p.id IS NULL THEN 'account_gone'
      WHEN $3::text = 'capture' AND p.credits < v.to_capture THEN 'insufficient_credits'
      WHEN $3::text = 'capture'
        AND v.to_capture - least(v.to_capture, v.live_held) - v.never_held > p.credits - p.held_credits - p.blocks
        THEN 'insufficient_credits'
      ELSE 'ok' END AS status
  FROM wanted v LEFT JOIN pool p ON true
), closing AS (
  UPDATE credit_holds h SET state = CASE WHEN $3::text = 'release' THEN 'released' ELSE 'captured' END,
    captured = d.captured, closed_at = $6::timestamp,
    transaction_id = CASE WHEN d.captured > 0 THEN 'ctx_' || replace(gen_random_uuid()::text, '-', '') END
  FROM decision d WHERE h.id = d.id AND d.status = 'ok'
  RETURNING h.*
), split AS (
  SELECT "#,
    record_split!("c.expiring", "c.captured", "$6", spent),
    r#" AS spent, "#,
    record_split!("c.expiring", "c.captured", "$6", rest),
    r#" AS back
  FROM closing c
), parted AS (
  SELECT x.spent, "#,
    record_part!("x.back", "$6", live),
    r#" AS back, "#,
    record_part!("x.back", "$6", due),
    r#" AS due FROM split x
), split_back AS (
  SELECT x.spent, x.back, x.due, "#,
    record_total!("x.due"),
    r#" AS due_total FROM parted x
), settle_user AS (
  UPDATE users u SET credits = u.credits - c.captured - sp.due_total, held_credits = u.held_credits - c.amount,
    "#,
    blocks_store!("u", "sp.back", "true"),
    r#"
  FROM closing c, split_back sp WHERE c.account_kind = 'user' AND u.id = c.account_id
  RETURNING u.credits, u.held_credits, NULL::int AS daily_limit, 0 AS daily_used, NULL::int AS monthly_limit,
    0 AS monthly_used
), settle_team AS (
  UPDATE teams tm SET credits = tm.credits - c.captured - sp.due_total, held_credits = tm.held_credits - c.amount,
    updated_at = $6::timestamp, "#,
    blocks_store!("tm", "sp.back", "true"),
    r#"
  FROM closing c, split_back sp WHERE c.account_kind = 'team' AND tm.id = c.account_id
  RETURNING tm.credits, tm.held_credits, NULL::int AS daily_limit, 0 AS daily_used, NULL::int AS monthly_limit,
    0 AS monthly_used
), settle_key AS (
  UPDATE api_key_credits k SET credits = k.credits - c.captured - sp.due_total, held_credits = k.held_credits - c.amount,
    daily_used = CASE WHEN k.daily_window_start = c.daily_window_start
      THEN greatest(k.daily_used - (c.amount - c.captured), 0) ELSE k.daily_used END,
    monthly_used = CASE WHEN k.monthly_window_start = c.monthly_window_start
      THEN greatest(k.monthly_used - (c.amount - c.captured), 0) ELSE k.monthly_used END,
    updated_at = $6::timestamp, "#,
    blocks_store!("k", "sp.back", "true"),
    r#"
  FROM closing c, split_back sp WHERE c.account_kind = 'api_key' AND k.api_key = c.account_id
  RETURNING k.credits, k.held_credits, k.daily_limit,
    CASE WHEN k.daily_window_start >= $9::timestamp THEN k.daily_used ELSE 0 END AS daily_used, k.monthly_limit,
    CASE WHEN k.monthly_window_start >= $10::timestamp THEN k.monthly_used ELSE 0 END AS monthly_used
), settled AS (
  SELECT * FROM settle_user UNION ALL SELECT * FROM settle_team UNION ALL SELECT * FROM settle_key
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT c.transaction_id, c.user_id, c.team_id, -c.captured, 'usage', c.operation, c.resource_id, c.api_key_id,
    CASE WHEN c.metadata IS NULL OR c.metadata = '{}' THEN json_build_object('hold_id', c.id)::text
      ELSE left(c.metadata, -1) || ',"hold_id":' || to_json(c.id)::text || '}' END, $6::timestamp, sp.spent
  FROM closing c, settled s, split_back sp WHERE c.captured > 0
  RETURNING id
), "#,
    expire_returned!(
        "expired",
        "closing c, settled s, split_back sp",
        "sp.due",
        "c.user_id",
        "c.team_id",
        "c.api_key_id",
        "$6"
    ),
    r#", facts AS (
  SELECT c.transaction_id, c.id AS hold_id, c.account_kind AS charged_kind, c.account_id AS charged_id,
    c.captured AS amount, c.amount - c.captured AS released, s.credits AS balance,
    s.credits::bigint - s.held_credits + "#,
    expired_holds!("s.held_credits", "c.account_kind", "c.account_id", "$6", "x.spendable", ""),
    r#" AS available,
    s.daily_limit, s.daily_used, s.monthly_limit, s.monthly_used, $6::text AS now
  FROM closing c, settled s
), remember_as AS (
  SELECT c.account_kind, c.account_id, $7::text AS idempotency_key, $8::text AS request_hash,
    $6::timestamp AS created_at
  FROM closing c WHERE $7::text IS NOT NULL
), refused AS (
  SELECT d.status, NULL::text AS transaction_id, d.id AS hold_id, NULL::text AS charged_kind, NULL::text AS charged_id,
    d.amount, NULL::int AS released, d.credits AS balance, NULL::bigint AS available, NULL::int AS daily_limit,
    NULL::int AS daily_used, NULL::int AS monthly_limit, NULL::int AS monthly_used, $6::text AS now
  FROM decision d
  UNION ALL
  SELECT CASE WHEN EXISTS (SELECT 1 FROM seen) THEN 'expired' ELSE 'not_found' END, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, $6::text
  WHERE NOT EXISTS (SELECT 1 FROM decision)
), "#,
    idempotent_tail!(
        transaction_id,
        hold_id,
        charged_kind,
        charged_id,
        amount,
        released,
        balance,
        available,
        daily_limit,
        daily_used,
        monthly_limit,
        monthly_used,
        now
    )
);

/// Capture (what the work cost) or release (all of it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// `None`: the whole held amount.
    Capture(Option<i64>),
    Release,
}

/// Who closes: the service, a user (their own holds), an API key (holds made with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Service,
    User(String),
    ApiKey(String),
}

impl Actor {
    pub(crate) fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::Service => ("service", ""),
            Actor::User(id) => ("user", id),
            Actor::ApiKey(id) => ("api_key", id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub hold_id: String,
    pub close: Close,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
}

/// A capture's answer, consume-shaped (API.md): `transaction_id` is the usage row (absent for a
/// capture of 0, which writes none); `released` what went back. A release answers the same object,
/// `amount` 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub hold_id: String,
    pub replayed: bool,
    pub charged: AccountRef,
    /// Captured.
    pub amount: i64,
    pub released: i64,
    pub balance: i64,
    pub available: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Replay,
    IdempotencyConflict,
    NotFound,
    Closed(HoldState),
    OverCapture,
    NotAMember,
    AccountGone,
    InsufficientCredits,
}

impl Word for Status {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "ok" => Status::Ok,
            "replay" => Status::Replay,
            "idempotency_conflict" => Status::IdempotencyConflict,
            "not_found" => Status::NotFound,
            "over_capture" => Status::OverCapture,
            "not_a_member" => Status::NotAMember,
            "account_gone" => Status::AccountGone,
            "insufficient_credits" => Status::InsufficientCredits,
            other => Status::Closed(HoldState::from_word(other)?),
        })
    }
}

impl CloseRequest {
    fn fingerprint(&self) -> String {
        let (verb, amount) = match self.close {
            Close::Capture(amount) => ("capture", amount.map_or_else(|| "all".to_string(), |a| a.to_string())),
            Close::Release => ("release", String::new()),
        };
        request_hash(&[verb, &self.hold_id, &amount])
    }
}

pub fn plan(request: &CloseRequest, now: Timestamp) -> Result<Statement, CreditError> {
    crate::core::hold::hold_id(&request.hold_id)?;
    let (verb, amount) = match request.close {
        Close::Capture(Some(amount)) if !(0..=i64::from(i32::MAX)).contains(&amount) => {
            return Err(CreditError::invalid_amount("amount must be an integer from 0 to the held amount"))
        }
        Close::Capture(amount) => ("capture", amount),
        Close::Release => ("release", Some(0)),
    };
    let (kind, id) = request.actor.parts();
    // Scoped to the hold as well as the account, and spelled with spaces no caller's key can hold:
    // nobody can take a capture's key for another hold, or a consume's for a capture.
    let stored_key = request.idempotency_key.as_deref().map(|key| [verb, " ", &request.hold_id, " ", key].concat());
    Ok(Statement::new(SQL)
        .param(&request.hold_id)
        .optional(amount)
        .param(verb)
        .param(kind)
        .param(id)
        .param(now.to_sql_literal())
        .optional(stored_key.as_deref())
        .param(request.fingerprint())
        .param(crate::core::window::Period::Daily.start(now).to_sql_literal())
        .param(crate::core::window::Period::Monthly.start(now).to_sql_literal()))
}

pub fn decode(rows: &[Row], request: &CloseRequest) -> Result<CloseResult, CreditError> {
    let row = single("close hold", rows)?;
    let replayed = match row.word::<Status>("status")? {
        Status::Ok => false,
        Status::Replay => true,
        Status::IdempotencyConflict => {
            return Err(CreditError::IdempotencyConflict { key: request.idempotency_key.clone().unwrap_or_default() })
        }
        Status::NotFound => return Err(CreditError::not_found("no such hold")),
        Status::Closed(state) => return Err(CreditError::HoldClosed { state }),
        Status::OverCapture => {
            return Err(CreditError::invalid_amount(format!(
                "amount is more than the hold's {}; capture at most what was held",
                row.int("amount")?
            )))
        }
        Status::NotAMember => {
            return Err(CreditError::forbidden(
                "this hold is on a team pool its maker is no longer a member of: only the service can release it",
            ))
        }
        Status::AccountGone => return Err(CreditError::not_found("the account this hold was on no longer exists")),
        // The capture would take the balance below zero: only a clock far ahead on another host
        // (a hold it saw expire was spent there, then captured here) gets here. Nothing was written.
        Status::InsufficientCredits => {
            let balance = row.int("balance")?;
            let required = match request.close {
                Close::Capture(Some(amount)) => amount,
                _ => row.int("amount")?,
            };
            return Err(CreditError::InsufficientCredits { balance, available: balance, required });
        }
    };
    let now = row.timestamp("now")?;
    let charged = Account { kind: row.word("charged_kind")?, id: row.owned("charged_id")? };
    let balance = row.int("balance")?;
    let limits = match charged.kind {
        crate::core::account::AccountKind::ApiKey => Some(Limits::read(row, now)?),
        _ => None,
    };
    Ok(CloseResult {
        ok: true,
        transaction_id: row.opt_owned("transaction_id")?,
        hold_id: row.owned("hold_id")?,
        replayed,
        charged: AccountRef::public(charged.kind, &charged.id),
        amount: row.int("amount")?,
        released: row.int("released")?,
        balance,
        available: row.opt_int("available")?.unwrap_or(balance),
        limits,
    })
}
