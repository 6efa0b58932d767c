//! Closing one account's holds past their deadline and expiring its blocks past theirs: what a
//! debit asks for when it finds either (`settle`), before it runs again. Like the sweep, but for one account and waiting for its locks
//! (a request is waiting on it), in the order every statement keeps: a user's row or a key's row
//! before their holds, a team's holds before the team's row. For a team, the user its expiration
//! rows name (owner, else first member) is locked `FOR KEY SHARE` first: their foreign-key check
//! would otherwise lock that user after the team, against the user's own debit of the pool (user,
//! then team). A team with nobody left names the user its grant named. For a key, its creator is
//! locked `FOR SHARE` before the key, as a team key's debit does.

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

/// The merged blocks of the row being settled (`$r`): its own plus what the expired holds took.
macro_rules! settle_merged {
    ($r:literal) => {
        crate::sql::ops::expiring::blocks_merged!($r, "(SELECT record FROM returned)")
    };
}

/// The `SET` items that tidy row `$r`: the expired holds out of `held_credits`, what they took
/// back on its blocks, and every block due at `$3` off the row — its rest out of `credits` and
/// into `expiring_take`, from which the same statement writes one `expiration` row per block.
macro_rules! settle_set {
    ($r:literal) => {
        concat!(
            "held_credits = ",
            $r,
            ".held_credits - (SELECT amount FROM total),
    credits = (",
            $r,
            ".credits - (SELECT coalesce(sum(m.l), 0) FROM ",
            settle_merged!($r),
            " m WHERE m.at <= $3::timestamp))::int,
    expiring_take = (SELECT jsonb_object_agg(m.id, jsonb_build_array(m.l, m.at)) FROM ",
            settle_merged!($r),
            " m WHERE m.at <= $3::timestamp AND m.l > 0),
    ",
            crate::sql::ops::expiring::blocks_store!($r, "(SELECT record FROM returned)", "m.at > $3::timestamp")
        )
    };
}

/// `$1` account kind, `$2` its id, `$3` now. Answers how many holds it closed and how many
/// blocks it expired. What an expired hold took from a block goes back to it; if that block is
/// due too, it expires with the rest.
pub const SQL: &str = concat!(
    r#"WITH owner AS (
  SELECT u.id FROM users u WHERE $1::text = 'user' AND u.id = $2::text FOR UPDATE OF u
), team_owner AS (
  SELECT u.id FROM users u, teams tm
  WHERE $1::text = 'team' AND tm.id = $2::text
    AND u.id = coalesce(tm.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = tm.id))
  FOR KEY SHARE OF u
), key_creator AS (
  SELECT u.id FROM users u, api_key_credits k
  WHERE $1::text = 'api_key' AND k.api_key = $2::text AND u.id = k.user_id
  FOR SHARE OF u
), key_row AS (
  SELECT k.api_key FROM api_key_credits k WHERE $1::text = 'api_key' AND k.api_key = $2::text
    AND (SELECT count(*) FROM team_owner) + (SELECT count(*) FROM key_creator) >= 0
  FOR UPDATE OF k
), settled AS (
  UPDATE credit_holds h SET state = 'expired', closed_at = $3::timestamp
  WHERE h.account_kind = $1::text AND h.account_id = $2::text AND h.state = 'active' AND h.expires_at <= $3::timestamp
    AND (SELECT count(*) FROM owner) + (SELECT count(*) FROM team_owner) + (SELECT count(*) FROM key_row) >= 0
  RETURNING h.amount, h.daily_window_start, h.monthly_window_start, h.expiring
), total AS (
  SELECT coalesce(sum(amount), 0)::int AS amount FROM settled
), returned AS (
  SELECT "#,
    crate::sql::ops::expiring::records_summed!("settled s", "s.expiring", "true"),
    r#" AS record
), tidy_user AS (
  UPDATE users u SET "#,
    settle_set!("u"),
    r#"
  WHERE $1::text = 'user' AND u.id = $2::text AND (EXISTS (SELECT 1 FROM settled) OR "#,
    crate::sql::ops::expiring::blocks_due!("u", "$3"),
    r#")
  RETURNING u.id AS user_id, NULL::text AS team_id, NULL::text AS api_key, u.expiring_take
), tidy_team AS (
  UPDATE teams tm SET "#,
    settle_set!("tm"),
    r#"
  WHERE $1::text = 'team' AND tm.id = $2::text AND (EXISTS (SELECT 1 FROM settled) OR "#,
    crate::sql::ops::expiring::blocks_due!("tm", "$3"),
    r#")
  RETURNING coalesce(tm.owner_id, (SELECT min(m.id) FROM users m WHERE m.team_id = tm.id)) AS user_id, tm.id AS team_id,
    NULL::text AS api_key, tm.expiring_take
), tidy_key AS (
  UPDATE api_key_credits k SET "#,
    settle_set!("k"),
    r#",
    daily_used = greatest(k.daily_used - (SELECT coalesce(sum(s.amount), 0) FROM settled s
      WHERE s.daily_window_start = k.daily_window_start), 0),
    monthly_used = greatest(k.monthly_used - (SELECT coalesce(sum(s.amount), 0) FROM settled s
      WHERE s.monthly_window_start = k.monthly_window_start), 0)
  WHERE $1::text = 'api_key' AND k.api_key = $2::text AND (EXISTS (SELECT 1 FROM settled) OR "#,
    crate::sql::ops::expiring::blocks_due!("k", "$3"),
    r#")
  RETURNING k.user_id, k.team_id, k.api_key, k.expiring_take
), tidied AS (
  SELECT * FROM tidy_user UNION ALL SELECT * FROM tidy_team UNION ALL SELECT * FROM tidy_key
), "#,
    crate::sql::ops::expiring::expire_returned!(
        "expired",
        "tidied t",
        "t.expiring_take",
        "coalesce(t.user_id, (SELECT g.user_id FROM credit_transactions g WHERE g.id = e.key))",
        "t.team_id",
        "t.api_key",
        "$3"
    ),
    r#"
SELECT (SELECT count(*) FROM settled)::text AS settled, (SELECT count(*) FROM tidied)::text AS tidied,
  (SELECT count(*) FROM expired)::text AS expired"#
);

pub fn plan(account: &Account, now: Timestamp) -> Statement {
    Statement::new(SQL).param(account.kind.as_str()).param(&account.id).param(now.to_sql_literal())
}

/// How many holds were closed and blocks expired. Holds closed without their account's row (the
/// account is gone) would leave the held total wrong: a bug, reported as such.
pub fn decode(rows: &[Row]) -> Result<Settled, CreditError> {
    let row = single("settle holds", rows)?;
    let (holds, tidied) = (row.int("settled")?, row.int("tidied")?);
    if holds > 0 && tidied != 1 {
        return Err(CreditError::internal("expired holds were closed without their account"));
    }
    Ok(Settled { holds, blocks: row.int("expired")? })
}

/// What one settle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settled {
    pub holds: i64,
    pub blocks: i64,
}
