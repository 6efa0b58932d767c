//! `/api/v1/credits/holds*` (API.md "Holds") and `POST /admin/sweep`: a hold is opened by whoever
//! may consume (the end user on their own account, the service naming one), captured by its
//! maker or the service, released by the service only (giving credits back is the backend's
//! decision, never the end user's), and read by its maker or the service.

use crate::core::error::CreditError;
use crate::core::hold::ttl_seconds;
use crate::core::validate::{metadata, Amount, Operation};
use crate::engine::Engine;
use crate::http::auth::{self, Acting, Caller};
use crate::http::body::{self, idempotency_header, json_object, only_fields, optional_identifier, required_string};
use crate::http::config::{Config, BODY_BYTES_MAX};
use crate::http::rate_limit;
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::sql::executor::Executor;
use crate::sql::ops::consume::Payer;
use crate::sql::ops::holds::close::{Actor, Close, CloseRequest};
use crate::sql::ops::holds::open::HoldRequest;
use crate::sql::ops::principal::Principal;
use crate::sql::outcome::Limits;
use serde_json::{Map, Value};

/// How many batches one `POST /admin/sweep` (or one cron run) takes at most: bounded work per
/// request; what is left waits for the next run, and nothing depends on it.
pub const SWEEP_BATCHES: usize = 20;

const HOLD_FIELDS: [&str; 8] =
    ["amount", "operation", "resource_id", "metadata", "ttl_seconds", "user_id", "team_id", "api_key_id"];

/// An optional integer field (whole-number floats such as 900.0 accepted, as for amounts).
fn optional_integer(body: &Map<String, Value>, field: &str) -> Result<Option<i64>, CreditError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value
            .as_i64()
            .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        {
            Some(number) => Ok(Some(number)),
            None => Err(CreditError::invalid_request(format!("{field} must be an integer"))),
        },
    }
}

pub async fn create<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &HOLD_FIELDS)?;
    let amount = Amount::from_json(body.get("amount").unwrap_or(body::null()))?;
    let operation = Operation::new(required_string(&body, "operation")?)?;
    let resource_id = optional_identifier(&body, "resource_id")?.map(str::to_string);
    let metadata = metadata(body.get("metadata").unwrap_or(body::null()))?;
    let ttl_seconds = ttl_seconds(optional_integer(&body, "ttl_seconds")?)?;
    let idempotency_key = idempotency_header(request)?;
    let [user, team, key] = auth::ACCOUNT_FIELDS.map(|field| optional_identifier(&body, field));
    let named = auth::named_account([user?, team?, key?])?;
    let open = |payer: Payer| {
        let hold = HoldRequest {
            payer,
            amount,
            operation: operation.clone(),
            resource_id: resource_id.clone(),
            metadata: metadata.clone(),
            ttl_seconds,
            idempotency_key: idempotency_key.clone(),
        };
        async move { engine.hold(&hold, request.now).await }
    };
    let result = match auth::acting(engine, request, config, named).await? {
        Acting::Named(account) => open(Payer::from_account(&account)).await?,
        Acting::Own(credential) => auth::charge_first_known(auth::payers_of(credential), open).await?,
    };
    let mut response = answer(&result, result.replayed, result.limits.as_ref())?;
    response.status = if result.replayed { 200 } else { 201 };
    Ok(response)
}

/// A hold's answer with its replay and rate-limit headers (a key's windows, as for a consume).
fn answer<T: serde::Serialize>(
    result: &T,
    replayed: bool,
    limits: Option<&Limits>,
) -> Result<HttpResponse, CreditError> {
    let mut response = HttpResponse::ok(result)?.replayed(replayed);
    for (name, value) in limits.map(rate_limit::for_limits).unwrap_or_default() {
        response = response.with_header(name, value);
    }
    Ok(response)
}

/// Who is acting on an existing hold: the service, or the end user behind the credential.
async fn actor<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<Actor, CreditError> {
    Ok(match auth::caller(request, config)? {
        Caller::Service => Actor::Service,
        Caller::EndUser(credential) => match auth::principal_of(engine, &credential, request).await? {
            Principal::User { user_id } => Actor::User(user_id),
            Principal::ApiKey { api_key, .. } => Actor::ApiKey(api_key),
        },
    })
}

pub async fn capture<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    hold_id: &str,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, false)?;
    only_fields(&body, &["amount"])?;
    let amount = match body.get("amount") {
        None | Some(Value::Null) => None,
        Some(value) => Some(crate::core::hold::capture_amount(value)?),
    };
    let idempotency_key = idempotency_header(request)?;
    let actor = actor(engine, request, config).await?;
    let close = CloseRequest { hold_id: hold_id.to_string(), close: Close::Capture(amount), actor, idempotency_key };
    let result = engine.close_hold(&close, request.now).await?;
    answer(&result, result.replayed, result.limits.as_ref())
}

pub async fn release<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    hold_id: &str,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, false)?;
    only_fields(&body, &[])?;
    let idempotency_key = idempotency_header(request)?;
    auth::require_service(engine, request, config).await?;
    let close =
        CloseRequest { hold_id: hold_id.to_string(), close: Close::Release, actor: Actor::Service, idempotency_key };
    let result = engine.close_hold(&close, request.now).await?;
    Ok(HttpResponse::ok(&result)?.replayed(result.replayed))
}

pub async fn get<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    hold_id: &str,
) -> Result<HttpResponse, CreditError> {
    request.only_query_params(&[])?;
    let actor = actor(engine, request, config).await?;
    HttpResponse::ok(&engine.get_hold(hold_id, &actor, request.now).await?)
}

/// `POST /admin/sweep` (and the Worker's cron trigger).
pub async fn sweep<E: Executor>(engine: &Engine<E>, request: &HttpRequest) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, false)?;
    only_fields(&body, &[])?;
    let report = engine.sweep(SWEEP_BATCHES, request.now).await?;
    HttpResponse::ok(
        &serde_json::json!({ "ok": true, "expired_holds": report.expired_holds, "accounts": report.accounts, "expired_blocks": report.expired_blocks }),
    )
}
