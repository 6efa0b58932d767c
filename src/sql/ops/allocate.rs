//! `allocate`: fund an API key's allowance from its owner's pool (the team's when the key has a
//! team), in one statement: both rows locked, the pool checked, both balances moved, and an
//! `allocation` ledger row written on each side so both accounts still equal their ledgers.
//!
//! Expiring credits move with their deadlines: the pool's blocks are spent soonest first, as a
//! consume would, and the key receives them as the same blocks (same ids and deadlines), so
//! funding a key never turns expiring credits into lasting ones; a revoke gives them back.
//!
//! The pool gives only what is `available` (its balance less its active holds); a pool with a hold
//! past its deadline that nobody closed yet answers `settle`, as a consume does.
//!
//! Idempotency keys are stored as `allocate:<key>`, apart from the key holder's consumes on the same
//! account (a bare record from before still replays when its request hash matches).
//!
//! The key is named by its public id, and must be live (a revoked or expired key takes no
//! credits: they could only be stranded there).
//!
//! Ownership comes first, even for a replay: a stored outcome is only returned to the key's owner
//! (or the service), so another user cannot read it by guessing an idempotency key. A team key is
//! funded from the team pool only while its owner is still a member of that team. Locks are taken
//! the key's creator's user row first, then the key, then the team — the users-before-keys-before-
//! teams order a team key's debit keeps (creator `FOR SHARE`, then the key). The creator is locked
//! `FOR NO KEY UPDATE` (what updating a pool takes), which a personal key's debit does not wait on:
//! it locks its key first and its creator only by its ledger row's foreign-key check (`KEY SHARE`),
//! the one lock that mode lets through. So an allocate cannot deadlock with either kind of debit,
//! and a removal from the team is ordered with it.

use crate::core::idempotency::request_hash;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::core::window::Period;
use crate::sql::ops::api_keys::live_key;
use crate::sql::ops::expiring::{blocks_due, blocks_spend, blocks_store};
use crate::sql::ops::holds::{key_available, unsettled};
use crate::sql::outcome::charge_idempotent_tail;
use crate::sql::statement::Statement;

pub const SQL: &str = concat!(
    r#"WITH visible AS (
  SELECT k.api_key FROM api_key_credits k WHERE k.api_key = $1::text AND ($8::text IS NULL OR k.user_id = $8::text)
    AND "#,
    live_key!("$4"),
    r#"
), prior AS (
  SELECT request_hash = $7::text AS same, response FROM credit_idempotency_keys
  WHERE $3::text IS NOT NULL AND account_kind = 'api_key' AND account_id = $1::text
    AND (idempotency_key = 'allocate:' || $3::text OR (idempotency_key = $3::text AND request_hash = $7::text))
    AND EXISTS (SELECT 1 FROM visible)
), creator AS (
  SELECT u.id FROM users u, api_key_credits k, visible v
  WHERE k.api_key = v.api_key AND u.id = k.user_id AND NOT EXISTS (SELECT 1 FROM prior)
  FOR NO KEY UPDATE OF u
), key AS (
  SELECT k.api_key, k.user_id, k.team_id, k.credits FROM api_key_credits k, visible v
  WHERE k.api_key = v.api_key AND NOT EXISTS (SELECT 1 FROM prior) AND (SELECT count(*) FROM creator) >= 0
    AND "#,
    live_key!("$4"),
    r#"
  FOR UPDATE OF k
), owner AS (
  SELECT o.team_id FROM users o, key k
  WHERE k.team_id IS NOT NULL AND o.id = k.user_id AND o.team_id = k.team_id
  FOR SHARE OF o
), source_user AS (
  SELECT u.id, u.credits, u.held_credits, u.expiring_at FROM users u, key k WHERE k.team_id IS NULL AND u.id = k.user_id
  FOR NO KEY UPDATE OF u
), source_team AS (
  SELECT t.id, t.credits, t.held_credits, t.expiring_at FROM teams t, owner o WHERE t.id = o.team_id FOR UPDATE OF t
), source_available AS (
  SELECT 'user' AS kind, id, credits, held_credits, credits::bigint - held_credits AS available, expiring_at
  FROM source_user
  UNION ALL
  SELECT 'team', id, credits, held_credits, credits::bigint - held_credits, expiring_at FROM source_team
), decision AS (
  SELECT coalesce(s.kind, 'team') AS source_kind, coalesce(s.id, k.team_id) AS source_id, s.credits AS source_credits,
    s.available AS source_available, k.api_key, k.user_id, k.team_id, CASE
    WHEN s.id IS NULL THEN 'not_a_member'
    WHEN "#,
    unsettled!("s.held_credits", "s.kind", "s.id", "$4"),
    " OR ",
    blocks_due!("s", "$4"),
    r#" THEN 'settle'
    WHEN s.available < $2::int THEN 'insufficient_credits'
    WHEN k.credits::bigint + $2::bigint > 2147483647 THEN 'out_of_range'
    ELSE 'ok' END AS status
  FROM key k LEFT JOIN source_available s ON true
), debit_user AS (
  UPDATE users u SET credits = u.credits - $2::int, "#,
    blocks_spend!("u", "$2::int"),
    r#"
  FROM decision d WHERE d.status = 'ok' AND d.source_kind = 'user' AND u.id = d.source_id
  RETURNING u.credits, u.expiring_take
), debit_team AS (
  UPDATE teams t SET credits = t.credits - $2::int, updated_at = $4::timestamp, "#,
    blocks_spend!("t", "$2::int"),
    r#"
  FROM decision d WHERE d.status = 'ok' AND d.source_kind = 'team' AND t.id = d.source_id
  RETURNING t.credits, t.expiring_take
), source_after AS (
  SELECT credits, expiring_take FROM debit_user UNION ALL SELECT credits, expiring_take FROM debit_team
), credit_key AS (
  UPDATE api_key_credits k SET credits = k.credits + $2::int, updated_at = $4::timestamp, "#,
    blocks_store!("k", "s.expiring_take", "true"),
    r#"
  FROM decision d, source_after s WHERE k.api_key = d.api_key
  RETURNING k.credits, k.daily_limit, k.monthly_limit, "#,
    key_available!("$4", ""),
    r#" AS available,
    CASE WHEN k.daily_window_start >= $5::timestamp THEN k.daily_used ELSE 0 END AS daily_used,
    CASE WHEN k.monthly_window_start >= $6::timestamp THEN k.monthly_used ELSE 0 END AS monthly_used
), ledger_source AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT 'ctx_' || replace(gen_random_uuid()::text, '-', ''), d.user_id, CASE WHEN d.source_kind = 'team' THEN d.source_id END,
    -$2::int, 'allocation', 'allocate', NULL, NULL, json_build_object('to_api_key', $1::text)::text, $4::timestamp,
    (SELECT expiring_take FROM source_after)
  FROM decision d, credit_key c
  RETURNING id
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT 'ctx_' || replace(gen_random_uuid()::text, '-', ''), d.user_id, d.team_id, $2::int, 'allocation', 'allocate', NULL,
    d.api_key, json_build_object('from', d.source_kind, 'from_id', d.source_id)::text, $4::timestamp,
    (SELECT expiring_take FROM source_after)
  FROM decision d, credit_key c, ledger_source s
  RETURNING id
), facts AS (
  SELECT l.id AS transaction_id, 'api_key'::text AS charged_kind, d.api_key AS charged_id, $2::int AS amount,
    c.credits AS balance, c.available, c.daily_limit, c.daily_used, c.monthly_limit, c.monthly_used,
    $4::text AS now, NULL::text AS expires_at
  FROM decision d, credit_key c, ledger l
), remember_as AS (
  SELECT 'api_key' AS account_kind, $1::text AS account_id, 'allocate:' || $3::text AS idempotency_key,
    $7::text AS request_hash, $4::timestamp AS created_at
  WHERE $3::text IS NOT NULL
), refused AS (
  SELECT d.status, NULL::text AS transaction_id, d.source_kind AS charged_kind, d.source_id AS charged_id,
    $2::int AS amount, coalesce(d.source_credits, 0) AS balance, coalesce(d.source_available, 0) AS available,
    NULL::int AS daily_limit, 0 AS daily_used, NULL::int AS monthly_limit, 0 AS monthly_used, $4::text AS now,
    NULL::text AS expires_at
  FROM decision d
  UNION ALL
  SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  WHERE NOT EXISTS (SELECT 1 FROM decision)
), "#,
    charge_idempotent_tail!()
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateRequest {
    /// The key's public id.
    pub api_key: String,
    pub amount: Amount,
    pub idempotency_key: Option<String>,
    /// When set, the key must belong to this user (a signed-in caller); otherwise not_found, the
    /// same answer as for a key that does not exist.
    pub owner: Option<String>,
}

pub fn plan(request: &AllocateRequest, now: Timestamp) -> Statement {
    let amount = request.amount.get().to_string();
    let fingerprint = request_hash(&["allocate", &request.api_key, &amount]);
    Statement::new(SQL)
        .param(&request.api_key)
        .param(request.amount.get())
        .optional(request.idempotency_key.as_deref())
        .param(now.to_sql_literal())
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal())
        .param(fingerprint)
        .optional(request.owner.as_deref())
}
