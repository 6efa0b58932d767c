//! API keys' lifecycle (API.md "API keys"): create, list, update, rotate, revoke, revoke leaked
//! secrets, and the adoption of key rows still in the seed's plaintext form. Each is one
//! statement; what a key looks like to its owner is `view::ApiKey`.
//!
//! Storage, on the seed's `api_key_credits`: `api_key` (the primary key, and what the ledger's
//! `api_key_id` and idempotency records name) holds the key's **public id**; `key_hash` the
//! SHA-256 of its secret (unique index: the debit finds a key by it); `previous_key_hash` and
//! `previous_key_expires_at` the rotated-out secret during its grace. A row whose `key_hash` is
//! NULL was written the seed's way, the secret in `api_key`: `adopt` rewrites it (and every row
//! that copied the secret) to hashed form, at `migrate` or at the key's first use.
//!
//! Who may do what: a key is seen by its creator and, for a team key, by the team's current
//! members; it is updated or revoked by its creator or the team's owner (while a member), and
//! rotated by its creator only (a rotation hands out a credential). A key the
//! caller cannot see is `not_found`, exactly like one that does not exist, so ids cannot be
//! probed. The service credential (`actor` NULL) may do all of it for any key.

pub mod adopt;
pub mod create;
pub mod manage;
pub mod revoke;
pub mod view;

/// The key rows a caller (`$a`, NULL for the service) names by id (`$i`): none when it does not
/// exist; `is_creator` for the user who created it; `may_change` also for its team's owner while
/// a member of that team; `visible` also for the team's current members.
macro_rules! key_access {
    ($id:literal, $actor:literal) => {
        concat!(
            "target AS (
  SELECT k.api_key, k.revoked_at,
    (",
            $actor,
            "::text IS NULL OR k.user_id = ",
            $actor,
            "::text) AS is_creator,
    (",
            $actor,
            "::text IS NULL OR k.user_id = ",
            $actor,
            "::text
      OR EXISTS (SELECT 1 FROM teams tm JOIN users ou ON ou.id = tm.owner_id AND ou.team_id = tm.id
        WHERE tm.id = k.team_id AND tm.owner_id = ",
            $actor,
            "::text)) AS may_change,
    (",
            $actor,
            "::text IS NULL OR k.user_id = ",
            $actor,
            "::text
      OR (k.team_id IS NOT NULL AND k.team_id = (SELECT u.team_id FROM users u WHERE u.id = ",
            $actor,
            "::text))) AS visible
  FROM api_key_credits k WHERE k.api_key = ",
            $id,
            "::text
)"
        )
    };
}

/// The status of a change to one key, given `target` (`key_access!`), the `target` column that
/// allows it (`may_change`, or `is_creator` for a rotation) and the CTE that changed it.
macro_rules! change_status {
    ($allowed:literal, $changed:literal) => {
        concat!(
            "CASE WHEN NOT EXISTS (SELECT 1 FROM target t WHERE t.visible OR t.may_change) THEN 'not_found'
  WHEN NOT EXISTS (SELECT 1 FROM target t WHERE t.",
            $allowed,
            ") THEN 'forbidden'
  WHEN EXISTS (SELECT 1 FROM ",
            $changed,
            ") THEN 'ok'
  ELSE 'revoked' END"
        )
    };
}

/// A live key (alias `k`) as of `$now`: not revoked, not past its `expires_at`. Every statement
/// that finds a key to spend from, authenticate or fund checks it, on the row it reads (the locked
/// row, in a debit), so a revoke or an expiry is never overtaken.
macro_rules! live_key {
    ($now:literal) => {
        concat!("k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ", $now, "::timestamp)")
    };
}

/// A secret (its hash, `$hash`) a rotation replaced, on key `k`, while its grace lasts (`$now`).
macro_rules! in_grace {
    ($hash:literal, $now:literal) => {
        concat!("k.previous_key_hash = ", $hash, "::text AND k.previous_key_expires_at > ", $now, "::timestamp")
    };
}

pub(crate) use change_status;
pub(crate) use in_grace;
pub(crate) use key_access;
pub(crate) use live_key;
