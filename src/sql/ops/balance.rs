//! `balance`: a user's personal pool, their team's pool and their API keys — or one key, or one
//! team — in one read. `clock_timestamp()` is volatile, which keeps Hyperdrive from serving the
//! read from its cache: a balance must be fresh.

use crate::core::account::{Account, AccountKind};
use crate::core::api_key::masked;
use crate::core::error::CreditError;
use crate::core::expiring::{parse_list, Expiring};
use crate::core::time::Timestamp;
use crate::core::window::Period;
use crate::sql::ops::api_keys::live_key;
use crate::sql::ops::api_keys::view::{legacy_start, public_id_of};
use crate::sql::ops::expiring::{blocks_due_left, blocks_gone, blocks_listed};
use crate::sql::ops::holds::{expired_holds, key_available, key_used};
use crate::sql::outcome::Limits;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use serde::Serialize;

/// Every read goes through an index (users, teams and keys by primary key, a user's keys by
/// `api_key_credits_user_id_idx`): a balance costs the same with 100 000 other keys in the table.
/// Keys are listed by public id (a row still in the seed's plaintext form by the id it will be
/// adopted under, never its secret), live ones only; a key row's `name` column carries its `start`.
pub const SQL: &str = concat!(
    r#"WITH subject AS (
  SELECT CASE $1::text
    WHEN 'user' THEN $2::text
    WHEN 'api_key' THEN (SELECT user_id FROM api_key_credits WHERE api_key = $2::text)
  END AS user_id
)
SELECT 'user' AS part, u.id, NULL AS name, NULL AS asked, (u.credits - "#,
    blocks_gone!("u", "u.held_credits", "'user'", "u.id", "$5"),
    r#")::text AS credits,
  (u.credits::bigint - u.held_credits - "#,
    blocks_due_left!("u", "$5"),
    r#" + "#,
    expired_holds!("u.held_credits", "'user'", "u.id", "$5", "x.spendable", ""),
    r#")::text AS available,
  u.total_credits_purchased::text AS total_credits_purchased, u.team_id, NULL AS daily_limit, NULL AS monthly_limit,
  NULL AS daily_used, NULL AS monthly_used, NULL AS created_at, clock_timestamp()::text AS read_at,
  "#,
    blocks_listed!("u", "$5"),
    r#" AS expiring
FROM users u WHERE u.id = (SELECT user_id FROM subject)
UNION ALL
SELECT 'team', t.id, t.name, NULL, (t.credits - "#,
    blocks_gone!("t", "t.held_credits", "'team'", "t.id", "$5"),
    r#")::text,
  (t.credits::bigint - t.held_credits - "#,
    blocks_due_left!("t", "$5"),
    r#" + "#,
    expired_holds!("t.held_credits", "'team'", "t.id", "$5", "x.spendable", ""),
    r#")::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "#,
    blocks_listed!("t", "$5"),
    r#" FROM teams t
WHERE t.id = CASE WHEN $1::text = 'team' THEN $2::text
  ELSE (SELECT u.team_id FROM users u WHERE u.id = (SELECT user_id FROM subject)) END
UNION ALL
SELECT 'key', "#,
    public_id_of!(),
    r#", CASE WHEN k.key_hash IS NULL THEN "#,
    legacy_start!("k.api_key"),
    r#" ELSE coalesce(k.start, '') END, ($1::text = 'api_key' AND k.api_key = $2::text)::text,
  (k.credits - "#,
    blocks_gone!("k", "k.held_credits", "'api_key'", "k.api_key", "$5"),
    r#")::text, ("#,
    key_available!("$5", ""),
    r#" - "#,
    blocks_due_left!("k", "$5"),
    r#")::text, NULL, k.team_id, k.daily_limit::text, k.monthly_limit::text,
  "#,
    key_used!(daily, "$3", "$5", ""),
    r#"::text,
  "#,
    key_used!(monthly, "$4", "$5", ""),
    r#"::text,
  to_char(k.created_at, 'YYYY-MM-DD HH24:MI:SS.US'), NULL, "#,
    blocks_listed!("k", "$5"),
    r#"
FROM api_key_credits k WHERE k.user_id = (SELECT user_id FROM subject)
  AND "#,
    live_key!("$5"),
    r#"
UNION ALL
SELECT 'read_at', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, clock_timestamp()::text, NULL
ORDER BY 1, created_at, id"#
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserBalance {
    pub id: String,
    pub credits: i64,
    /// What the next consume may spend: the balance less active holds.
    pub available: i64,
    pub total_credits_purchased: i64,
    pub team_id: Option<String>,
    /// What is left of each expiring grant, soonest first (API.md "Expiring credits").
    pub expiring: Vec<Expiring>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamBalance {
    pub id: String,
    pub name: String,
    pub credits: i64,
    pub available: i64,
    pub expiring: Vec<Expiring>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyBalance {
    /// The key's public id (API.md "Accounts").
    pub id: String,
    /// The first 9 characters of its secret.
    pub start: String,
    /// `start…`; kept from before keys had public ids.
    pub api_key: String,
    /// What the next consume may spend: the balance less active holds.
    pub available: i64,
    pub credits: i64,
    pub team_id: Option<String>,
    pub daily_limit: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub limits: Limits,
    pub expiring: Vec<Expiring>,
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

pub fn plan(account: &Account, now: Timestamp) -> Statement {
    Statement::new(SQL)
        .param(account.kind.as_str())
        .param(&account.id)
        .param(Period::Daily.start(now).to_sql_literal())
        .param(Period::Monthly.start(now).to_sql_literal())
        .param(now.to_sql_literal())
}

fn key_balance(row: &Row, now: Timestamp) -> Result<KeyBalance, CreditError> {
    let limits = Limits::read(row, now)?;
    let start = row.owned("name")?;
    let credits = row.int("credits")?;
    Ok(KeyBalance {
        id: row.owned("id")?,
        api_key: masked(&start),
        start,
        available: row.int("available")?,
        credits,
        team_id: row.opt_owned("team_id")?,
        daily_limit: limits.daily.limit,
        monthly_limit: limits.monthly.limit,
        limits,
        expiring: parse_list(row.opt_text("expiring")?)?,
    })
}

/// One row per part: `user`, `team`, `key` (each of the user's keys, oldest first; `asked` marks
/// the key the balance was asked for), and `read_at`, always.
pub fn decode(rows: &[Row], account: &Account, now: Timestamp) -> Result<Balance, CreditError> {
    let mut balance = Balance { user: None, team: None, api_keys: Vec::new(), api_key: None };
    for row in rows {
        match row.text("part")? {
            "user" => {
                balance.user = Some(UserBalance {
                    id: row.owned("id")?,
                    credits: row.int("credits")?,
                    available: row.int("available")?,
                    total_credits_purchased: row.opt_int("total_credits_purchased")?.unwrap_or(0),
                    team_id: row.opt_owned("team_id")?,
                    expiring: parse_list(row.opt_text("expiring")?)?,
                })
            }
            "team" => {
                balance.team = Some(TeamBalance {
                    id: row.owned("id")?,
                    name: row.owned("name")?,
                    credits: row.int("credits")?,
                    available: row.int("available")?,
                    expiring: parse_list(row.opt_text("expiring")?)?,
                })
            }
            "key" => {
                let key = key_balance(row, now)?;
                if row.boolean("asked")? {
                    balance.api_key = Some(key.clone());
                }
                balance.api_keys.push(key);
            }
            "read_at" => {}
            _ => return Err(CreditError::internal("balance: unknown row part")),
        }
    }
    let found = match account.kind {
        AccountKind::User => balance.user.is_some(),
        AccountKind::Team => balance.team.is_some(),
        AccountKind::ApiKey => balance.api_key.is_some(),
    };
    if !found {
        return Err(CreditError::not_found(format!("no such {}", account.kind.as_str())));
    }
    Ok(balance)
}
