//! `list`, `update` and `rotate`: one statement each. Who may see and change a key is the rule of
//! `api_keys` (`key_access!`); a revoked key cannot be changed (`api_key_revoked`).

use crate::core::api_key::{Entropy, IssuedSecret};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::window::Period;
use crate::sql::ops::api_keys::adopt::adopt_plaintext;
use crate::sql::ops::api_keys::create::KeySettings;
use crate::sql::ops::api_keys::view::{key_view, ApiKey, ApiKeyList};
use crate::sql::ops::api_keys::{change_status, key_access};
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;

/// The caller's keys and their current team's, oldest first, revoked ones included. Rows still in
/// the seed's plaintext form are adopted by the same statement (so the ids listed are the ids
/// every other route takes); the listing shows them as adopted.
pub const LIST_SQL: &str = concat!(
    r#"WITH actor AS (
  SELECT u.id, u.team_id FROM users u WHERE u.id = $1::text
), "#,
    adopt_plaintext!("k.user_id = $1::text OR k.team_id = (SELECT team_id FROM actor)"),
    r#"
SELECT "#,
    key_view!("$2", "$3", "$4"),
    r#"
FROM api_key_credits k
WHERE k.user_id = $1::text OR (k.team_id IS NOT NULL AND k.team_id = (SELECT team_id FROM actor))
ORDER BY k.created_at, 1"#
);

/// A change to one live key (id `$1`, for caller `$2`: `key_access!`, allowed by its `target`
/// column `$allowed`) setting `$set`, answered with `change_status!` and the changed key
/// (`key_view!` with the windows `$daily`, `$monthly`).
macro_rules! key_change {
    ($allowed:literal, $set:literal, $daily:literal, $monthly:literal, $now:literal) => {
        concat!(
            "WITH ",
            key_access!("$1", "$2"),
            ", changed AS (\n  UPDATE api_key_credits k SET\n    ",
            $set,
            r#"
  FROM target t WHERE k.api_key = t.api_key AND t."#,
            $allowed,
            r#" AND k.revoked_at IS NULL
  RETURNING k.*
)
SELECT "#,
            change_status!($allowed, "changed"),
            r#" AS status, v.*
FROM (SELECT 1) one LEFT JOIN (SELECT "#,
            key_view!($daily, $monthly, $now),
            r#" FROM changed k) v ON true"#
        )
    };
}

/// Sets the fields whose flag is true (`$3`/`$5`/`$7`/`$9`); a NULL limit or expiry removes it.
pub const UPDATE_SQL: &str = key_change!(
    "may_change",
    r#"name = CASE WHEN $3::boolean THEN $4::text ELSE k.name END,
    daily_limit = CASE WHEN $5::boolean THEN $6::int ELSE k.daily_limit END,
    monthly_limit = CASE WHEN $7::boolean THEN $8::int ELSE k.monthly_limit END,
    expires_at = CASE WHEN $9::boolean THEN $10::timestamp ELSE k.expires_at END,
    updated_at = $11::timestamp"#,
    "$12",
    "$13",
    "$11"
);

/// A new secret (`$3` its hash, `$4` its start) for the key's creator only: a rotation hands out
/// a credential, and a team key's owner must not obtain one to spend the team pool as another
/// member (they may update or revoke it). The old secret keeps working until `$5` (NULL: not at all). A rotation during an earlier grace ends that grace: only the secret being
/// replaced gets one.
pub const ROTATE_SQL: &str = key_change!(
    "is_creator",
    r#"previous_key_hash = CASE WHEN $5::timestamp IS NULL THEN NULL ELSE k.key_hash END,
    previous_key_expires_at = $5::timestamp,
    key_hash = $3::text, start = $4::text, updated_at = $6::timestamp"#,
    "$7",
    "$8",
    "$6"
);

pub fn plan_list(user_id: &str, now: Timestamp) -> Statement {
    Statement::new(LIST_SQL)
        .param(user_id)
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal())
        .param(now.to_sql_literal())
}

pub fn decode_list(rows: &[Row], now: Timestamp) -> Result<ApiKeyList, CreditError> {
    Ok(ApiKeyList { api_keys: rows.iter().map(|row| ApiKey::read(row, now)).collect::<Result<_, _>>()? })
}

/// A PATCH: each field absent (`None`), or set to a value or to null (`Some(None)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChanges {
    pub name: Option<Option<String>>,
    pub daily_limit: Option<Option<i64>>,
    pub monthly_limit: Option<Option<i64>>,
    pub expires_at: Option<Option<Timestamp>>,
}

impl KeyChanges {
    /// A new key's settings: what is given; absent and null alike leave a field unset.
    pub fn into_settings(self) -> KeySettings {
        KeySettings {
            name: self.name.flatten(),
            daily_limit: self.daily_limit.flatten(),
            monthly_limit: self.monthly_limit.flatten(),
            expires_at: self.expires_at.flatten(),
        }
    }
}

/// `actor`: the signed-in user, `None` for the service.
pub fn plan_update(id: &str, actor: Option<&str>, changes: &KeyChanges, now: Timestamp) -> Statement {
    Statement::new(UPDATE_SQL)
        .param(id)
        .optional(actor)
        .param(changes.name.is_some())
        .optional(changes.name.clone().flatten())
        .param(changes.daily_limit.is_some())
        .optional(changes.daily_limit.flatten())
        .param(changes.monthly_limit.is_some())
        .optional(changes.monthly_limit.flatten())
        .param(changes.expires_at.is_some())
        .optional(changes.expires_at.flatten().map(Timestamp::to_sql_literal))
        .param(now.to_sql_literal())
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal())
}

pub fn plan_rotate(
    id: &str,
    actor: Option<&str>,
    grace_seconds: i64,
    entropy: &Entropy,
    now: Timestamp,
) -> Result<(Statement, IssuedSecret), CreditError> {
    let issued = crate::core::api_key::issue_secret(entropy)?;
    let grace_until = (grace_seconds > 0).then(|| Timestamp(now.0 + grace_seconds * 1_000_000).to_sql_literal());
    let statement = Statement::new(ROTATE_SQL)
        .param(id)
        .optional(actor)
        .param(&issued.hash)
        .param(&issued.start)
        .optional(grace_until)
        .param(now.to_sql_literal())
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal());
    Ok((statement, issued))
}

/// The answer to update or rotate (`issued`: the new secret of a rotation).
pub fn decode_change(rows: &[Row], issued: Option<&IssuedSecret>, now: Timestamp) -> Result<ApiKey, CreditError> {
    let row = single("change key", rows)?;
    match row.text("status")? {
        "ok" => Ok(ApiKey { key: issued.map(|issued| issued.secret.clone()), ..ApiKey::read(row, now)? }),
        other => Err(refusal(other)),
    }
}

/// A change that found nothing to do, as the contract says it.
pub fn refusal(status: &str) -> CreditError {
    match status {
        "not_found" => CreditError::not_found("no such API key"),
        "forbidden" => CreditError::forbidden(
            "only the key's creator may rotate it; its team's owner (while a member) may also update or revoke it",
        ),
        "revoked" => CreditError::ApiKeyRevoked,
        _ => CreditError::internal("key change: unknown status"),
    }
}
