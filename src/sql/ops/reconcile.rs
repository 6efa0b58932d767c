//! `reconcile`: every account whose balance differs from the sum of its ledger rows, in one
//! snapshot (so concurrent debits, which move both sides in one statement, never show as drift).
//!
//! Attribution, the rule every operation writes by: a row with `api_key_id` belongs to that key;
//! else a row with `team_id` belongs to the team pool; else to the user's personal pool.
//!
//! `--adopt` writes one `adjustment` row (`operation = 'opening_balance'`) per drifting account, for
//! balances that predate fltr-credits (the guide's un-ledgered `UPDATE users SET credits = 100`).

use crate::core::account::{public_id, AccountKind};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use serde::Serialize;

pub const SQL: &str = r#"WITH ledger AS (
  SELECT CASE WHEN api_key_id IS NOT NULL THEN 'api_key' WHEN team_id IS NOT NULL THEN 'team' ELSE 'user' END AS kind,
    coalesce(api_key_id, team_id, user_id) AS id, sum(amount)::bigint AS total
  FROM credit_transactions GROUP BY 1, 2
), accounts AS (
  SELECT 'user' AS kind, u.id, u.credits::bigint AS balance, u.id AS user_id, NULL::text AS team_id, NULL::text AS api_key FROM users u
  UNION ALL
  SELECT 'team', t.id, t.credits, coalesce(t.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = t.id)), t.id, NULL FROM teams t
  UNION ALL
  SELECT 'api_key', k.api_key, k.credits, k.user_id, k.team_id, k.api_key FROM api_key_credits k
), drift AS (
  SELECT a.*, coalesce(l.total, 0) AS ledger, a.balance - coalesce(l.total, 0) AS difference
  FROM accounts a LEFT JOIN ledger l ON l.kind = a.kind AND l.id = a.id
  WHERE a.balance <> coalesce(l.total, 0)
), adopted AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at)
  SELECT 'opening_' || md5(d.kind || ':' || d.id || ':' || $2::text), d.user_id, d.team_id, d.difference::int, 'adjustment',
    'opening_balance', NULL, d.api_key, json_build_object('ledger_before', d.ledger, 'balance', d.balance)::text, $2::timestamp
  FROM drift d
  WHERE $1::boolean AND d.user_id IS NOT NULL AND d.difference BETWEEN -2147483648 AND 2147483647
  RETURNING id
)
SELECT 'summary' AS part, (SELECT count(*) FROM accounts)::text AS accounts_checked,
  (SELECT count(*) FROM adopted)::text AS adopted, NULL AS kind, NULL AS id, NULL AS balance, NULL AS ledger,
  NULL AS difference, NULL AS adoptable, NULL AS payment_id, NULL AS event_id, NULL AS user_id, NULL AS reason,
  NULL AS attempts, NULL AS first_seen_at, NULL AS last_seen_at, NULL::text AS ord1, NULL::text AS ord2
UNION ALL
SELECT 'drift', NULL, NULL, d.kind, d.id, d.balance::text, d.ledger::text, d.difference::text,
  (d.user_id IS NOT NULL)::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM drift d
UNION ALL
SELECT 'unfulfilled', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.payment_id, p.event_id, p.user_id, p.reason,
  p.attempts::text, to_char(p.first_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), to_char(p.last_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  to_char(p.first_seen_at, 'YYYY-MM-DD HH24:MI:SS.US'), p.payment_id
FROM credit_unfulfilled_purchases p
ORDER BY 1 DESC, ord1, kind, id, ord2"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountDrift {
    pub kind: AccountKind,
    /// Masked for API keys.
    pub id: String,
    pub balance: i64,
    pub ledger: i64,
    pub difference: i64,
    /// False for a team with neither owner nor members: no user to attribute a ledger row to.
    pub adoptable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub accounts_checked: i64,
    pub drift: Vec<AccountDrift>,
    /// Opening-balance rows written by `--adopt` (0 without it).
    pub adopted: i64,
    /// Purchases paid for but not credited yet (the webhook answered 500 so Stripe retries).
    pub unfulfilled_purchases: Vec<UnfulfilledPurchase>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfulfilledPurchase {
    pub payment_id: String,
    pub event_id: String,
    pub user_id: Option<String>,
    /// `unknown_user`, `no_user`, `bad_credits` or `out_of_range`.
    pub reason: String,
    pub attempts: i64,
    pub first_seen_at: String,
    pub last_seen_at: String,
}

pub fn plan(adopt: bool, now: Timestamp) -> Statement {
    Statement::new(SQL).param(adopt).param(now.to_sql_literal())
}

pub fn decode(rows: &[Row]) -> Result<ReconcileReport, CreditError> {
    let mut report =
        ReconcileReport { accounts_checked: 0, drift: Vec::new(), adopted: 0, unfulfilled_purchases: Vec::new() };
    let mut summaries = 0;
    for row in rows {
        match row.text("part")? {
            "summary" => {
                summaries += 1;
                report.accounts_checked = row.int("accounts_checked")?;
                report.adopted = row.int("adopted")?;
            }
            "drift" => {
                let kind: AccountKind = row.word("kind")?;
                report.drift.push(AccountDrift {
                    kind,
                    id: public_id(kind, row.text("id")?),
                    balance: row.int("balance")?,
                    ledger: row.int("ledger")?,
                    difference: row.int("difference")?,
                    adoptable: row.boolean("adoptable")?,
                });
            }
            "unfulfilled" => report.unfulfilled_purchases.push(UnfulfilledPurchase {
                payment_id: row.owned("payment_id")?,
                event_id: row.owned("event_id")?,
                user_id: row.opt_owned("user_id")?,
                reason: row.owned("reason")?,
                attempts: row.int("attempts")?,
                first_seen_at: row.owned("first_seen_at")?,
                last_seen_at: row.owned("last_seen_at")?,
            }),
            _ => return Err(CreditError::internal("reconcile: unknown row part")),
        }
    }
    if summaries != 1 {
        return Err(CreditError::internal("reconcile: expected one summary row"));
    }
    Ok(report)
}
