//! `balance`: a user's personal pool, their team's pool and their API keys — or one key, or one
//! team — in one read. `clock_timestamp()` is volatile, which keeps Hyperdrive from serving the
//! read from its cache: a balance must be fresh.

use crate::core::account::{mask_api_key, Account, AccountKind};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::window::{Period, WindowUsage};
use crate::sql::outcome::Limits;
use crate::sql::statement::{single_row, Statement};
use serde::{Deserialize, Serialize};

/// Every read goes through an index (users, teams and keys by primary key, a user's keys by
/// `api_key_credits_user_id_idx`): a balance costs the same with 100 000 other keys in the table.
pub const SQL: &str = r#"WITH subject AS (
  SELECT CASE $1::text
    WHEN 'user' THEN $2::text
    WHEN 'api_key' THEN (SELECT user_id FROM api_key_credits WHERE api_key = $2::text)
  END AS user_id
)
SELECT json_build_object(
  'user', (SELECT json_build_object('id', u.id, 'credits', u.credits, 'total_credits_purchased', u.total_credits_purchased,
      'team_id', u.team_id) FROM users u WHERE u.id = (SELECT user_id FROM subject)),
  'team', (SELECT json_build_object('id', t.id, 'name', t.name, 'credits', t.credits) FROM teams t
      WHERE t.id = CASE WHEN $1::text = 'team' THEN $2::text ELSE (SELECT u.team_id FROM users u WHERE u.id = (SELECT user_id FROM subject)) END),
  'api_keys', (SELECT coalesce(json_agg(json_build_object('api_key', k.api_key, 'credits', k.credits, 'team_id', k.team_id,
      'daily_limit', k.daily_limit, 'monthly_limit', k.monthly_limit,
      'daily_used', CASE WHEN k.daily_window_start >= $3::timestamp THEN k.daily_used ELSE 0 END,
      'monthly_used', CASE WHEN k.monthly_window_start >= $4::timestamp THEN k.monthly_used ELSE 0 END)
      ORDER BY k.created_at, k.api_key), '[]'::json)
    FROM api_key_credits k WHERE k.user_id = (SELECT user_id FROM subject)),
  'api_key', (SELECT json_build_object('api_key', k.api_key, 'credits', k.credits, 'team_id', k.team_id,
      'daily_limit', k.daily_limit, 'monthly_limit', k.monthly_limit,
      'daily_used', CASE WHEN k.daily_window_start >= $3::timestamp THEN k.daily_used ELSE 0 END,
      'monthly_used', CASE WHEN k.monthly_window_start >= $4::timestamp THEN k.monthly_used ELSE 0 END)
    FROM api_key_credits k WHERE $1::text = 'api_key' AND k.api_key = $2::text),
  'read_at', clock_timestamp()
)::text AS r"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBalance {
    pub id: String,
    pub credits: i64,
    pub total_credits_purchased: i64,
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamBalance {
    pub id: String,
    pub name: String,
    pub credits: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct KeyRow {
    api_key: String,
    credits: i64,
    team_id: Option<String>,
    daily_limit: Option<i64>,
    monthly_limit: Option<i64>,
    daily_used: i64,
    monthly_used: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyBalance {
    /// Masked.
    pub api_key: String,
    pub credits: i64,
    pub team_id: Option<String>,
    pub daily_limit: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub limits: Limits,
}

/// API.md's balance object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub user: Option<UserBalance>,
    pub team: Option<TeamBalance>,
    pub api_keys: Vec<KeyBalance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<KeyBalance>,
}

#[derive(Debug, Clone, Deserialize)]
struct Row {
    user: Option<UserBalance>,
    team: Option<TeamBalance>,
    api_keys: Vec<KeyRow>,
    api_key: Option<KeyRow>,
}

pub fn plan(account: &Account, now: Timestamp) -> Statement {
    Statement::new(SQL)
        .param(account.kind.as_str())
        .param(&account.id)
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal())
}

fn key_balance(row: KeyRow, now: Timestamp) -> KeyBalance {
    KeyBalance {
        api_key: mask_api_key(&row.api_key),
        credits: row.credits,
        team_id: row.team_id,
        daily_limit: row.daily_limit,
        monthly_limit: row.monthly_limit,
        limits: Limits {
            daily: WindowUsage::current(Period::Daily, row.daily_limit, row.daily_used, Some(now), now),
            monthly: WindowUsage::current(Period::Monthly, row.monthly_limit, row.monthly_used, Some(now), now),
        },
    }
}

pub fn decode(rows: &[String], account: &Account, now: Timestamp) -> Result<Balance, CreditError> {
    let row: Row = single_row("balance", rows)?;
    let found = match account.kind {
        AccountKind::User => row.user.is_some(),
        AccountKind::Team => row.team.is_some(),
        AccountKind::ApiKey => row.api_key.is_some(),
    };
    if !found {
        return Err(CreditError::not_found(format!("no such {}", account.kind.as_str())));
    }
    Ok(Balance {
        user: row.user,
        team: row.team,
        api_keys: row.api_keys.into_iter().map(|key| key_balance(key, now)).collect(),
        api_key: row.api_key.map(|key| key_balance(key, now)),
    })
}
