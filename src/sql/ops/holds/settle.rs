//! Closing one account's holds past their deadline: what a debit asks for when it finds one
//! (`settle`), before it runs again. Like the sweep, but for one account and waiting for its locks
//! (a request is waiting on it), in the order every statement keeps: a user's row or a key's row
//! before their holds, a team's holds before the team's row.

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

/// `$1` account kind, `$2` its id, `$3` now. Answers how many holds it closed.
pub const SQL: &str = r#"WITH owner AS (
  SELECT u.id FROM users u WHERE $1::text = 'user' AND u.id = $2::text FOR UPDATE OF u
), key_row AS (
  SELECT k.api_key FROM api_key_credits k WHERE $1::text = 'api_key' AND k.api_key = $2::text FOR UPDATE OF k
), settled AS (
  UPDATE credit_holds h SET state = 'expired', closed_at = $3::timestamp
  WHERE h.account_kind = $1::text AND h.account_id = $2::text AND h.state = 'active' AND h.expires_at <= $3::timestamp
    AND (SELECT count(*) FROM owner) + (SELECT count(*) FROM key_row) >= 0
  RETURNING h.amount, h.daily_window_start, h.monthly_window_start
), total AS (
  SELECT coalesce(sum(amount), 0)::int AS amount FROM settled
), tidy_user AS (
  UPDATE users u SET held_credits = u.held_credits - (SELECT amount FROM total)
  WHERE $1::text = 'user' AND u.id = $2::text AND EXISTS (SELECT 1 FROM settled)
  RETURNING u.id
), tidy_team AS (
  UPDATE teams tm SET held_credits = tm.held_credits - (SELECT amount FROM total)
  WHERE $1::text = 'team' AND tm.id = $2::text AND EXISTS (SELECT 1 FROM settled)
  RETURNING tm.id
), tidy_key AS (
  UPDATE api_key_credits k SET held_credits = k.held_credits - (SELECT amount FROM total),
    daily_used = greatest(k.daily_used - (SELECT coalesce(sum(s.amount), 0) FROM settled s
      WHERE s.daily_window_start = k.daily_window_start), 0),
    monthly_used = greatest(k.monthly_used - (SELECT coalesce(sum(s.amount), 0) FROM settled s
      WHERE s.monthly_window_start = k.monthly_window_start), 0)
  WHERE $1::text = 'api_key' AND k.api_key = $2::text AND EXISTS (SELECT 1 FROM settled)
  RETURNING k.api_key
)
SELECT (SELECT count(*) FROM settled)::text AS settled,
  ((SELECT count(*) FROM tidy_user) + (SELECT count(*) FROM tidy_team) + (SELECT count(*) FROM tidy_key))::text AS tidied"#;

pub fn plan(account: &Account, now: Timestamp) -> Statement {
    Statement::new(SQL).param(account.kind.as_str()).param(&account.id).param(now.to_sql_literal())
}

/// How many holds were closed. Holds closed without their account's row (the account is gone)
/// would leave the held total wrong: a bug, reported as such.
pub fn decode(rows: &[Row]) -> Result<i64, CreditError> {
    let row = single("settle holds", rows)?;
    let (settled, tidied) = (row.int("settled")?, row.int("tidied")?);
    if settled > 0 && tidied != 1 {
        return Err(CreditError::internal("expired holds were closed without their account"));
    }
    Ok(settled)
}
