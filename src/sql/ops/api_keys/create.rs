//! `create`: a new key for a user (personal, or on their current team's pool), with its hash,
//! never its secret, in one statement. The creator's row is read `FOR SHARE`, so a team key is
//! made only while they are a member: a removal from the team commits before or after, never
//! during.

use crate::core::api_key::{Entropy, IssuedSecret};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::ops::api_keys::view::{key_view, ApiKey};
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

pub const SQL: &str = concat!(
    r#"WITH actor AS (
  SELECT u.id, u.team_id FROM users u WHERE u.id = $2::text FOR SHARE OF u
), inserted AS (
  INSERT INTO api_key_credits (api_key, user_id, team_id, credits, daily_limit, monthly_limit, created_at, updated_at,
    key_hash, start, name, expires_at)
  SELECT $1::text, a.id, CASE WHEN $9::boolean THEN a.team_id END, 0, $6::int, $7::int, $10::timestamp,
    $10::timestamp, $3::text, $4::text, $5::text, $8::timestamp
  FROM actor a WHERE NOT $9::boolean OR a.team_id IS NOT NULL
  RETURNING *
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM actor) THEN 'not_found'
    WHEN NOT EXISTS (SELECT 1 FROM inserted) THEN 'not_a_member' ELSE 'ok' END AS status, v.*
FROM (SELECT 1) one LEFT JOIN (SELECT "#,
    key_view!("$10", "$10", "$10"),
    r#" FROM inserted k) v ON true"#
);

/// What a caller asks for; validated by `core::api_key` before it gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    pub name: Option<String>,
    pub daily_limit: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The creator: the signed-in user, or the one the service names.
    pub user_id: String,
    pub settings: KeySettings,
    /// A key on the creator's current team's pool.
    pub team: bool,
    pub entropy: Entropy,
}

/// The statement and the secret it stores the hash of (shown once, in the answer).
pub fn plan(request: &CreateRequest, now: Timestamp) -> Result<(Statement, IssuedSecret), CreditError> {
    let issued = crate::core::api_key::issue_secret(&request.entropy)?;
    let settings = &request.settings;
    let statement = Statement::new(SQL)
        .param(crate::core::api_key::issue_id(&request.entropy))
        .param(&request.user_id)
        .param(&issued.hash)
        .param(&issued.start)
        .optional(settings.name.as_deref())
        .optional(settings.daily_limit)
        .optional(settings.monthly_limit)
        .optional(settings.expires_at.map(Timestamp::to_sql_literal))
        .param(request.team)
        .param(now.to_sql_literal());
    Ok((statement, issued))
}

pub fn decode(rows: &[Row], issued: &IssuedSecret, now: Timestamp) -> Result<ApiKey, CreditError> {
    let row = single("create key", rows)?;
    match row.text("status")? {
        "ok" => Ok(ApiKey { key: Some(issued.secret.clone()), ..ApiKey::read(row, now)? }),
        "not_found" => Err(CreditError::not_found("no such user")),
        "not_a_member" => Err(CreditError::forbidden("a team key needs a team: you are not a member of one")),
        _ => Err(CreditError::internal("create key: unknown status")),
    }
}
