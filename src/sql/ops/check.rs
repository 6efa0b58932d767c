//! `check`: would a consume of this amount succeed now? The same decision as `consume` on the
//! current row, in one read: nothing written, no lock taken. It decides on `available` (the
//! balance less active holds; a hold past its deadline no longer counts).

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::core::window::Period;
use crate::sql::ops::api_keys::{in_grace, live_key};
use crate::sql::ops::expiring::{blocks_due_left, blocks_gone};
use crate::sql::ops::holds::{expired_holds, key_available, key_used};
use crate::sql::ops::payer::Payer;
use crate::sql::outcome::{decode_charge, ChargeResult};
use crate::sql::row::Row;
use crate::sql::statement::Statement;

/// `check` for an API key (by public id, or by a presented secret's hash, the rotated-out one
/// during its grace included): the same decision on the current row, nothing written, no lock.
/// `clock_timestamp()` (volatile) keeps Hyperdrive from answering from its cache.
pub const CHECK_API_KEY_SQL: &str = concat!(
    r#"WITH decision AS (
  SELECT CASE
      WHEN k.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id = k.user_id AND o.team_id = k.team_id)
        THEN 'not_a_member'
      WHEN "#,
    key_available!("$3", ""),
    " - ",
    blocks_due_left!("k", "$3"),
    r#" < $2::int THEN 'insufficient_credits'
      WHEN k.daily_limit IS NOT NULL AND "#,
    key_used!(daily, "$5", "$3", ""),
    r#" + $2::bigint > k.daily_limit THEN 'daily_limit_exceeded'
      WHEN k.monthly_limit IS NOT NULL AND "#,
    key_used!(monthly, "$6", "$3", ""),
    r#" + $2::bigint > k.monthly_limit THEN 'monthly_limit_exceeded'
      ELSE 'ok' END AS status,
    k.api_key, k.credits - "#,
    blocks_gone!("k", "k.held_credits", "'api_key'", "k.api_key", "$3"),
    r#" AS credits, "#,
    key_available!("$3", ""),
    " - ",
    blocks_due_left!("k", "$3"),
    r#" AS available, k.daily_limit, "#,
    key_used!(daily, "$5", "$3", ""),
    r#" AS daily_used, k.monthly_limit, "#,
    key_used!(monthly, "$6", "$3", ""),
    r#" AS monthly_used
  FROM api_key_credits k
  WHERE (($4::text = 'api_key_id' AND k.api_key = $1::text)
      OR ($4::text = 'api_key_hash' AND (k.key_hash = $1::text
        OR ("#,
    in_grace!("$1", "$3"),
    r#"))))
    AND "#,
    live_key!("$3"),
    r#"
)
SELECT d.status, NULL AS transaction_id, 'api_key' AS charged_kind, d.api_key AS charged_id, $2::int::text AS amount,
  d.credits::text AS balance, d.available::text AS available, d.daily_limit::text AS daily_limit,
  d.daily_used::text AS daily_used, d.monthly_limit::text AS monthly_limit, d.monthly_used::text AS monthly_used,
  $3::text AS now, NULL AS expires_at, clock_timestamp()::text AS read_at
FROM decision d
UNION ALL
SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, clock_timestamp()::text
WHERE NOT EXISTS (SELECT 1 FROM decision)"#
);

/// `check` for a user (team pool or personal) or, for the service, a team; nothing written.
pub const CHECK_USER_SQL: &str = concat!(
    r#"WITH pool AS (
  SELECT 'team' AS kind, tm.id, tm.credits - "#,
    blocks_gone!("tm", "tm.held_credits", "'team'", "tm.id", "$3"),
    r#" AS credits, tm.credits - "#,
    blocks_due_left!("tm", "$3"),
    r#" AS spendable, tm.held_credits FROM users u JOIN teams tm ON tm.id = u.team_id
  WHERE $4::text <> 'team' AND u.id = CASE WHEN $4::text = 'session'
    THEN (SELECT s.user_id FROM sessions s WHERE s.token = $1 AND s.expires_at > $3::timestamp) ELSE $1 END
  UNION ALL
  SELECT 'user', u.id, u.credits - "#,
    blocks_gone!("u", "u.held_credits", "'user'", "u.id", "$3"),
    r#", u.credits - "#,
    blocks_due_left!("u", "$3"),
    r#", u.held_credits FROM users u
  WHERE $4::text <> 'team' AND u.team_id IS NULL AND u.id = CASE WHEN $4::text = 'session'
    THEN (SELECT s.user_id FROM sessions s WHERE s.token = $1 AND s.expires_at > $3::timestamp) ELSE $1 END
  UNION ALL
  SELECT 'team', tm.id, tm.credits - "#,
    blocks_gone!("tm", "tm.held_credits", "'team'", "tm.id", "$3"),
    r#", tm.credits - "#,
    blocks_due_left!("tm", "$3"),
    r#", tm.held_credits FROM teams tm WHERE $4::text = 'team' AND tm.id = $1
), decided AS (
  SELECT p.kind, p.id, p.credits, p.spendable::bigint - p.held_credits + "#,
    expired_holds!("p.held_credits", "p.kind", "p.id", "$3", "x.spendable", ""),
    r#" AS available FROM pool p
)
SELECT CASE WHEN p.available < $2::int THEN 'insufficient_credits' ELSE 'ok' END AS status, NULL AS transaction_id,
  p.kind AS charged_kind, p.id AS charged_id, $2::int::text AS amount, p.credits::text AS balance,
  p.available::text AS available, NULL AS daily_limit, '0' AS daily_used, NULL AS monthly_limit, '0' AS monthly_used,
  $3::text AS now, NULL AS expires_at, clock_timestamp()::text AS read_at
FROM decided p
UNION ALL
SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, clock_timestamp()::text
WHERE NOT EXISTS (SELECT 1 FROM decided)"#
);

/// `check` takes a positive amount like `consume` (API.md): a gate built on `check` with 0 would
/// let an empty account or an exhausted key through.
pub fn plan(payer: &Payer, amount: Amount, now: Timestamp) -> Statement {
    let (kind, id) = payer.parts();
    let statement =
        |sql: &'static str| Statement::new(sql).param(id).param(amount.get()).param(now.to_sql_literal()).param(kind);
    match payer {
        Payer::ApiKey(_) => statement(CHECK_API_KEY_SQL)
            .param(Period::Daily.start(now).to_sql_literal())
            .param(Period::Monthly.start(now).to_sql_literal()),
        Payer::User(_) | Payer::Session(_) | Payer::Team(_) => statement(CHECK_USER_SQL),
    }
}

pub fn decode(rows: &[Row], payer: &Payer) -> Result<ChargeResult, CreditError> {
    decode_charge("check", rows, None, false).map_err(|error| payer.named_missing(error))
}
