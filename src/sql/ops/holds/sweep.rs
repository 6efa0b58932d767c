//! `sweep`: closes expired holds and expires due blocks everywhere (API.md `POST /admin/sweep`;
//! the Worker's cron trigger). Tidying only: every statement that reads `available` already stops
//! counting an expired hold or a due block at its deadline; the sweep writes the `expiration`
//! ledger rows and gives expired holds' credits back for accounts nobody touched since.
//!
//! Each batch lists up to `BATCH` accounts with something due (soonest first), and the engine
//! settles each with the statement a debit uses (`settle`): one account's holds and blocks in one
//! statement under its row lock, so a sweep and a request on the same account are ordered like
//! two requests, and what an expired hold took from a block goes back to it before the block
//! expires. Every index the listing needs is there for holds (`credit_holds_state_expires_at_idx`);
//! blocks are found by scanning the account tables for a first deadline at or before now — a
//! sequential read per batch, which a cron minute affords.

use crate::core::account::{Account, AccountKind};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use serde::Serialize;

/// Accounts per batch: bounded work whatever the backlog.
pub const BATCH: i64 = 1000;

/// `$1` now, `$2` batch size.
pub const SQL: &str = r#"SELECT kind, id FROM (
  SELECT h.account_kind AS kind, h.account_id AS id, min(h.expires_at) AS due FROM credit_holds h
  WHERE h.state = 'active' AND h.expires_at <= $1::timestamp
  GROUP BY 1, 2
  UNION ALL
  SELECT 'user', u.id, u.expiring_at[1] FROM users u WHERE u.expiring_at[1] <= $1::timestamp
  UNION ALL
  SELECT 'team', tm.id, tm.expiring_at[1] FROM teams tm WHERE tm.expiring_at[1] <= $1::timestamp
  UNION ALL
  SELECT 'api_key', k.api_key, k.expiring_at[1] FROM api_key_credits k WHERE k.expiring_at[1] <= $1::timestamp
) due
GROUP BY kind, id
ORDER BY min(due), kind, id
LIMIT $2::int"#;

/// What a sweep did (API.md `POST /admin/sweep`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Holds marked `expired`.
    pub expired_holds: i64,
    /// Accounts settled.
    pub accounts: i64,
    /// `expiration` ledger rows written (one per block with credits left at its deadline).
    pub expired_blocks: i64,
}

/// One batch of accounts with something due.
pub fn plan(now: Timestamp) -> Statement {
    Statement::new(SQL).param(now.to_sql_literal()).param(BATCH)
}

pub fn decode(rows: &[Row]) -> Result<Vec<Account>, CreditError> {
    rows.iter()
        .map(|row| {
            let kind = AccountKind::from_word(row.text("kind")?)
                .ok_or_else(|| CreditError::internal("sweep: unknown account kind"))?;
            Ok(Account { kind, id: row.owned("id")? })
        })
        .collect()
}
