//! Adoption of key rows written the seed's way (the secret itself in `api_key_credits.api_key`):
//! the row takes its public id (`key_` + the first 20 hex digits of the secret's SHA-256, so every
//! adopter, and every listing before it, derives the same one), its hash and its `start`; the
//! ledger rows and idempotency records that copied the secret are relabelled with the id in the
//! same statement, so history stays attributable to the same key and no copy of the secret is
//! left. Idempotent: an adopted row has a `key_hash` and is never selected again.
//!
//! Run for every row by `migrate` (and by migration 0004's data step, for drizzle-kit users), and
//! for one presented secret by `RESOLVE_SQL` at that key's first use.

use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

/// The adoption CTEs (`legacy`, `adopted`, `relabel_ledger`, `relabel_idempotency`) for the
/// plaintext rows matching `$which` (alias `k`). Rows are locked in key order, so two adopters
/// never deadlock; the second finds nothing left to do.
macro_rules! adopt_plaintext {
    ($which:literal) => {
        concat!(
            r#"legacy AS (
  SELECT k.api_key AS secret, encode(sha256(convert_to(k.api_key, 'UTF8')), 'hex') AS key_hash
  FROM api_key_credits k WHERE k.key_hash IS NULL AND ("#,
            $which,
            r#")
  ORDER BY k.api_key
  FOR UPDATE OF k
), adopted AS (
  UPDATE api_key_credits k SET api_key = 'key_' || left(l.key_hash, 20), key_hash = l.key_hash,
    start = "#,
            crate::sql::ops::api_keys::view::legacy_start!("l.secret"),
            r#"
  FROM legacy l WHERE k.api_key = l.secret
  RETURNING k.api_key AS id
), relabel_ledger AS (
  UPDATE credit_transactions t SET api_key_id = 'key_' || left(l.key_hash, 20)
  FROM legacy l WHERE t.api_key_id = l.secret
  RETURNING t.id
), relabel_idempotency AS (
  UPDATE credit_idempotency_keys i SET account_id = 'key_' || left(l.key_hash, 20),
    response = replace(i.response, to_json(l.secret)::text, to_json('key_' || left(l.key_hash, 20))::text)
  FROM legacy l WHERE i.account_kind = 'api_key' AND i.account_id = l.secret
  RETURNING 1
)"#
        )
    };
}

pub(crate) use adopt_plaintext;

/// Every plaintext row (`migrate`; migration 0004's data step). Reports how many rows changed.
pub const ADOPT_ALL_SQL: &str = concat!(
    "WITH ",
    adopt_plaintext!("true"),
    r#"
SELECT (SELECT count(*) FROM adopted)::text AS keys, (SELECT count(*) FROM relabel_ledger)::text AS ledger_rows,
  (SELECT count(*) FROM relabel_idempotency)::text AS idempotency_rows"#
);

/// A presented secret the hashed lookup did not find: adopt its plaintext row if there is one
/// (`$1` the secret, matched by the primary key; NULL for a secret of our own format), or find
/// the key whose rotated-out secret it is, still in its grace (`$2` its hash, `$3` now). Says
/// which (`adopted`, `rotated`), or neither.
pub const RESOLVE_SQL: &str = concat!(
    "WITH ",
    adopt_plaintext!("k.api_key = $1::text"),
    r#", grace AS (
  SELECT k.api_key AS id FROM api_key_credits k
  WHERE "#,
    crate::sql::ops::api_keys::in_grace!("$2", "$3"),
    r#"
    AND "#,
    crate::sql::ops::api_keys::live_key!("$3"),
    r#"
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM adopted) THEN 'adopted' WHEN EXISTS (SELECT 1 FROM grace) THEN 'rotated' END AS found"#
);

/// A plaintext row named by the id it will be adopted under (`$1`), as a listing or a balance
/// shows it before its first use: adopted, so the id works everywhere at once. The derived id is
/// not indexed, so this scans the rows still in plaintext form; the engine runs it only after a
/// lookup by that id found nothing.
pub const ADOPT_ID_SQL: &str = concat!(
    "WITH ",
    adopt_plaintext!("'key_' || left(encode(sha256(convert_to(k.api_key, 'UTF8')), 'hex'), 20) = $1::text"),
    r#"
SELECT (SELECT count(*) FROM adopted)::text AS keys"#
);

pub fn plan_adopt_id(id: &str) -> Statement {
    Statement::new(ADOPT_ID_SQL).param(id)
}

/// Whether a row was adopted under the id.
pub fn decode_adopt_id(rows: &[Row]) -> Result<bool, CreditError> {
    Ok(single("adopt id", rows)?.int("keys")? > 0)
}

/// What `ADOPT_ALL_SQL` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Adopted {
    pub keys: i64,
    pub ledger_rows: i64,
    pub idempotency_rows: i64,
}

pub fn plan_all() -> Statement {
    Statement::new(ADOPT_ALL_SQL)
}

pub fn decode_all(rows: &[Row]) -> Result<Adopted, CreditError> {
    let row = single("adopt", rows)?;
    Ok(Adopted {
        keys: row.int("keys")?,
        ledger_rows: row.int("ledger_rows")?,
        idempotency_rows: row.int("idempotency_rows")?,
    })
}

/// `None` unless `key` is a presented secret: only those can need resolving.
pub fn plan_resolve(key: &KeyRef, now: Timestamp) -> Option<Statement> {
    match key {
        // Only a hand-made secret of the seed's era can sit in plaintext: one of ours (format and
        // checksum) never did, so it is not sent, and never reaches SQL text.
        KeyRef::Secret { secret, hash } => Some(
            Statement::new(RESOLVE_SQL)
                .optional((!crate::core::api_key::is_secret(secret)).then_some(secret))
                .param(hash)
                .param(now.to_sql_literal()),
        ),
        KeyRef::Id(_) | KeyRef::Rotated { .. } => None,
    }
}

/// How to find the key of a secret `RESOLVE_SQL` resolved: by its hash again (its row was just
/// adopted), as a rotated-out secret, or not at all.
pub fn decode_resolve(rows: &[Row], key: &KeyRef) -> Result<Option<KeyRef>, CreditError> {
    let hash = match key {
        KeyRef::Secret { hash, .. } => hash.clone(),
        _ => return Ok(None),
    };
    match single("resolve", rows)?.opt_text("found")? {
        Some("adopted") => Ok(Some(key.clone())),
        Some("rotated") => Ok(Some(KeyRef::Rotated { hash })),
        Some(_) => Err(CreditError::internal("resolve: unknown answer")),
        None => Ok(None),
    }
}
