//! `sweep`: marks active holds past their deadline `expired` and gives their amounts back to their
//! accounts' `held_credits` (and to a key's windows, when still current). Tidying only: every
//! statement that reads `available` already stops counting an expired hold at its deadline.
//!
//! It never waits: accounts and holds are locked with SKIP LOCKED, so a sweep cannot slow or
//! deadlock a request (a debit holds its expired holds `FOR SHARE` while it runs); what it skipped
//! is left for the next batch. One batch per statement; `Engine::sweep` runs batches until a batch
//! finds nothing it could take.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;
use serde::Serialize;

/// Holds closed per statement: bounded work and lock time, whatever the backlog.
pub const BATCH: i64 = 1000;

/// `$1` now, `$2` batch size.
pub const SQL: &str = r#"WITH due AS (
  SELECT h.id, h.account_kind, h.account_id FROM credit_holds h
  WHERE h.state = 'active' AND h.expires_at <= $1::timestamp
  ORDER BY h.expires_at LIMIT $2::int
), locked_user AS (
  SELECT u.id FROM users u WHERE u.id IN (SELECT account_id FROM due WHERE account_kind = 'user')
  ORDER BY u.id FOR UPDATE SKIP LOCKED
), locked_team AS (
  SELECT tm.id FROM teams tm WHERE tm.id IN (SELECT account_id FROM due WHERE account_kind = 'team')
  ORDER BY tm.id FOR UPDATE SKIP LOCKED
), locked_key AS (
  SELECT k.api_key AS id FROM api_key_credits k WHERE k.api_key IN (SELECT account_id FROM due WHERE account_kind = 'api_key')
  ORDER BY k.api_key FOR UPDATE SKIP LOCKED
), taken AS (
  SELECT h.id FROM credit_holds h
  WHERE h.id IN (SELECT d.id FROM due d WHERE (d.account_kind = 'user' AND d.account_id IN (SELECT id FROM locked_user))
      OR (d.account_kind = 'team' AND d.account_id IN (SELECT id FROM locked_team))
      OR (d.account_kind = 'api_key' AND d.account_id IN (SELECT id FROM locked_key)))
    AND h.state = 'active' AND h.expires_at <= $1::timestamp
  FOR UPDATE OF h SKIP LOCKED
), swept AS (
  UPDATE credit_holds h SET state = 'expired', closed_at = $1::timestamp
  FROM taken t WHERE h.id = t.id
  RETURNING h.account_kind, h.account_id, h.amount, h.daily_window_start, h.monthly_window_start
), per_account AS (
  SELECT account_kind, account_id, sum(amount)::int AS total FROM swept GROUP BY 1, 2
), tidy_user AS (
  UPDATE users u SET held_credits = u.held_credits - p.total
  FROM per_account p WHERE p.account_kind = 'user' AND u.id = p.account_id
  RETURNING u.id
), tidy_team AS (
  UPDATE teams tm SET held_credits = tm.held_credits - p.total
  FROM per_account p WHERE p.account_kind = 'team' AND tm.id = p.account_id
  RETURNING tm.id
), tidy_key AS (
  UPDATE api_key_credits k SET held_credits = k.held_credits - p.total,
    daily_used = greatest(k.daily_used - (SELECT coalesce(sum(s.amount), 0) FROM swept s
      WHERE s.account_kind = 'api_key' AND s.account_id = k.api_key AND s.daily_window_start = k.daily_window_start), 0),
    monthly_used = greatest(k.monthly_used - (SELECT coalesce(sum(s.amount), 0) FROM swept s
      WHERE s.account_kind = 'api_key' AND s.account_id = k.api_key AND s.monthly_window_start = k.monthly_window_start), 0)
  FROM per_account p WHERE p.account_kind = 'api_key' AND k.api_key = p.account_id
  RETURNING k.api_key
)
SELECT (SELECT count(*) FROM swept)::text AS expired_holds,
  ((SELECT count(*) FROM tidy_user) + (SELECT count(*) FROM tidy_team) + (SELECT count(*) FROM tidy_key))::text AS accounts,
  (SELECT count(*) FROM due)::text AS due"#;

/// What a sweep did (API.md `POST /admin/sweep`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Holds marked `expired`.
    pub expired_holds: i64,
    /// Accounts whose `held_credits` were given back.
    pub accounts: i64,
}

/// One batch, and whether it found more due holds than it could take (locked by a request, or
/// past the batch size).
pub fn plan(now: Timestamp) -> Statement {
    Statement::new(SQL).param(now.to_sql_literal()).param(BATCH)
}

pub fn decode(rows: &[Row]) -> Result<(SweepReport, i64), CreditError> {
    let row = single("sweep", rows)?;
    Ok((SweepReport { expired_holds: row.int("expired_holds")?, accounts: row.int("accounts")? }, row.int("due")?))
}
