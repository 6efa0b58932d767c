//! Who is calling: a credential from `core::session::credential` resolved to a user (live Better
//! Auth session) or an API key, in one read. An unsigned bearer value may be either, so both
//! are tried in the same statement. Volatile `clock_timestamp()` keeps Hyperdrive from caching it.

use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

pub const SQL: &str = r#"WITH found AS (
  SELECT 0 AS rank, 'user' AS kind, s.user_id, NULL::text AS api_key FROM sessions s
  WHERE $3::boolean AND s.token = $1::text AND s.expires_at > $2::timestamp
  UNION ALL
  SELECT 1, 'api_key', k.user_id, k.api_key FROM api_key_credits k WHERE $4::boolean AND k.api_key = $1::text
)
SELECT f.kind, f.user_id, f.api_key, clock_timestamp()::text AS read_at
FROM (SELECT 1) one LEFT JOIN (SELECT * FROM found ORDER BY rank LIMIT 1) f ON true"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { user_id: String },
    ApiKey { api_key: String, user_id: String },
}

pub fn plan(credential: &Credential, now: Timestamp) -> Statement {
    let (value, session, api_key) = match credential {
        Credential::Session(token) => (token, true, false),
        Credential::Bearer(value) => (value, true, true),
        Credential::ApiKey(key) => (key, false, true),
    };
    Statement::new(SQL).param(value).param(now.to_sql_literal()).param(session).param(api_key)
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
