//! Who is calling: a credential from `core::session::credential` resolved to a user (live Better
//! Auth session) or an API key, in one read. An unsigned bearer value may be either, so both
//! are tried in the same statement. Volatile `clock_timestamp()` keeps Hyperdrive from caching it.

use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::sql::statement::{single_row, Statement};
use serde::Deserialize;

pub const SQL: &str = r#"SELECT coalesce(
  (SELECT json_build_object('kind', 'user', 'user_id', s.user_id) FROM sessions s
    WHERE $3::boolean AND s.token = $1::text AND s.expires_at > $2::timestamp),
  (SELECT json_build_object('kind', 'api_key', 'api_key', k.api_key, 'user_id', k.user_id) FROM api_key_credits k
    WHERE $4::boolean AND k.api_key = $1::text),
  json_build_object('kind', 'none', 'read_at', clock_timestamp())
)::text AS r"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { user_id: String },
    ApiKey { api_key: String, user_id: String },
}

#[derive(Debug, Deserialize)]
struct Row {
    kind: String,
    user_id: Option<String>,
    api_key: Option<String>,
}

pub fn plan(credential: &Credential, now: Timestamp) -> Statement {
    let (value, session, api_key) = match credential {
        Credential::Session(token) => (token, true, false),
        Credential::Bearer(value) => (value, true, true),
        Credential::ApiKey(key) => (key, false, true),
    };
    Statement::new(SQL).param(value).param(now.to_sql_literal()).param(session).param(api_key)
}

pub fn decode(rows: &[String]) -> Result<Principal, CreditError> {
    let row: Row = single_row("principal", rows)?;
    let missing = || CreditError::internal("principal row lacks a field");
    match row.kind.as_str() {
        "user" => Ok(Principal::User { user_id: row.user_id.ok_or_else(missing)? }),
        "api_key" => Ok(Principal::ApiKey {
            api_key: row.api_key.ok_or_else(missing)?,
            user_id: row.user_id.ok_or_else(missing)?,
        }),
        _ => Err(CreditError::unauthenticated("unknown or expired session, or unknown API key")),
    }
}
