//! `grant`: add credits to a user, team or API key, with a `grant` ledger row, in one statement.
//! Its idempotency keys are stored as `grant:<key>`, apart from consume's on the same account
//! (API.md: keys are scoped to the account and the operation); a record stored bare before that
//! change still replays when its request hash (which names the operation) matches.
//! Idempotent under a caller key, scoped to the account. A grant that would lift a balance past
//! the `integer` range is refused whole (`invalid_amount`), decided on the row's latest version.

use crate::core::account::{Account, AccountRef};
use crate::core::error::CreditError;
use crate::core::idempotency::request_hash;
use crate::core::time::Timestamp;
use crate::core::validate::{Amount, Operation};
use crate::sql::idempotency::idempotent_tail;
use crate::sql::outcome::{out_of_range, unattributable};
use crate::sql::row::{single, Row, Word};
use crate::sql::statement::Statement;
use serde::Serialize;

/// A grant with a deadline (`$9`) adds a block to the account's row, named by the grant's own
/// ledger row; without one the credits never expire and the row's blocks are left alone.
macro_rules! grant_blocks {
    ($r:literal) => {
        concat!(
            "(expiring_ids, expiring_at, expiring_left) = (SELECT CASE WHEN $9::text IS NULL THEN ",
            $r,
            ".expiring_ids ELSE array_agg(m.id ORDER BY m.at, m.id) END,
      CASE WHEN $9::text IS NULL THEN ",
            $r,
            ".expiring_at ELSE array_agg(m.at ORDER BY m.at, m.id) END,
      CASE WHEN $9::text IS NULL THEN ",
            $r,
            ".expiring_left ELSE array_agg(m.l::int ORDER BY m.at, m.id) END
    FROM ",
            crate::sql::ops::expiring::blocks_merged!($r, "(SELECT record FROM block)"),
            " m)"
        )
    };
}

/// Team rows in the ledger need a `user_id` (NOT NULL in the seed): the owner, else the first member,
/// locked `FOR KEY SHARE` before the team (the ledger row's foreign-key check would otherwise lock
/// it after the team, against that user's own debit of the pool: user, then team).
pub const SQL: &str = concat!(
    r#"WITH fresh AS (
  SELECT 'ctx_' || replace(gen_random_uuid()::text, '-', '') AS id
), block AS (
  SELECT f.id, CASE WHEN $9::text IS NOT NULL THEN jsonb_build_object(f.id, jsonb_build_array($3::int, $9::timestamp)) END
    AS record
  FROM fresh f
), prior AS (
  SELECT request_hash = $6::text AS same, response FROM credit_idempotency_keys
  WHERE $5::text IS NOT NULL AND account_kind = $1::text AND account_id = $2::text
    AND (idempotency_key = 'grant:' || $5::text OR (idempotency_key = $5::text AND request_hash = $6::text))
), credit_user AS (
  UPDATE users u SET credits = u.credits + $3::int, "#,
    grant_blocks!("u"),
    r#"
  WHERE $1::text = 'user' AND u.id = $2::text AND NOT EXISTS (SELECT 1 FROM prior)
    AND u.credits::bigint + $3::bigint <= 2147483647
  RETURNING u.id AS user_id, NULL::text AS team_id, NULL::text AS api_key, u.credits
), team_owner AS (
  SELECT u.id FROM users u, teams t
  WHERE $1::text = 'team' AND t.id = $2::text AND NOT EXISTS (SELECT 1 FROM prior)
    AND u.id = coalesce(t.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = t.id))
  FOR KEY SHARE OF u
), credit_team AS (
  UPDATE teams t SET credits = t.credits + $3::int, updated_at = $7::timestamp, "#,
    grant_blocks!("t"),
    r#"
  WHERE $1::text = 'team' AND t.id = $2::text AND NOT EXISTS (SELECT 1 FROM prior)
    AND (SELECT count(*) FROM team_owner) >= 0
    AND t.credits::bigint + $3::bigint <= 2147483647
    AND coalesce(t.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = t.id)) IS NOT NULL
  RETURNING coalesce(t.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = t.id)) AS user_id, t.id AS team_id,
    NULL::text AS api_key, t.credits
), credit_key AS (
  UPDATE api_key_credits k SET credits = k.credits + $3::int, updated_at = $7::timestamp, "#,
    grant_blocks!("k"),
    r#"
  WHERE $1::text = 'api_key' AND k.api_key = $2::text AND k.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM prior)
    AND k.credits::bigint + $3::bigint <= 2147483647
  RETURNING k.user_id, k.team_id, k.api_key, k.credits
), credited AS (
  SELECT * FROM credit_user UNION ALL SELECT * FROM credit_team UNION ALL SELECT * FROM credit_key
), ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata,
    created_at, expiring)
  SELECT b.id, c.user_id, c.team_id, $3::int, 'grant', $4::text, NULL, c.api_key, $8::text, $7::timestamp, b.record
  FROM credited c, block b
  RETURNING id
), facts AS (
  SELECT l.id AS transaction_id, $1::text AS account_kind, $2::text AS account_id, $3::int AS amount, c.credits AS balance
  FROM credited c, ledger l
), remember_as AS (
  SELECT $1::text AS account_kind, $2::text AS account_id, 'grant:' || $5::text AS idempotency_key,
    $6::text AS request_hash, $7::timestamp AS created_at
  WHERE $5::text IS NOT NULL
), refused AS (
  SELECT (CASE
    WHEN $1::text = 'user' AND EXISTS (SELECT 1 FROM users WHERE id = $2::text) THEN 'out_of_range'
    WHEN $1::text = 'api_key' AND EXISTS (SELECT 1 FROM api_key_credits WHERE api_key = $2::text AND revoked_at IS NULL)
      THEN 'out_of_range'
    WHEN $1::text = 'team' AND EXISTS (SELECT 1 FROM teams WHERE id = $2::text
      AND coalesce(owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = $2::text)) IS NULL) THEN 'unattributable'
    WHEN $1::text = 'team' AND EXISTS (SELECT 1 FROM teams WHERE id = $2::text) THEN 'out_of_range'
    ELSE 'not_found'
  END) AS status, NULL::text AS transaction_id, NULL::text AS account_kind, NULL::text AS account_id,
    NULL::int AS amount, NULL::int AS balance
), "#,
    idempotent_tail!(transaction_id, account_kind, account_id, amount, balance)
);

/// Every outcome of a credit to one account (grant, purchase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    Credited(CreditResult),
    IdempotencyConflict,
    NotFound,
    OutOfRange,
    Unattributable,
}

/// The `status` column of a credit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Replay,
    IdempotencyConflict,
    NotFound,
    OutOfRange,
    Unattributable,
}

impl Word for Status {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "ok" => Status::Ok,
            "replay" => Status::Replay,
            "idempotency_conflict" => Status::IdempotencyConflict,
            "not_found" => Status::NotFound,
            "out_of_range" => Status::OutOfRange,
            "unattributable" => Status::Unattributable,
            _ => return None,
        })
    }
}

impl CreditOutcome {
    /// Reads a credit statement's single row (`status`, then the columns of `CreditResult`).
    pub fn read(operation: &str, rows: &[Row]) -> Result<Self, CreditError> {
        let row = single(operation, rows)?;
        let credited = |replayed: bool| -> Result<CreditOutcome, CreditError> {
            Ok(CreditOutcome::Credited(CreditResult {
                ok: true,
                transaction_id: row.owned("transaction_id")?,
                replayed,
                account: AccountRef::public(row.word("account_kind")?, row.text("account_id")?),
                amount: row.int("amount")?,
                balance: row.int("balance")?,
                expires_at: None,
            }))
        };
        match row.word::<Status>("status")? {
            Status::Ok => credited(false),
            Status::Replay => credited(true),
            Status::IdempotencyConflict => Ok(CreditOutcome::IdempotencyConflict),
            Status::NotFound => Ok(CreditOutcome::NotFound),
            Status::OutOfRange => Ok(CreditOutcome::OutOfRange),
            Status::Unattributable => Ok(CreditOutcome::Unattributable),
        }
    }

    /// The contract's result or error; `key` names the idempotency key of a conflict, `missing`
    /// says what was not found.
    pub fn into_result(self, key: Option<&str>, missing: &str) -> Result<CreditResult, CreditError> {
        match self {
            CreditOutcome::Credited(result) => Ok(result),
            CreditOutcome::IdempotencyConflict => {
                Err(CreditError::IdempotencyConflict { key: key.unwrap_or_default().to_string() })
            }
            CreditOutcome::NotFound => Err(CreditError::not_found(missing)),
            CreditOutcome::OutOfRange => Err(out_of_range()),
            CreditOutcome::Unattributable => Err(unattributable()),
        }
    }
}

/// The result of a credit to one account (grant, purchase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditResult {
    pub ok: bool,
    pub transaction_id: String,
    pub replayed: bool,
    pub account: AccountRef,
    pub amount: i64,
    pub balance: i64,
    /// The deadline of an expiring grant's credits.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::core::time_serde::rfc3339_option")]
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub account: Account,
    pub amount: Amount,
    /// Recorded in `credit_transactions.operation`; `grant` when not given.
    pub operation: Option<Operation>,
    pub metadata: Option<String>,
    pub idempotency_key: Option<String>,
    /// The block's deadline (`core::expiring::deadline`); `None`: the credits never expire.
    pub expires_at: Option<Timestamp>,
}

pub fn plan(request: &GrantRequest, now: Timestamp) -> Statement {
    let operation = request.operation.as_ref().map(Operation::as_str).unwrap_or("grant");
    let amount = request.amount.get().to_string();
    // A deadline is hashed only when there is one, so records stored before blocks existed keep
    // replaying.
    let deadline = request.expires_at.map(Timestamp::to_rfc3339);
    let mut parts = vec![
        "grant",
        request.account.kind.as_str(),
        &request.account.id,
        &amount,
        operation,
        request.metadata.as_deref().unwrap_or(""),
    ];
    parts.extend(deadline.as_deref());
    let fingerprint = request_hash(&parts);
    Statement::new(SQL)
        .param(request.account.kind.as_str())
        .param(&request.account.id)
        .param(request.amount.get())
        .param(operation)
        .optional(request.idempotency_key.as_deref())
        .param(fingerprint)
        .param(now.to_sql_literal())
        .optional(request.metadata.as_deref())
        .optional(request.expires_at.map(Timestamp::to_sql_literal).as_deref())
}

pub fn decode(rows: &[Row], request: &GrantRequest) -> Result<CreditResult, CreditError> {
    let mut result =
        CreditOutcome::read("grant", rows)?.into_result(request.idempotency_key.as_deref(), "no such account")?;
    result.expires_at = request.expires_at;
    Ok(result)
}
