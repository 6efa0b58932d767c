//! `revoke` and `revoke_leaked`: a key stops authenticating at once (every statement that finds a
//! key requires `revoked_at IS NULL`, checked on the locked row), and its unspent allowance goes
//! back to the pool it was allocated from — the creator's own for a personal key, the team's for a
//! team key, whoever holds it now — with an `allocation` row on each side, ids `revoke_<key>` and
//! `revoke_<key>_pool`, so a key's revocation is on the ledger exactly once.
//!
//! A pool that would pass the `integer` maximum takes nothing back: the allowance stays on the
//! revoked key (still counted, still reconciled) rather than a revocation failing, which for a
//! leaked key must never happen. Locks: the keys' creators, then the keys in id order, then pools (users, then teams, in
//! id order), the order every other statement keeps. The key's active holds are released with it
//! (locked after the key, as a capture and a settle lock a key before its holds); a hold opened on the
//! key while the revoke ran keeps its credits on the key, so its capture still finds them. A user
//! revoking their own key releases only the holds opened with the key: one the service opened on
//! it is the service's to capture or release (else the revoke would hand its credits back to the
//! user before the backend charged them), and its credits stay on the key until then.
//!
//! Expiring credits go back as the blocks they are (same ids and deadlines), with what the
//! released holds took from them: the pool's block if it still has it, else as a block of their
//! own; what has passed its deadline expires on the pool in the same statement, with an
//! `expiration` row — a revoke never makes expiring credits lasting.
//!
//! The keys' creators are locked first (`FOR NO KEY UPDATE`: a personal key's creator is its pool),
//! in the users-before-keys order a team key's debit keeps (creator `FOR SHARE`, then the key); a
//! personal key's debit, which locks its key first and its creator only by a foreign-key check
//! (`KEY SHARE`), is not blocked by that mode. The ledger rows name the creators: their foreign-key
//! check would otherwise lock a creator after its key and team, against the creator's own debits.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::ops::api_keys::key_access;
use crate::sql::ops::api_keys::manage::refusal;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;
use serde::Serialize;

/// Revokes the live keys listed by a `doomed(api_key)` CTE defined before it, as of `$now`:
/// `key`, `pool`, `decision`, `revoked(api_key, returned, revoked_at)`, the pool credits and the
/// ledger rows. The key's holds that `$releases` (a condition on hold `h`) are released with it;
/// the others keep their credits on the key for their capture.
macro_rules! revoke_keys {
    ($now:literal, $releases:literal) => {
        concat!(
            r#"creators AS (
  SELECT u.id FROM users u
  WHERE u.id IN (SELECT k.user_id FROM api_key_credits k WHERE k.api_key IN (SELECT api_key FROM doomed))
  ORDER BY u.id FOR NO KEY UPDATE OF u
), locked_key AS (
  SELECT k.api_key, k.user_id, k.team_id, k.credits, k.held_credits, k.expiring_ids, k.expiring_at, k.expiring_left
  FROM api_key_credits k
  WHERE k.api_key IN (SELECT api_key FROM doomed) AND k.revoked_at IS NULL AND (SELECT count(*) FROM creators) >= 0
  ORDER BY k.api_key
  FOR UPDATE OF k
), key_holds AS (
  SELECT h.id, h.account_id, h.amount, h.expiring FROM credit_holds h
  WHERE h.account_kind = 'api_key' AND h.account_id IN (SELECT api_key FROM locked_key) AND h.state = 'active'
    AND "#,
            $releases,
            r#"
  ORDER BY h.id
  FOR UPDATE OF h
), key AS (
  SELECT k.*, k.held_credits - coalesce((SELECT sum(h.amount) FROM key_holds h WHERE h.account_id = k.api_key), 0)
    AS still_held,
    "#,
            crate::sql::ops::expiring::records_summed!("key_holds h", "h.expiring", "h.account_id = k.api_key"),
            r#" AS released
  FROM locked_key k
), released_holds AS (
  UPDATE credit_holds h SET state = 'released', captured = 0, closed_at = "#,
            $now,
            r#"::timestamp
  FROM key k WHERE h.id IN (SELECT id FROM key_holds) AND h.account_id = k.api_key
  RETURNING h.id
), pool_user AS (
  SELECT u.id, u.credits FROM users u WHERE u.id IN (SELECT user_id FROM key WHERE team_id IS NULL)
  ORDER BY u.id FOR NO KEY UPDATE OF u
), pool_team AS (
  SELECT tm.id, tm.credits FROM teams tm WHERE tm.id IN (SELECT team_id FROM key)
  ORDER BY tm.id FOR UPDATE OF tm
), pool AS (
  SELECT 'user' AS kind, p.id,
    p.credits::bigint + (SELECT sum(k.credits - k.still_held) FROM key k WHERE k.team_id IS NULL AND k.user_id = p.id) AS after
  FROM pool_user p
  UNION ALL
  SELECT 'team', p.id, p.credits::bigint + (SELECT sum(k.credits - k.still_held) FROM key k WHERE k.team_id = p.id)
  FROM pool_team p
), decision AS (
  SELECT k.api_key, k.user_id, k.team_id, k.still_held,
    CASE WHEN p.after <= 2147483647 THEN greatest(k.credits - k.still_held, 0) ELSE 0 END AS returned,
    CASE WHEN p.after <= 2147483647 THEN (SELECT jsonb_object_agg(m.id, jsonb_build_array(m.l, m.at))
      FROM "#,
            crate::sql::ops::expiring::blocks_merged!("k", "k.released"),
            r#" m WHERE m.l > 0) END AS record, k.released
  FROM key k LEFT JOIN pool p
    ON p.kind = CASE WHEN k.team_id IS NULL THEN 'user' ELSE 'team' END AND p.id = coalesce(k.team_id, k.user_id)
), revoked AS (
  UPDATE api_key_credits k SET revoked_at = "#,
            $now,
            r#"::timestamp, credits = k.credits - d.returned, held_credits = d.still_held, "#,
            crate::sql::ops::expiring::blocks_store!("k", "d.released", "d.record IS NULL"),
            r#", previous_key_hash = NULL,
    previous_key_expires_at = NULL, updated_at = "#,
            $now,
            r#"::timestamp
  FROM decision d WHERE k.api_key = d.api_key
  RETURNING k.api_key, d.returned, k.revoked_at
), credit_user AS (
  UPDATE users u SET credits = u.credits + s.total - "#,
            crate::sql::ops::expiring::record_total!(crate::sql::ops::expiring::record_part!("s.record", $now, due)),
            ", ",
            crate::sql::ops::expiring::blocks_store!(
                "u",
                crate::sql::ops::expiring::record_part!("s.record", $now, live),
                "true"
            ),
            r#"
  FROM (SELECT user_id, sum(returned) AS total, "#,
            crate::sql::ops::expiring::records_summed!("decision d", "d.record", "d.team_id IS NULL AND d.user_id = x.user_id"),
            r#" AS record
    FROM decision x WHERE team_id IS NULL GROUP BY user_id) s
  WHERE u.id = s.user_id AND s.total > 0
  RETURNING u.id
), credit_team AS (
  UPDATE teams tm SET updated_at = "#,
            $now,
            r#"::timestamp, credits = tm.credits + s.total - "#,
            crate::sql::ops::expiring::record_total!(crate::sql::ops::expiring::record_part!("s.record", $now, due)),
            ", ",
            crate::sql::ops::expiring::blocks_store!(
                "tm",
                crate::sql::ops::expiring::record_part!("s.record", $now, live),
                "true"
            ),
            r#"
  FROM (SELECT team_id, sum(returned) AS total, "#,
            crate::sql::ops::expiring::records_summed!("decision d", "d.record", "d.team_id = x.team_id"),
            r#" AS record
    FROM decision x WHERE team_id IS NOT NULL GROUP BY team_id) s
  WHERE tm.id = s.team_id AND s.total > 0
  RETURNING tm.id
), returned_ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT 'revoke_' || d.api_key, d.user_id, d.team_id, -d.returned, 'allocation', 'api_key.revoke', NULL, d.api_key,
    json_build_object('to', CASE WHEN d.team_id IS NULL THEN 'user' ELSE 'team' END, 'to_id', coalesce(d.team_id, d.user_id))::text,
    "#,
            $now,
            r#"::timestamp, d.record
  FROM decision d WHERE d.returned > 0
  UNION ALL
  SELECT 'revoke_' || d.api_key || '_pool', d.user_id, d.team_id, d.returned, 'allocation', 'api_key.revoke', NULL, NULL,
    json_build_object('from_api_key', d.api_key)::text, "#,
            $now,
            r#"::timestamp, d.record
  FROM decision d WHERE d.returned > 0
  RETURNING id
), "#,
            crate::sql::ops::expiring::expire_returned!(
                "expired_returns",
                "decision d",
                crate::sql::ops::expiring::record_part!("d.record", $now, due),
                "d.user_id",
                "d.team_id",
                "NULL",
                $now
            )
        )
    };
}

/// One key by id (`$1`) for a caller (`$2`, NULL for the service), as of `$3`. A second revoke
/// is answered like the first (`already`: its time and what it returned), writing nothing.
pub const REVOKE_SQL: &str = concat!(
    "WITH ",
    key_access!("$1", "$2"),
    r#", doomed AS (
  SELECT t.api_key FROM target t WHERE t.may_change
), "#,
    revoke_keys!("$3", "($2::text IS NULL OR h.opened_by <> 'service')"),
    r#"
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target t WHERE t.visible OR t.may_change) THEN 'not_found'
    WHEN NOT EXISTS (SELECT 1 FROM target t WHERE t.may_change) THEN 'forbidden'
    WHEN EXISTS (SELECT 1 FROM revoked) THEN 'ok'
    WHEN EXISTS (SELECT 1 FROM target t WHERE t.revoked_at IS NOT NULL) THEN 'already'
    ELSE 'contended' END AS status,
  coalesce((SELECT r.revoked_at FROM revoked r), (SELECT t.revoked_at FROM target t))::text AS revoked_at,
  coalesce((SELECT r.returned FROM revoked r),
    (SELECT -x.amount FROM credit_transactions x WHERE x.id = 'revoke_' || $1::text), 0)::text AS returned"#
);

/// Every live key whose current secret hashes to one of `$1` (comma-separated hex) is revoked;
/// a secret still in a rotation's grace just loses its grace. Unknown hashes are ignored.
pub const REVOKE_LEAKED_SQL: &str = concat!(
    r#"WITH hashes AS (
  SELECT unnest(string_to_array($1::text, ',')) AS h
), doomed AS (
  SELECT k.api_key FROM api_key_credits k WHERE k.key_hash IN (SELECT h FROM hashes) AND k.revoked_at IS NULL
), "#,
    revoke_keys!("$2", "true"),
    r#", grace_ended AS (
  UPDATE api_key_credits k SET previous_key_hash = NULL, previous_key_expires_at = NULL, updated_at = $2::timestamp
  WHERE k.previous_key_hash IN (SELECT h FROM hashes) AND k.api_key NOT IN (SELECT api_key FROM doomed)
  RETURNING k.api_key
)
SELECT ((SELECT count(*) FROM revoked) + (SELECT count(*) FROM grace_ended))::text AS revoked"#
);

/// API.md: `{"ok": true, "id", "revoked_at", "returned"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revoked {
    pub ok: bool,
    pub id: String,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub revoked_at: Timestamp,
    /// Credits given back to the pool the key was funded from.
    pub returned: i64,
    /// True when the key had already been revoked (this call changed nothing).
    pub replayed: bool,
}

/// `{"revoked": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RevokedLeaked {
    pub revoked: i64,
}

pub fn plan_revoke(id: &str, actor: Option<&str>, now: Timestamp) -> Statement {
    Statement::new(REVOKE_SQL).param(id).optional(actor).param(now.to_sql_literal())
}

/// `None` when another request revoked the key after this statement's snapshot (nothing was
/// written): run again, it answers as a replay.
pub fn decode_revoke(rows: &[Row], id: &str) -> Result<Option<Revoked>, CreditError> {
    let row = single("revoke key", rows)?;
    let replayed = match row.text("status")? {
        "ok" => false,
        "already" => true,
        "contended" => return Ok(None),
        other => return Err(refusal(other)),
    };
    Ok(Some(Revoked {
        ok: true,
        id: id.to_string(),
        revoked_at: row.timestamp("revoked_at")?,
        returned: row.int("returned")?,
        replayed,
    }))
}

/// Hashes of the presented secrets (the secrets themselves never reach SQL).
pub fn plan_revoke_leaked(hashes: &[String], now: Timestamp) -> Statement {
    Statement::new(REVOKE_LEAKED_SQL).param(hashes.join(",")).param(now.to_sql_literal())
}

pub fn decode_revoke_leaked(rows: &[Row]) -> Result<RevokedLeaked, CreditError> {
    Ok(RevokedLeaked { revoked: single("revoke leaked keys", rows)?.int("revoked")? })
}
