//! Who is calling: a credential from `core::session::credential` resolved to a user (live Better
//! Auth session) or an API key, in one read. An unsigned bearer value may be either, so both
//! are tried in the same statement. An API key is found by its secret's hash (the current one, or
//! the rotated-out one during its grace), live keys only; `api_key` is the key's public id. A key
//! row still in the seed's plaintext form is not found here: the engine adopts it
//! (`api_keys::RESOLVE_SQL`) and asks again. Volatile `clock_timestamp()` keeps Hyperdrive from
//! caching the read.

use crate::core::api_key;
use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::sql::ops::api_keys::{in_grace, live_key};
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

pub const SQL: &str = concat!(
    r#"WITH found AS (
  SELECT 0 AS rank, 'user' AS kind, s.user_id, NULL::text AS api_key FROM sessions s
  WHERE s.token = $1::text AND s.expires_at > $2::timestamp
  UNION ALL
  SELECT 1, 'api_key', k.user_id, k.api_key FROM api_key_credits k
  WHERE (k.key_hash = $3::text OR ("#,
    in_grace!("$3", "$2"),
    r#"))
    AND "#,
    live_key!("$2"),
    r#"
)
SELECT f.kind, f.user_id, f.api_key, clock_timestamp()::text AS read_at
FROM (SELECT 1) one LEFT JOIN (SELECT * FROM found ORDER BY rank LIMIT 1) f ON true"#
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { user_id: String },
    ApiKey { api_key: String, user_id: String },
}

pub fn plan(credential: &Credential, now: Timestamp) -> Statement {
    let (session, key) = match credential {
        Credential::Session(token) => (Some(token.as_str()), None),
        // One of our secrets is never a session token: it stays out of SQL text entirely.
        Credential::Bearer(value) if api_key::is_secret(value) => (None, Some(api_key::hash(value))),
        Credential::Bearer(value) => (Some(value.as_str()), Some(api_key::hash(value))),
        Credential::ApiKey(key) => (None, Some(api_key::hash(key))),
    };
    Statement::new(SQL).optional(session).param(now.to_sql_literal()).optional(key.as_deref())
}

pub fn decode(rows: &[Row]) -> Result<Principal, CreditError> {
    let row = single("principal", rows)?;
    match row.opt_text("kind")? {
        Some("user") => Ok(Principal::User { user_id: row.owned("user_id")? }),
        Some("api_key") => Ok(Principal::ApiKey { api_key: row.owned("api_key")?, user_id: row.owned("user_id")? }),
        Some(_) => Err(CreditError::internal("principal: unknown kind")),
        None => Err(CreditError::unauthenticated("unknown or expired session, or unknown API key")),
    }
}
