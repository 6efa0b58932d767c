//! `fltr-credits keys …`: API keys managed from the command line, acting as the service (for any
//! user, any key). A new or rotated secret is printed once; nothing keeps it.

use super::credit_commands::key_ref;
use super::{client, now, to_json, Cli, Outcome};
use crate::adapters::native::database::Native;
use crate::adapters::native::random::entropy;
use crate::core::api_key::{self as keys};
use crate::core::error::CreditError;
use crate::core::validate;
use crate::engine::Engine;
use crate::sql::ops::api_keys::create::{CreateRequest, KeySettings};
use crate::sql::ops::api_keys::manage::KeyChanges;
use crate::sql::ops::api_keys::view::ApiKey;
use crate::sql::ops::payer::Named;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a user (`--team`: on their current team's pool); prints its secret once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        daily_limit: Option<i64>,
        #[arg(long)]
        monthly_limit: Option<i64>,
        /// RFC 3339 UTC time, in the future.
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        team: bool,
    },
    /// A user's keys and their team's, masked.
    List {
        #[arg(long)]
        user: String,
    },
    /// Change a key's name, limits or expiry ("none" removes a limit or the expiry).
    Update {
        /// The key's public id, or its secret ("-" reads it from standard input).
        #[arg(long)]
        api_key: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        daily_limit: Option<String>,
        #[arg(long)]
        monthly_limit: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// A new secret; the old one keeps working for --grace-seconds (default 0).
    Rotate {
        #[arg(long)]
        api_key: String,
        #[arg(long, default_value_t = 0)]
        grace_seconds: i64,
    },
    /// Revoke a key: 401 from now on, its unspent allowance back to its pool.
    Revoke {
        #[arg(long)]
        api_key: String,
    },
    /// Revoke the keys of leaked secrets, one per line on standard input (a scanner's alert).
    RevokeLeaked,
}

fn optional_limit(field: &str, text: &Option<String>) -> Result<Option<Option<i64>>, CreditError> {
    text.as_deref()
        .map(|text| match text {
            "none" | "null" => Ok(None),
            number => number
                .trim()
                .parse::<i64>()
                .map_err(|_| CreditError::invalid_request(format!("{field} must be an integer or none")))
                .and_then(|value| keys::limit(field, value))
                .map(Some),
        })
        .transpose()
}

fn sentence(verb: &str, key: &ApiKey) -> String {
    let mut text = format!(
        "{verb} API key {} ({}){}: {} credits",
        key.id,
        key.masked,
        key.name.as_deref().map(|name| format!(" \"{name}\"")).unwrap_or_default(),
        key.credits
    );
    if let Some(secret) = &key.key {
        text.push_str(&format!("\nsecret (shown once, store it now): {secret}"));
    }
    text
}

async fn key_id<E: crate::sql::executor::Executor>(engine: &Engine<E>, text: &str) -> Result<String, CreditError> {
    Ok(engine.account_of(Named::Key(key_ref(text)?), now()).await?.id)
}

pub(super) async fn execute(cli: &Cli, command: &KeysCommand) -> Result<Outcome, CreditError> {
    let now = now();
    match command {
        KeysCommand::Create { user, name, daily_limit, monthly_limit, expires_at, team } => {
            let settings = KeySettings {
                name: name.as_deref().map(keys::name).transpose()?,
                daily_limit: daily_limit.map(|value| keys::limit("daily_limit", value)).transpose()?,
                monthly_limit: monthly_limit.map(|value| keys::limit("monthly_limit", value)).transpose()?,
                expires_at: expires_at.as_deref().map(|text| keys::expiry(text, now)).transpose()?,
            };
            let user_id = validate::identifier("user", user)?.to_string();
            let request = CreateRequest { user_id, settings, team: *team, entropy: entropy()? };
            let client = client(cli).await?;
            let key = Engine::new(Native(&client)).create_key(&request, now).await?;
            Ok(Outcome::ok(to_json(&key), sentence("created", &key)))
        }
        KeysCommand::List { user } => {
            let user = validate::identifier("user", user)?;
            let client = client(cli).await?;
            let list = Engine::new(Native(&client)).list_keys(user, now).await?;
            let mut lines: Vec<String> = list
                .api_keys
                .iter()
                .map(|key| {
                    let state = if key.revoked_at.is_some() { " [revoked]" } else { "" };
                    format!("{}{state}", sentence("", key).trim_start().replacen("API key", "key", 1))
                })
                .collect();
            if lines.is_empty() {
                lines.push("no API keys".into());
            }
            Ok(Outcome::ok(to_json(&list), lines.join("\n")))
        }
        KeysCommand::Update { api_key, name, daily_limit, monthly_limit, expires_at } => {
            let changes = KeyChanges {
                name: name.as_deref().map(keys::name).transpose()?.map(Some),
                daily_limit: optional_limit("daily_limit", daily_limit)?,
                monthly_limit: optional_limit("monthly_limit", monthly_limit)?,
                expires_at: expires_at
                    .as_deref()
                    .map(|text| match text {
                        "none" | "null" => Ok(None),
                        text => keys::expiry(text, now).map(Some),
                    })
                    .transpose()?,
            };
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let id = key_id(&engine, api_key).await?;
            let key = engine.update_key(&id, None, &changes, now).await?;
            Ok(Outcome::ok(to_json(&key), sentence("updated", &key)))
        }
        KeysCommand::Rotate { api_key, grace_seconds } => {
            let grace = keys::grace(*grace_seconds)?;
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let id = key_id(&engine, api_key).await?;
            let key = engine.rotate_key(&id, None, grace, &entropy()?, now).await?;
            Ok(Outcome::ok(to_json(&key), sentence("rotated", &key)))
        }
        KeysCommand::Revoke { api_key } => {
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let id = key_id(&engine, api_key).await?;
            let revoked = engine.revoke_key(&id, None, now).await?;
            let text = format!(
                "revoked API key {} at {}; {} credit(s) returned to its pool{}",
                revoked.id,
                revoked.revoked_at.to_rfc3339(),
                revoked.returned,
                if revoked.replayed { " (it was already revoked)" } else { "" }
            );
            Ok(Outcome::ok(to_json(&revoked), text))
        }
        KeysCommand::RevokeLeaked => {
            let secrets: Vec<String> = std::io::read_to_string(std::io::stdin())
                .map_err(|error| CreditError::invalid_request(format!("cannot read standard input: {error}")))?
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect();
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).revoke_leaked(&secrets, now).await?;
            let text = format!("revoked {} key(s) of {} secret(s) given", result.revoked, secrets.len());
            Ok(Outcome::ok(to_json(&result), text))
        }
    }
}
