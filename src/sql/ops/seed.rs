//! `seed-credits`: the seed's "Initial Credit Allocation", ledgered and once only.
//!
//! Users with a zero personal balance who were never seeded get `amount` and a `grant` row, in one
//! statement. The ledger id `seed_<user id>` is deterministic, so a second run (or two at once:
//! the row lock re-checks `credits = 0`, the primary key backs it up) grants nothing.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;
use serde::Serialize;

pub const SQL: &str = r#"WITH eligible AS (
  SELECT u.id FROM users u
  WHERE u.credits = 0 AND NOT EXISTS (SELECT 1 FROM credit_transactions t WHERE t.id = 'seed_' || u.id)
  ORDER BY u.id
  FOR UPDATE
), granted AS (
  UPDATE users u SET credits = u.credits + $1::int
  FROM eligible e WHERE u.id = e.id AND u.credits = 0
  RETURNING u.id
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, created_at)
  SELECT 'seed_' || g.id, g.id, NULL, $1::int, 'grant', 'seed_credits', $2::timestamp FROM granted g
  RETURNING id
)
SELECT (SELECT count(*) FROM ledger)::text AS granted_users, $1::int::text AS amount"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedResult {
    pub granted_users: i64,
    pub amount: i64,
}

pub fn plan(amount: Amount, now: Timestamp) -> Statement {
    Statement::new(SQL).param(amount.get()).param(now.to_sql_literal())
}

pub fn decode(rows: &[Row]) -> Result<SeedResult, CreditError> {
    let row = single("seed_credits", rows)?;
    Ok(SeedResult { granted_users: row.int("granted_users")?, amount: row.int("amount")? })
}
