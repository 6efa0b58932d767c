//! `prune-idempotency-keys`: forget stored idempotent outcomes older than a cut-off (Stripe keeps
//! keys 24 h, Orb 48 h). A request retried after its key was pruned is treated as new, so the
//! cut-off must be longer than any client's retry horizon.

use crate::core::error::CreditError;
use crate::core::time::{Timestamp, MICROS_PER_SECOND};
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;
use serde::Serialize;

pub const SQL: &str = r#"WITH pruned AS (
  DELETE FROM credit_idempotency_keys WHERE created_at < $1::timestamp RETURNING 1
)
SELECT (SELECT count(*) FROM pruned)::text AS pruned, $1::text AS older_than"#;

/// Shortest retention accepted: one hour, so a typo cannot wipe keys clients are still retrying.
pub const RETENTION_HOURS_MIN: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneResult {
    pub pruned: i64,
    pub older_than: String,
}

pub fn plan(retention_hours: i64, now: Timestamp) -> Result<Statement, CreditError> {
    if !(RETENTION_HOURS_MIN..=24 * 365 * 10).contains(&retention_hours) {
        return Err(CreditError::invalid_request(format!(
            "retention must be between {RETENTION_HOURS_MIN} hour and 10 years, in hours"
        )));
    }
    let cut_off = Timestamp(now.0 - retention_hours * 3600 * MICROS_PER_SECOND);
    Ok(Statement::new(SQL).param(cut_off.to_sql_literal()))
}

pub fn decode(rows: &[Row]) -> Result<PruneResult, CreditError> {
    let row = single("prune", rows)?;
    Ok(PruneResult { pruned: row.int("pruned")?, older_than: row.timestamp("older_than")?.to_rfc3339() })
}
