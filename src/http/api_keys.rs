//! `/api/v1/api-keys…` (API.md "API keys"): create, list, update, rotate, revoke, and the
//! service's `revoke-leaked`. Keys are managed by a signed-in user (a session) or the service; an
//! API key cannot manage keys (403): a leaked key must not be able to mint or keep others.

use crate::core::api_key::{self as keys, Entropy};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::engine::Engine;
use crate::http::auth::{self, Caller};
use crate::http::body::{self, json_object, only_fields, optional_identifier};
use crate::http::config::{Config, BODY_BYTES_MAX};
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::sql::executor::Executor;
use crate::sql::ops::api_keys::create::CreateRequest;
use crate::sql::ops::api_keys::manage::KeyChanges;
use crate::sql::ops::principal::Principal;
use serde_json::{Map, Value};

/// Most secrets one `revoke-leaked` call takes (a scanner batches its alerts).
pub const LEAKED_KEYS_MAX: usize = 100;

/// Who manages keys: a signed-in user (`Some(user)`) or the service (`None`, acting for anyone).
async fn manager<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<Option<String>, CreditError> {
    match auth::caller(request, config)? {
        Caller::Service => Ok(None),
        Caller::EndUser(credential) => match auth::principal_of(engine, &credential, request).await? {
            Principal::User { user_id } => Ok(Some(user_id)),
            Principal::ApiKey { .. } => {
                Err(CreditError::forbidden("an API key cannot manage API keys; sign in as the key's owner (a session)"))
            }
        },
    }
}

fn entropy(request: &HttpRequest) -> Result<&Entropy, CreditError> {
    request.entropy.as_ref().ok_or_else(|| CreditError::internal("no random bytes were supplied for a new API key"))
}

/// A JSON number that is a whole number (`5`, and `5.0`, which JSON Schema's `integer` and every
/// JSON library treat as the same value), as `Amount::from_json` reads amounts.
fn whole_number(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number.as_f64().filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15).map(|float| float as i64)
    })
}

/// What a surface calls the key fields: the HTTP body's snake_case, the npm options' camelCase.
pub struct KeyFields {
    pub name: &'static str,
    pub daily_limit: &'static str,
    pub monthly_limit: &'static str,
    pub expires_at: &'static str,
    pub team: &'static str,
    pub grace_seconds: &'static str,
}

/// The HTTP body's names.
pub const BODY_FIELDS: KeyFields = KeyFields {
    name: "name",
    daily_limit: "daily_limit",
    monthly_limit: "monthly_limit",
    expires_at: "expires_at",
    team: "team",
    grace_seconds: "grace_seconds",
};

/// Longest string `revoke-leaked` takes as one secret, in characters.
pub const LEAKED_SECRET_LENGTH_MAX: usize = 512;

/// A nullable integer field: absent (`None`), null (`Some(None)`) or a limit.
fn nullable_limit(body: &Map<String, Value>, field: &str) -> Result<Option<Option<i64>>, CreditError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(number)) => match whole_number(number) {
            Some(value) => keys::limit(field, value).map(|value| Some(Some(value))),
            None => Err(CreditError::invalid_request(format!(
                "{field} must be an integer between 0 and {}",
                crate::core::validate::AMOUNT_MAX
            ))),
        },
        Some(_) => Err(CreditError::invalid_request(format!("{field} must be an integer or null"))),
    }
}

fn nullable_expiry(
    body: &Map<String, Value>,
    field: &str,
    now: Timestamp,
) -> Result<Option<Option<Timestamp>>, CreditError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => keys::expiry(text, now).map(|at| Some(Some(at))),
        Some(_) => Err(CreditError::invalid_request(format!("{field} must be an RFC 3339 time or null"))),
    }
}

fn nullable_name(body: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, CreditError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => keys::name(text).map(|name| Some(Some(name))),
        Some(_) => Err(CreditError::invalid_request(format!("{field} must be a string"))),
    }
}

/// The fields create and update share, validated (the npm package reads its options with it too).
pub fn changes(body: &Map<String, Value>, fields: &KeyFields, now: Timestamp) -> Result<KeyChanges, CreditError> {
    Ok(KeyChanges {
        name: nullable_name(body, fields.name)?,
        daily_limit: nullable_limit(body, fields.daily_limit)?,
        monthly_limit: nullable_limit(body, fields.monthly_limit)?,
        expires_at: nullable_expiry(body, fields.expires_at, now)?,
    })
}

/// Whether a new key is on the creator's team pool.
pub fn team(body: &Map<String, Value>, fields: &KeyFields) -> Result<bool, CreditError> {
    match body.get(fields.team) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(team)) => Ok(*team),
        Some(_) => Err(CreditError::invalid_request(format!("{} must be true or false", fields.team))),
    }
}

/// A rotation's grace: 0 (the default: the old secret stops at once, the safe default when a
/// rotation answers a suspected leak) to seven days.
pub fn grace_seconds(body: &Map<String, Value>, fields: &KeyFields) -> Result<i64, CreditError> {
    let field = fields.grace_seconds;
    match body.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(number)) => keys::grace(
            whole_number(number).ok_or_else(|| CreditError::invalid_request(format!("{field} must be an integer")))?,
        ),
        Some(_) => Err(CreditError::invalid_request(format!("{field} must be an integer"))),
    }
}

/// The secrets of a `revoke-leaked` call: `keys`, at most 100 non-empty strings of at most 512
/// characters.
pub fn leaked_secrets(body: &Map<String, Value>) -> Result<Vec<String>, CreditError> {
    match body.get("keys") {
        Some(Value::Array(items)) if items.len() <= LEAKED_KEYS_MAX => items
            .iter()
            .map(|item| match item {
                Value::String(secret) if !secret.is_empty() && secret.chars().count() <= LEAKED_SECRET_LENGTH_MAX => {
                    Ok(secret.clone())
                }
                _ => Err(CreditError::invalid_request(format!(
                    "keys must hold non-empty strings of at most {LEAKED_SECRET_LENGTH_MAX} characters"
                ))),
            })
            .collect(),
        Some(Value::Array(_)) => {
            Err(CreditError::invalid_request(format!("keys takes at most {LEAKED_KEYS_MAX} secrets per call")))
        }
        _ => Err(CreditError::invalid_request("keys is required: an array of secrets")),
    }
}

/// Create and rotate answer with a secret shown once and never stored: they cannot be replayed,
/// so an idempotency key is refused rather than silently ignored.
fn refuse_idempotency_key(request: &HttpRequest) -> Result<(), CreditError> {
    if request.header("idempotency-key").is_some() {
        return Err(CreditError::invalid_request(
            "this route returns a secret shown once and never stored, so it cannot be replayed: send it without Idempotency-Key",
        ));
    }
    Ok(())
}

/// `POST /api/v1/api-keys` → 201 with the key and its secret.
pub async fn create<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &["name", "daily_limit", "monthly_limit", "expires_at", "team", "user_id"])?;
    let settings = changes(&body, &BODY_FIELDS, request.now)?.into_settings();
    let team = team(&body, &BODY_FIELDS)?;
    let named = optional_identifier(&body, "user_id")?.map(str::to_string);
    refuse_idempotency_key(request)?;
    let user_id = match (manager(engine, request, config).await?, named) {
        (Some(user), None) => user,
        (None, Some(user)) => user,
        (Some(_), Some(_)) => {
            return Err(CreditError::forbidden("only the service credential may create a key for another user"))
        }
        (None, None) => {
            return Err(CreditError::invalid_request("the service credential creates keys for a user: name user_id"))
        }
    };
    let create = CreateRequest { user_id, settings, team, entropy: entropy(request)?.clone() };
    let key = engine.create_key(&create, request.now).await?;
    Ok(HttpResponse::ok(&key)?.with_status(201).no_store())
}

/// `GET /api/v1/api-keys` (the service: `?user_id=`).
pub async fn list<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    request.only_query_params(&["user_id"])?;
    let named = request.query_param("user_id")?;
    let user_id = match (manager(engine, request, config).await?, named) {
        (Some(user), None) => user,
        (None, Some(user)) => crate::core::validate::identifier("user_id", &user)?.to_string(),
        (Some(_), Some(_)) => return Err(CreditError::forbidden("only the service credential may name a user")),
        (None, None) => {
            return Err(CreditError::invalid_request("the service credential lists a user's keys: ?user_id="))
        }
    };
    HttpResponse::ok(&engine.list_keys(&user_id, request.now).await?)
}

/// `PATCH /api/v1/api-keys/{id}`.
pub async fn update<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    id: &str,
) -> Result<HttpResponse, CreditError> {
    let id = keys::key_id("id", id)?;
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &["name", "daily_limit", "monthly_limit", "expires_at"])?;
    let changes = changes(&body, &BODY_FIELDS, request.now)?;
    let actor = manager(engine, request, config).await?;
    HttpResponse::ok(&engine.update_key(&id, actor.as_deref(), &changes, request.now).await?)
}

/// `POST /api/v1/api-keys/{id}/rotate`: `{"grace_seconds": 3600}` (`grace_seconds`).
pub async fn rotate<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    id: &str,
) -> Result<HttpResponse, CreditError> {
    let id = keys::key_id("id", id)?;
    let body = json_object(request, BODY_BYTES_MAX, false)?;
    only_fields(&body, &["grace_seconds"])?;
    let grace = grace_seconds(&body, &BODY_FIELDS)?;
    refuse_idempotency_key(request)?;
    let actor = manager(engine, request, config).await?;
    let key = engine.rotate_key(&id, actor.as_deref(), grace, entropy(request)?, request.now).await?;
    Ok(HttpResponse::ok(&key)?.no_store())
}

/// `DELETE /api/v1/api-keys/{id}`: idempotent; a second call answers like the first.
pub async fn revoke<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    id: &str,
) -> Result<HttpResponse, CreditError> {
    let id = keys::key_id("id", id)?;
    body::check_size(request, BODY_BYTES_MAX)?;
    let actor = manager(engine, request, config).await?;
    let revoked = engine.revoke_key(&id, actor.as_deref(), request.now).await?;
    Ok(HttpResponse::ok(&revoked)?.replayed(revoked.replayed))
}

/// `POST /api/v1/api-keys/revoke-leaked` (service): `{"keys": ["<secret>", …]}` → `{"revoked": N}`.
pub async fn revoke_leaked<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &["keys"])?;
    let secrets = leaked_secrets(&body)?;
    auth::require_service(engine, request, config).await?;
    HttpResponse::ok(&engine.revoke_leaked(&secrets, request.now).await?)
}
