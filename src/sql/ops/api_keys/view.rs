//! A key as its owner sees it: the columns every key statement selects (`key_view!`) and the
//! contract's key object they decode to. Never the secret, nor its hash.

use crate::core::api_key::masked;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::outcome::Limits;
use crate::sql::row::Row;
use serde::Serialize;

/// The public id of a key row: a row still in the seed's plaintext form shows the id `adopt`
/// will give it (derived from its secret's hash), never the secret.
macro_rules! public_id_of {
    () => {
        "CASE WHEN k.key_hash IS NULL THEN 'key_' || left(encode(sha256(convert_to(k.api_key, 'UTF8')), 'hex'), 20)
    ELSE k.api_key END"
    };
}

/// The first characters of a plaintext secret `adopt` keeps as `start`: nine, as for our own
/// keys, and nothing for a hand-made secret under 20 characters (nine of those would reveal too much).
macro_rules! legacy_start {
    ($secret:literal) => {
        concat!("CASE WHEN length(", $secret, ") >= 20 THEN left(", $secret, ", 9) ELSE '' END")
    };
}

/// The key columns, as text, of alias `k`; `$daily`/`$monthly` are the current windows' starts,
/// `$now` the instant its holds are judged at.
macro_rules! key_view {
    ($daily:literal, $monthly:literal, $now:literal) => {
        concat!(
            crate::sql::ops::api_keys::view::public_id_of!(),
            " AS id,
  CASE WHEN k.key_hash IS NULL THEN ",
            crate::sql::ops::api_keys::view::legacy_start!("k.api_key"),
            " ELSE coalesce(k.start, '') END AS start,
  k.name, k.user_id, k.team_id, k.credits::text AS credits, ",
            crate::sql::ops::holds::key_available!($now, ""),
            "::text AS available, k.daily_limit::text AS daily_limit,
  k.monthly_limit::text AS monthly_limit, ",
            crate::sql::ops::holds::key_used!(daily, $daily, $now, ""),
            "::text AS daily_used, ",
            crate::sql::ops::holds::key_used!(monthly, $monthly, $now, ""),
            "::text AS monthly_used,
  k.expires_at::text AS expires_at, k.revoked_at::text AS revoked_at, k.last_used_at::text AS last_used_at,
  k.created_at::text AS created_at"
        )
    };
}

pub(crate) use key_view;
pub(crate) use legacy_start;
pub(crate) use public_id_of;

/// API.md's key object. `key` (the secret) only in the answer to create and rotate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub start: String,
    /// `start…`: how the key is shown in a list.
    pub masked: String,
    pub name: Option<String>,
    /// Who created it.
    pub user_id: String,
    pub team_id: Option<String>,
    pub credits: i64,
    /// What the next consume may spend (the balance: keys have no holds yet).
    pub available: i64,
    pub daily_limit: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub limits: Limits,
    #[serde(serialize_with = "optional_rfc3339")]
    pub expires_at: Option<Timestamp>,
    #[serde(serialize_with = "optional_rfc3339")]
    pub revoked_at: Option<Timestamp>,
    #[serde(serialize_with = "optional_rfc3339")]
    pub last_used_at: Option<Timestamp>,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub created_at: Timestamp,
}

fn optional_rfc3339<S: serde::Serializer>(at: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&at.to_rfc3339()),
        None => serializer.serialize_none(),
    }
}

fn optional_timestamp(row: &Row, name: &str) -> Result<Option<Timestamp>, CreditError> {
    row.opt_text(name)?.map(Timestamp::parse).transpose().map_err(|_| CreditError::internal("key: malformed timestamp"))
}

impl ApiKey {
    /// Reads `key_view!`'s columns; windows as of `now`.
    pub fn read(row: &Row, now: Timestamp) -> Result<Self, CreditError> {
        let limits = Limits::read(row, now)?;
        let credits = row.int("credits")?;
        let start = row.owned("start")?;
        Ok(ApiKey {
            id: row.owned("id")?,
            key: None,
            masked: masked(&start),
            start,
            name: row.opt_owned("name")?,
            user_id: row.owned("user_id")?,
            team_id: row.opt_owned("team_id")?,
            credits,
            available: row.int("available")?,
            daily_limit: limits.daily.limit,
            monthly_limit: limits.monthly.limit,
            limits,
            expires_at: optional_timestamp(row, "expires_at")?,
            revoked_at: optional_timestamp(row, "revoked_at")?,
            last_used_at: optional_timestamp(row, "last_used_at")?,
            created_at: row.timestamp("created_at")?,
        })
    }
}

/// `{"api_keys": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}
