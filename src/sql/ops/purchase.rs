//! `purchase`: credits bought by a user (a Stripe checkout, say). They land in the pool the user's
//! usage draws from (the team's when `users.team_id` is set), and raise the buyer's
//! `total_credits_purchased`. Idempotent per external payment id: the ledger id is
//! `purchase_<payment id>`, so a redelivered webhook cannot credit twice — the primary key
//! stops even two deliveries racing.
//!
//! A purchase that cannot be credited (unknown buyer, a balance that would leave the `integer`
//! range) writes no credit, but is recorded in `credit_unfulfilled_purchases` by the same
//! statement, so the operator sees it (`/health`, `reconcile`) while Stripe keeps retrying; the
//! retry that succeeds removes the record.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::sql::ops::grant::{CreditOutcome, CreditResult};
use crate::sql::row::Row;
use crate::sql::statement::Statement;

pub const SQL: &str = r#"WITH existing AS (
  SELECT t.id, t.user_id, t.team_id, t.amount FROM credit_transactions t WHERE t.id = 'purchase_' || $3::text
), buyer AS (
  SELECT u.id, u.team_id, u.credits FROM users u WHERE u.id = $1::text AND NOT EXISTS (SELECT 1 FROM existing)
  FOR UPDATE OF u
), pool_team AS (
  SELECT t.id, t.credits FROM teams t, buyer b WHERE t.id = b.team_id FOR UPDATE OF t
), decision AS (
  SELECT b.id, b.team_id, CASE
    WHEN coalesce((SELECT p.credits FROM pool_team p), b.credits)::bigint + $2::bigint > 2147483647 THEN 'out_of_range'
    ELSE 'ok' END AS status
  FROM buyer b
), credit_user AS (
  UPDATE users u SET
    credits = CASE WHEN u.team_id IS NULL THEN u.credits + $2::int ELSE u.credits END,
    total_credits_purchased = least(coalesce(u.total_credits_purchased, 0)::bigint + $2::bigint, 2147483647)::int
  FROM decision d WHERE u.id = d.id AND d.status = 'ok'
  RETURNING u.id, u.team_id, u.credits
), credit_team AS (
  UPDATE teams t SET credits = t.credits + $2::int, updated_at = $4::timestamp
  FROM credit_user c WHERE t.id = c.team_id
  RETURNING t.credits
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at)
  SELECT 'purchase_' || $3::text, c.id, c.team_id, $2::int, 'purchase', 'purchase', $3::text, NULL, $5::text, $4::timestamp
  FROM credit_user c
  RETURNING id
), unfulfilled AS (
  INSERT INTO credit_unfulfilled_purchases (payment_id, event_id, user_id, reason, attempts, first_seen_at, last_seen_at)
  SELECT $3::text, $6::text, $1::text, CASE WHEN EXISTS (SELECT 1 FROM decision) THEN 'out_of_range' ELSE 'unknown_user' END,
    1, $4::timestamp, $4::timestamp
  WHERE NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM decision WHERE status = 'ok')
  ON CONFLICT (payment_id) DO UPDATE SET attempts = credit_unfulfilled_purchases.attempts + 1,
    event_id = excluded.event_id, user_id = excluded.user_id, reason = excluded.reason, last_seen_at = excluded.last_seen_at
), fulfilled AS (
  DELETE FROM credit_unfulfilled_purchases WHERE payment_id = $3::text AND EXISTS (SELECT 1 FROM ledger)
)
SELECT v.status, x.transaction_id, x.account_kind, x.account_id, x.amount::text AS amount, x.balance::text AS balance
FROM (SELECT CASE
    WHEN EXISTS (SELECT 1 FROM existing WHERE user_id = $1::text AND amount = $2::int) THEN 'replay'
    WHEN EXISTS (SELECT 1 FROM existing) THEN 'idempotency_conflict'
    WHEN EXISTS (SELECT 1 FROM ledger) THEN 'ok'
    WHEN EXISTS (SELECT 1 FROM decision) THEN 'out_of_range'
    ELSE 'not_found' END AS status) v
LEFT JOIN (
  SELECT e.id AS transaction_id, CASE WHEN e.team_id IS NULL THEN 'user' ELSE 'team' END AS account_kind,
    coalesce(e.team_id, e.user_id) AS account_id, e.amount,
    coalesce((SELECT credits FROM teams WHERE id = e.team_id), (SELECT credits FROM users WHERE id = e.user_id)) AS balance
  FROM existing e WHERE e.user_id = $1::text AND e.amount = $2::int
  UNION ALL
  SELECT l.id, CASE WHEN c.team_id IS NULL THEN 'user' ELSE 'team' END, coalesce(c.team_id, c.id), $2::int,
    coalesce((SELECT credits FROM credit_team), c.credits)
  FROM credit_user c, ledger l
) x ON v.status IN ('ok', 'replay')"#;

/// A verified purchase the webhook could not even hand to `SQL` (no buyer named, no credits in
/// its metadata): recorded for the operator, counted again on each redelivery.
pub const RECORD_UNFULFILLED_SQL: &str = r#"INSERT INTO credit_unfulfilled_purchases
  (payment_id, event_id, user_id, reason, attempts, first_seen_at, last_seen_at)
VALUES ($1::text, $2::text, $3::text, $4::text, 1, $5::timestamp, $5::timestamp)
ON CONFLICT (payment_id) DO UPDATE SET attempts = credit_unfulfilled_purchases.attempts + 1,
  event_id = excluded.event_id, user_id = excluded.user_id, reason = excluded.reason, last_seen_at = excluded.last_seen_at
RETURNING attempts::text AS attempts"#;

pub fn plan_record_unfulfilled(
    payment_id: &str,
    event_id: &str,
    user_id: Option<&str>,
    reason: &str,
    now: Timestamp,
) -> Statement {
    Statement::new(RECORD_UNFULFILLED_SQL)
        .param(payment_id)
        .param(event_id)
        .optional(user_id)
        .param(reason)
        .param(now.to_sql_literal())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRequest {
    pub user_id: String,
    pub amount: Amount,
    /// The payment's external id (Stripe checkout session or event id): the idempotency key.
    pub payment_id: String,
    /// The delivery that carried it (a Stripe event id), kept with an unfulfilled purchase.
    pub event_id: String,
    pub metadata: Option<String>,
}

pub fn plan(request: &PurchaseRequest, now: Timestamp) -> Statement {
    Statement::new(SQL)
        .param(&request.user_id)
        .param(request.amount.get())
        .param(&request.payment_id)
        .param(now.to_sql_literal())
        .optional(request.metadata.as_deref())
        .param(&request.event_id)
}

pub fn decode(rows: &[Row], payment_id: &str) -> Result<CreditResult, CreditError> {
    CreditOutcome::read("purchase", rows)?.into_result(Some(payment_id), "no such user")
}
