//! `refund`: reverse one usage row, once. The refund's ledger id is `refund_<usage id>`, so the
//! primary key makes a second refund impossible even when two race; the loser's statement is
//! rolled back whole and its retry reports the first refund as a replay. The credits go back to
//! the account the usage was charged to, and an API key's window counters give the quota back
//! when the usage fell in the current window (for a hold's capture: the window the hold was made
//! in, where it was counted). A key revoked since takes nothing (its allowance
//! went back to its pool, and credits on a dead key would be lost): the refund goes to that pool,
//! the team's for a team key, else its creator's, ledgered there.
//!
//! What the usage took from expiring blocks goes back to those blocks (the refund row records it),
//! on whichever account takes the credits; what goes back to a block that has expired meanwhile
//! expires at once, with an `expiration` row in the same statement.
//!
//! The user the rows name is locked (`FOR KEY SHARE`) before a team's row: their foreign-key check
//! would otherwise lock that member after the team, against the member's own debit of the pool.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::identifier;
use crate::sql::ops::expiring::{blocks_store, expire_returned, record_part, record_total};
use crate::sql::row::{single, Row, Word};
use crate::sql::statement::Statement;
use serde::Serialize;

pub const SQL: &str = concat!(
    r#"WITH original AS (
  SELECT t.* FROM credit_transactions t
  WHERE t.id = $1::text AND t.type = 'usage' AND (
    $2::text = 'any'
    OR ($2::text = 'user' AND t.user_id = $3::text AND t.api_key_id IS NULL)
    OR ($2::text = 'api_key' AND t.api_key_id = $3::text))
), existing AS (
  SELECT r.id, r.amount AS refunded FROM credit_transactions r WHERE r.id = 'refund_' || $1::text
), payer AS (
  SELECT u.id FROM users u, original o WHERE u.id = o.user_id AND NOT EXISTS (SELECT 1 FROM existing)
  FOR KEY SHARE OF u
), parts AS (
  SELECT "#,
    record_part!("o.expiring", "$4", live),
    r#" AS live, "#,
    record_part!("o.expiring", "$4", due),
    r#" AS due FROM original o
), returned AS (
  SELECT p.live, p.due, "#,
    record_total!("p.due"),
    r#" AS due_total FROM parts p
), revoked_key AS (
  SELECT k.api_key FROM api_key_credits k, original o WHERE k.api_key = o.api_key_id AND k.revoked_at IS NOT NULL
), credit_key AS (
  UPDATE api_key_credits k SET
    credits = k.credits - o.amount - r.due_total,
    daily_used = CASE WHEN k.daily_window_start = coalesce(w.daily, date_trunc('day', o.created_at))
      THEN greatest(k.daily_used::bigint + o.amount, 0) ELSE k.daily_used END,
    monthly_used = CASE WHEN k.monthly_window_start = coalesce(w.monthly, date_trunc('month', o.created_at))
      THEN greatest(k.monthly_used::bigint + o.amount, 0) ELSE k.monthly_used END,
    updated_at = $4::timestamp, "#,
    blocks_store!("k", "r.live", "true"),
    r#"
  FROM returned r, original o LEFT JOIN (
    SELECT h.transaction_id, h.daily_window_start AS daily, h.monthly_window_start AS monthly FROM credit_holds h
  ) w ON w.transaction_id = o.id
  WHERE o.api_key_id IS NOT NULL AND k.api_key = o.api_key_id AND NOT EXISTS (SELECT 1 FROM existing)
    AND k.revoked_at IS NULL AND k.credits::bigint - o.amount <= 2147483647
  RETURNING k.credits
), credit_team AS (
  UPDATE teams tm SET credits = tm.credits - o.amount - r.due_total, updated_at = $4::timestamp, "#,
    blocks_store!("tm", "r.live", "true"),
    r#"
  FROM original o, returned r
  WHERE (o.api_key_id IS NULL OR EXISTS (SELECT 1 FROM revoked_key)) AND o.team_id IS NOT NULL AND tm.id = o.team_id
    AND NOT EXISTS (SELECT 1 FROM existing) AND (SELECT count(*) FROM payer) >= 0
    AND tm.credits::bigint - o.amount <= 2147483647
  RETURNING tm.credits
), credit_user AS (
  UPDATE users u SET credits = u.credits - o.amount - r.due_total, "#,
    blocks_store!("u", "r.live", "true"),
    r#"
  FROM original o, returned r
  WHERE (o.api_key_id IS NULL OR EXISTS (SELECT 1 FROM revoked_key)) AND o.team_id IS NULL AND u.id = o.user_id
    AND NOT EXISTS (SELECT 1 FROM existing)
    AND u.credits::bigint - o.amount <= 2147483647
  RETURNING u.credits
), credited AS (
  SELECT credits FROM credit_key UNION ALL SELECT credits FROM credit_team UNION ALL SELECT credits FROM credit_user
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT 'refund_' || o.id, o.user_id, o.team_id, -o.amount, 'refund', o.operation, o.resource_id,
    CASE WHEN EXISTS (SELECT 1 FROM revoked_key) THEN NULL ELSE o.api_key_id END,
    json_build_object('refund_of', o.id)::text, $4::timestamp, o.expiring
  FROM original o, credited c
  RETURNING id, amount
), "#,
    expire_returned!(
        "expired",
        "original o, credited c, returned r",
        "r.due",
        "o.user_id",
        "o.team_id",
        "CASE WHEN EXISTS (SELECT 1 FROM revoked_key) THEN NULL ELSE o.api_key_id END",
        "$4"
    ),
    r#"
SELECT v.status, x.transaction_id, x.refunded::text AS refunded, x.balance::text AS balance
FROM (SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM original) THEN 'not_found'
    WHEN EXISTS (SELECT 1 FROM existing) THEN 'replay'
    WHEN EXISTS (SELECT 1 FROM ledger) THEN 'ok'
    WHEN EXISTS (SELECT 1 FROM original o WHERE (o.api_key_id IS NOT NULL AND EXISTS (SELECT 1 FROM api_key_credits WHERE api_key = o.api_key_id AND revoked_at IS NULL))
        OR (EXISTS (SELECT 1 FROM revoked_key) AND o.team_id IS NOT NULL AND EXISTS (SELECT 1 FROM teams WHERE id = o.team_id))
        OR (EXISTS (SELECT 1 FROM revoked_key) AND o.team_id IS NULL AND EXISTS (SELECT 1 FROM users WHERE id = o.user_id))
        OR (o.api_key_id IS NULL AND o.team_id IS NOT NULL AND EXISTS (SELECT 1 FROM teams WHERE id = o.team_id))
        OR (o.api_key_id IS NULL AND o.team_id IS NULL AND EXISTS (SELECT 1 FROM users WHERE id = o.user_id)))
      THEN 'out_of_range'
    ELSE 'account_gone' END AS status) v
LEFT JOIN (
  SELECT e.id AS transaction_id, e.refunded, (
    SELECT CASE WHEN o.api_key_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM revoked_key)
                  THEN (SELECT credits FROM api_key_credits WHERE api_key = o.api_key_id)
                WHEN o.team_id IS NOT NULL THEN (SELECT credits FROM teams WHERE id = o.team_id)
                ELSE (SELECT credits FROM users WHERE id = o.user_id) END FROM original o) AS balance
  FROM existing e
  UNION ALL
  SELECT l.id, l.amount, c.credits FROM ledger l, credited c
) x ON v.status IN ('ok', 'replay')"#
);

/// Whose usage may be refunded: anything (admin, CLI) or only the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundScope {
    Any,
    User(String),
    ApiKey(String),
}

/// The `status` column of a refund row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Replay,
    NotFound,
    AccountGone,
    OutOfRange,
}

impl Word for Status {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "ok" => Status::Ok,
            "replay" => Status::Replay,
            "not_found" => Status::NotFound,
            "account_gone" => Status::AccountGone,
            "out_of_range" => Status::OutOfRange,
            _ => return None,
        })
    }
}

/// API.md: `{"ok": true, "transaction_id": "<refund row>", "refunded": 5, "balance": 100, "replayed": false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundResult {
    pub ok: bool,
    pub transaction_id: String,
    pub refunded: i64,
    pub balance: i64,
    pub replayed: bool,
}

pub fn plan(transaction_id: &str, scope: &RefundScope, now: Timestamp) -> Result<Statement, CreditError> {
    identifier("transaction_id", transaction_id)?;
    let (kind, id) = match scope {
        RefundScope::Any => ("any", ""),
        RefundScope::User(id) => ("user", id.as_str()),
        RefundScope::ApiKey(key) => ("api_key", key.as_str()),
    };
    Ok(Statement::new(SQL).param(transaction_id).param(kind).param(id).param(now.to_sql_literal()))
}

pub fn decode(rows: &[Row]) -> Result<RefundResult, CreditError> {
    let row = single("refund", rows)?;
    let replayed = match row.word::<Status>("status")? {
        Status::Ok => false,
        Status::Replay => true,
        Status::NotFound => return Err(CreditError::not_found("no usage transaction with that id")),
        Status::AccountGone => {
            return Err(CreditError::not_found("the account charged by that usage no longer exists"))
        }
        Status::OutOfRange => return Err(crate::sql::outcome::out_of_range()),
    };
    Ok(RefundResult {
        ok: true,
        transaction_id: row.owned("transaction_id")?,
        refunded: row.int("refunded")?,
        balance: row.int("balance")?,
        replayed,
    })
}
