//! `check`: would a consume of this amount succeed now? The same decision as `consume` on the
//! current row, in one read: nothing written, no lock taken.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::core::window::Period;
use crate::sql::ops::payer::Payer;
use crate::sql::outcome::{decode_charge, ChargeResult};
use crate::sql::statement::Statement;

/// `check` for an API key: the same decision on the current row, nothing written, no lock.
pub const CHECK_API_KEY_SQL: &str = r#"SELECT coalesce((
  SELECT json_build_object('status', CASE
      WHEN k.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id = k.user_id AND o.team_id = k.team_id)
        THEN 'not_a_member'
      WHEN k.credits < $2::int THEN 'insufficient_credits'
      WHEN k.daily_limit IS NOT NULL AND w.daily_used::bigint + $2::bigint > k.daily_limit THEN 'daily_limit_exceeded'
      WHEN k.monthly_limit IS NOT NULL AND w.monthly_used::bigint + $2::bigint > k.monthly_limit THEN 'monthly_limit_exceeded'
      ELSE 'ok' END,
    'charged_kind', 'api_key', 'charged_id', k.api_key, 'amount', $2::int, 'balance', k.credits,
    'daily_limit', k.daily_limit, 'daily_used', w.daily_used, 'monthly_limit', k.monthly_limit,
    'monthly_used', w.monthly_used, 'now', $3::text, 'read_at', clock_timestamp())
  FROM api_key_credits k,
    LATERAL (SELECT CASE WHEN k.daily_window_start >= $5::timestamp THEN k.daily_used ELSE 0 END AS daily_used,
                    CASE WHEN k.monthly_window_start >= $6::timestamp THEN k.monthly_used ELSE 0 END AS monthly_used) w
  WHERE k.api_key = $1 AND $4::text = 'api_key'
), json_build_object('status', 'not_found'))::text AS r"#;

/// `check` for a user (team pool or personal) or, for the service, a team; nothing written.
pub const CHECK_USER_SQL: &str = r#"SELECT coalesce((
  SELECT json_build_object('status', CASE WHEN p.credits < $2::int THEN 'insufficient_credits' ELSE 'ok' END,
    'charged_kind', p.kind, 'charged_id', p.id, 'amount', $2::int, 'balance', p.credits,
    'daily_limit', NULL, 'daily_used', 0, 'monthly_limit', NULL, 'monthly_used', 0, 'now', $3::text,
    'read_at', clock_timestamp())
  FROM (
    SELECT 'team' AS kind, tm.id, tm.credits FROM users u JOIN teams tm ON tm.id = u.team_id
    WHERE $4::text <> 'team' AND u.id = CASE WHEN $4::text = 'session'
      THEN (SELECT s.user_id FROM sessions s WHERE s.token = $1 AND s.expires_at > $3::timestamp) ELSE $1 END
    UNION ALL
    SELECT 'user', u.id, u.credits FROM users u
    WHERE $4::text <> 'team' AND u.team_id IS NULL AND u.id = CASE WHEN $4::text = 'session'
      THEN (SELECT s.user_id FROM sessions s WHERE s.token = $1 AND s.expires_at > $3::timestamp) ELSE $1 END
    UNION ALL
    SELECT 'team', tm.id, tm.credits FROM teams tm WHERE $4::text = 'team' AND tm.id = $1
  ) p
), json_build_object('status', 'not_found'))::text AS r"#;

/// `check` takes a positive amount like `consume` (API.md): a gate built on `check` with 0 would
/// let an empty account or an exhausted key through.
pub fn plan(payer: &Payer, amount: Amount, now: Timestamp) -> Statement {
    let (kind, id) = payer.parts();
    let sql = if kind == "api_key" { CHECK_API_KEY_SQL } else { CHECK_USER_SQL };
    let statement = Statement::new(sql).param(id).param(amount.get()).param(now.to_sql_literal()).param(kind);
    if kind == "api_key" {
        statement.param(Period::Daily.start(now).to_sql_literal()).param(Period::Monthly.start(now).to_sql_literal())
    } else {
        statement
    }
}

pub fn decode(rows: &[String], payer: &Payer) -> Result<ChargeResult, CreditError> {
    decode_charge("check", rows, None, false).map_err(|error| payer.named_missing(error))
}
