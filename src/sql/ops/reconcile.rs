//! `reconcile`: every account whose balance differs from the sum of its ledger rows, in one
//! snapshot (so concurrent debits, which move both sides in one statement, never show as drift).
//!
//! Attribution, the rule every operation writes by: a row with `api_key_id` belongs to that key;
//! else a row with `team_id` belongs to the team pool; else to the user's personal pool.
//!
//! Holds: every account's `held_credits` must equal the sum of its active holds, and its balance
//! must cover its unexpired ones (`held`: the invariants of `sql::ops::holds`); neither is ever
//! adopted, each is a bug to look at.
//!
//! Expiring credits: for every block, Σ of the ledger's record of it (signed as each row's amount)
//! less what active holds took must equal what the account row has left of it (0 once expired),
//! and no account's blocks may exceed its balance less its holds (`blocks`; never adopted).
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
  SELECT 'user' AS kind, u.id, u.credits::bigint AS balance, u.id AS user_id, NULL::text AS team_id, NULL::text AS api_key,
    u.held_credits FROM users u
  UNION ALL
  SELECT 'team', t.id, t.credits, coalesce(t.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = t.id)), t.id, NULL,
    t.held_credits FROM teams t
  UNION ALL
  SELECT 'api_key', k.api_key, k.credits, k.user_id, k.team_id, k.api_key, k.held_credits FROM api_key_credits k
), holds AS (
  SELECT h.account_kind AS kind, h.account_id AS id, sum(h.amount)::bigint AS active,
    coalesce(sum(h.amount) FILTER (WHERE h.expires_at > $2::timestamp), 0)::bigint AS unexpired
  FROM credit_holds h WHERE h.state = 'active' GROUP BY 1, 2
), held_drift AS (
  SELECT a.kind, a.id, a.balance, a.held_credits, coalesce(h.active, 0) AS active, coalesce(h.unexpired, 0) AS unexpired
  FROM accounts a LEFT JOIN holds h ON h.kind = a.kind AND h.id = a.id
  WHERE a.held_credits <> coalesce(h.active, 0) OR a.balance < coalesce(h.unexpired, 0)
  UNION ALL
  SELECT h.kind, h.id, NULL, NULL, h.active, h.unexpired FROM holds h
  WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.kind = h.kind AND a.id = h.id)
), drift AS (
  SELECT a.*, coalesce(l.total, 0) AS ledger, a.balance - coalesce(l.total, 0) AS difference
  FROM accounts a LEFT JOIN ledger l ON l.kind = a.kind AND l.id = a.id
  WHERE a.balance <> coalesce(l.total, 0)
), block_parts AS (
  SELECT CASE WHEN t.api_key_id IS NOT NULL THEN 'api_key' WHEN t.team_id IS NOT NULL THEN 'team' ELSE 'user' END AS kind,
    coalesce(t.api_key_id, t.team_id, t.user_id) AS id, e.key AS block,
    sign(t.amount)::bigint * (e.value->>0)::bigint AS expected, 0::bigint AS on_row
  FROM credit_transactions t, jsonb_each(t.expiring) e WHERE t.expiring IS NOT NULL
  UNION ALL
  SELECT h.account_kind, h.account_id, e.key, -(e.value->>0)::bigint, 0
  FROM credit_holds h, jsonb_each(h.expiring) e WHERE h.state = 'active' AND h.expiring IS NOT NULL
  UNION ALL
  SELECT 'user', u.id, x.id, 0, x.l FROM users u, unnest(u.expiring_ids, u.expiring_left) x(id, l)
  UNION ALL
  SELECT 'team', t.id, x.id, 0, x.l FROM teams t, unnest(t.expiring_ids, t.expiring_left) x(id, l)
  UNION ALL
  SELECT 'api_key', k.api_key, x.id, 0, x.l FROM api_key_credits k, unnest(k.expiring_ids, k.expiring_left) x(id, l)
), block_drift AS (
  SELECT kind, id, block, sum(expected) AS expected, sum(on_row) AS on_row FROM block_parts
  GROUP BY 1, 2, 3 HAVING sum(expected) <> sum(on_row)
  UNION ALL
  SELECT a.kind, a.id, NULL, 0, a.balance - a.held_credits - b.on_row
  FROM accounts a
  JOIN (SELECT kind, id, sum(on_row) AS on_row FROM block_parts WHERE on_row <> 0 GROUP BY 1, 2) b
    ON b.kind = a.kind AND b.id = a.id
  WHERE a.balance - a.held_credits < b.on_row
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
  NULL AS attempts, NULL AS first_seen_at, NULL AS last_seen_at, NULL::text AS ord1, NULL::text AS ord2,
  NULL AS held_credits, NULL AS active_holds, NULL AS unexpired_holds, NULL AS block, NULL AS expected,
  NULL AS on_row
UNION ALL
SELECT 'drift', NULL, NULL, d.kind, d.id, d.balance::text, d.ledger::text, d.difference::text,
  (d.user_id IS NOT NULL)::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL
FROM drift d
UNION ALL
SELECT 'held', NULL, NULL, x.kind, x.id, x.balance::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, x.held_credits::text, x.active::text, x.unexpired::text, NULL, NULL, NULL
FROM held_drift x
UNION ALL
SELECT 'block', NULL, NULL, b.kind, b.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, b.block,
  NULL, NULL, NULL, b.block, b.expected::text, b.on_row::text
FROM block_drift b
UNION ALL
SELECT 'unfulfilled', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.payment_id, p.event_id, p.user_id, p.reason,
  p.attempts::text, to_char(p.first_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), to_char(p.last_seen_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  to_char(p.first_seen_at, 'YYYY-MM-DD HH24:MI:SS.US'), p.payment_id, NULL, NULL, NULL, NULL, NULL, NULL
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
    /// Accounts whose held total disagrees with their active holds, or whose balance does not
    /// cover their unexpired holds (and holds on accounts that no longer exist).
    pub holds: Vec<HeldDrift>,
    /// Expiring blocks whose credits on the account row disagree with the ledger's record of
    /// them (less what active holds took), and accounts whose blocks exceed their free balance
    /// (`block` null): the invariants of `core::expiring`.
    pub blocks: Vec<BlockDrift>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDrift {
    pub kind: AccountKind,
    /// Masked for API keys.
    pub id: String,
    /// The block (its grant's transaction id); null for the account's never-expiring part.
    pub block: Option<String>,
    /// What the ledger says is left of it (for the never-expiring part: at least 0).
    pub expected: i64,
    /// What the account row has (for the never-expiring part: balance - held - Σ blocks).
    pub on_row: i64,
}

impl ReconcileReport {
    /// Nothing left to look at: no drift (after `--adopt`), no purchase owed, holds consistent.
    pub fn is_clean(&self) -> bool {
        self.drift.len() as i64 <= self.adopted
            && self.unfulfilled_purchases.is_empty()
            && self.holds.is_empty()
            && self.blocks.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldDrift {
    pub kind: AccountKind,
    /// Masked for API keys.
    pub id: String,
    /// The account's balance (null: the account is gone).
    pub balance: Option<i64>,
    /// Its `held_credits` counter (null: the account is gone).
    pub held_credits: Option<i64>,
    /// Σ of its active holds.
    pub active_holds: i64,
    /// Σ of its active holds not yet past their deadline.
    pub unexpired_holds: i64,
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
    let mut report = ReconcileReport {
        accounts_checked: 0,
        drift: Vec::new(),
        adopted: 0,
        unfulfilled_purchases: Vec::new(),
        holds: Vec::new(),
        blocks: Vec::new(),
    };
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
            "held" => {
                let kind: AccountKind = row.word("kind")?;
                report.holds.push(HeldDrift {
                    kind,
                    id: public_id(kind, row.text("id")?),
                    balance: row.opt_int("balance")?,
                    held_credits: row.opt_int("held_credits")?,
                    active_holds: row.int("active_holds")?,
                    unexpired_holds: row.int("unexpired_holds")?,
                })
            }
            "block" => {
                let kind: AccountKind = row.word("kind")?;
                report.blocks.push(BlockDrift {
                    kind,
                    id: public_id(kind, row.text("id")?),
                    block: row.opt_owned("block")?,
                    expected: row.int("expected")?,
                    on_row: row.int("on_row")?,
                })
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
