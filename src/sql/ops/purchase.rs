//! `purchase`: credits bought by a user (a Stripe checkout, say). They land in the pool the user's
//! usage draws from (the team's when `users.team_id` is set), and raise the buyer's
//! `total_credits_purchased`. Idempotent per external payment id: the ledger id is
//! `purchase_<payment id>`, so a redelivered webhook cannot credit twice — the primary key
//! stops even two deliveries racing.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::sql::ops::grant::{credit_result, CreditFacts, CreditResult};
use crate::sql::statement::{single_row, Statement};

pub const SQL: &str = r#"WITH existing AS (
  SELECT t.id, t.user_id, t.team_id, t.amount FROM credit_transactions t WHERE t.id = 'purchase_' || $3::text
), credit_user AS (
  UPDATE users u SET
    credits = CASE WHEN u.team_id IS NULL THEN u.credits + $2::int ELSE u.credits END,
    total_credits_purchased = u.total_credits_purchased + $2::int
  WHERE u.id = $1::text AND NOT EXISTS (SELECT 1 FROM existing)
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
)
SELECT (CASE
  WHEN EXISTS (SELECT 1 FROM existing WHERE user_id = $1::text AND amount = $2::int) THEN (
    SELECT json_build_object('status', 'replay', 'original', json_build_object('transaction_id', e.id,
      'account_kind', CASE WHEN e.team_id IS NULL THEN 'user' ELSE 'team' END, 'account_id', coalesce(e.team_id, e.user_id),
      'amount', e.amount, 'balance', coalesce((SELECT credits FROM teams WHERE id = e.team_id), (SELECT credits FROM users WHERE id = e.user_id))))
    FROM existing e)
  WHEN EXISTS (SELECT 1 FROM existing) THEN json_build_object('status', 'idempotency_conflict')
  WHEN EXISTS (SELECT 1 FROM ledger) THEN (
    SELECT json_build_object('status', 'ok', 'transaction_id', l.id,
      'account_kind', CASE WHEN c.team_id IS NULL THEN 'user' ELSE 'team' END, 'account_id', coalesce(c.team_id, c.id),
      'amount', $2::int, 'balance', coalesce((SELECT credits FROM credit_team), c.credits))
    FROM credit_user c, ledger l)
  ELSE json_build_object('status', 'not_found')
END)::text AS r"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRequest {
    pub user_id: String,
    pub amount: Amount,
    /// The payment's external id (Stripe checkout session or event id): the idempotency key.
    pub payment_id: String,
    pub metadata: Option<String>,
}

pub fn plan(request: &PurchaseRequest, now: Timestamp) -> Statement {
    Statement::new(SQL)
        .param(&request.user_id)
        .param(request.amount.get())
        .param(&request.payment_id)
        .param(now.to_sql_literal())
        .optional(request.metadata.as_deref())
}

pub fn decode(rows: &[String], payment_id: &str) -> Result<CreditResult, CreditError> {
    let facts: CreditFacts = single_row("purchase", rows)?;
    match facts.status.as_str() {
        "ok" => credit_result(&facts, false),
        "replay" => credit_result(facts.original.as_deref().ok_or_else(|| CreditError::internal("purchase replay lacks original"))?, true),
        "idempotency_conflict" => Err(CreditError::IdempotencyConflict { key: payment_id.to_string() }),
        "not_found" => Err(CreditError::not_found("no such user")),
        other => Err(CreditError::internal(format!("unknown purchase status {other:?}"))),
    }
}

