//! `/api/v1/credits/*` and `/api/v1/api-keys/{key}/allocate`: parse, authenticate, run one engine
//! operation, shape the answer (API.md "HTTP requests").

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::validate::{identifier, metadata, Amount, Operation};
use crate::engine::Engine;
use crate::http::auth;
use crate::http::body::{self, idempotency_header, json_object, optional_identifier, required_string};
use crate::http::config::{Config, BODY_BYTES_MAX};
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::sql::executor::Executor;
use crate::sql::ops::allocate::AllocateRequest;
use crate::sql::ops::consume::ConsumeRequest;
use crate::sql::ops::principal::Principal;
use crate::sql::ops::refund::RefundScope;
use crate::sql::ops::transactions::{page_size, Cursor};
use crate::sql::outcome::{rate_limit_headers, ChargeResult};
use serde_json::{Map, Value};

fn amount(body: &Map<String, Value>) -> Result<Amount, CreditError> {
    Amount::from_json(body.get("amount").unwrap_or(body::null()))
}

/// A charge result with its rate-limit and replay headers.
fn charge_response(result: &ChargeResult) -> Result<HttpResponse, CreditError> {
    let mut response = HttpResponse::ok(result)?.replayed(result.replayed);
    for (name, value) in rate_limit_headers(Ok(result)) {
        response = response.with_header(name, value);
    }
    Ok(response)
}

/// The account whose balance and ledger a caller sees: the signed-in user, or the API key.
fn own_account(principal: &Principal) -> Result<Account, CreditError> {
    match principal {
        Principal::User { user_id } => Account::user(user_id),
        Principal::ApiKey { api_key, .. } => Account::api_key(api_key),
    }
}

pub async fn consume<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    let amount = amount(&body)?;
    let operation = Operation::new(required_string(&body, "operation")?)?;
    let resource_id = optional_identifier(&body, "resource_id")?.map(str::to_string);
    let metadata = metadata(body.get("metadata").unwrap_or(body::null()))?;
    let idempotency_key = idempotency_header(request)?;
    let payers = auth::payers(request, config)?;
    let result = auth::charge_first_known(payers, |payer| {
        let consume = ConsumeRequest { payer, amount, operation: operation.clone(), resource_id: resource_id.clone(), metadata: metadata.clone(), idempotency_key: idempotency_key.clone() };
        async move { engine.consume(&consume, request.now).await }
    })
    .await?;
    charge_response(&result)
}

/// `check` may ask about 0 credits: "would anything be allowed right now".
pub async fn check<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    let amount = match body.get("amount") {
        Some(Value::Number(number)) if number.as_i64() == Some(0) => 0,
        _ => amount(&body)?.get(),
    };
    if let Some(operation) = body::optional_string(&body, "operation")? {
        Operation::new(operation)?;
    }
    let payers = auth::payers(request, config)?;
    let result = auth::charge_first_known(payers, |payer| async move { engine.check(&payer, amount, request.now).await }).await?;
    charge_response(&result)
}

pub async fn refund<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    let transaction_id = identifier("transaction_id", required_string(&body, "transaction_id")?)?;
    let scope = match auth::principal(engine, request, config).await? {
        Principal::User { user_id } => RefundScope::User(user_id),
        Principal::ApiKey { api_key, .. } => RefundScope::ApiKey(api_key),
    };
    let result = engine.refund(transaction_id, &scope, request.now).await?;
    Ok(HttpResponse::ok(&result)?.replayed(result.replayed))
}

pub async fn balance<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    let principal = auth::principal(engine, request, config).await?;
    HttpResponse::ok(&engine.balance(&own_account(&principal)?, request.now).await?)
}

pub async fn transactions<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    let limit = match request.query_param("limit")? {
        None => None,
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| CreditError::invalid_request(format!("limit must be an integer, got {text:?}")))?),
    };
    let limit = page_size(limit)?;
    let cursor = request.query_param("cursor")?.filter(|text| !text.is_empty()).map(|text| Cursor::decode(&text)).transpose()?;
    let principal = auth::principal(engine, request, config).await?;
    HttpResponse::ok(&engine.transactions(&own_account(&principal)?, limit, cursor.as_ref()).await?)
}

/// Funds a key from its owner's pool. Only a signed-in user may, and only their own keys: an API
/// key cannot fund keys (403), another user's key is 403, an unknown key 404.
pub async fn allocate<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config, api_key: &str) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    let amount = amount(&body)?;
    let api_key = identifier("api_key", api_key)?.to_string();
    let idempotency_key = idempotency_header(request)?;
    let user_id = match auth::principal(engine, request, config).await? {
        Principal::User { user_id } => user_id,
        Principal::ApiKey { .. } => return Err(CreditError::forbidden("an API key cannot allocate credits; sign in as the key's owner")),
    };
    let allocate = AllocateRequest { api_key: api_key.clone(), amount, idempotency_key, owner: Some(user_id.clone()) };
    match engine.allocate(&allocate, request.now).await {
        Ok(result) => charge_response(&result),
        Err(CreditError::NotFound { .. }) => Err(not_found_or_forbidden(engine, &api_key, &user_id, request).await),
        Err(other) => Err(other),
    }
}

/// The allocate statement only finds the caller's own keys; tell "someone else's" (403) from
/// "no such key" (404) with one more read, on this error path only.
async fn not_found_or_forbidden<E: Executor>(engine: &Engine<E>, api_key: &str, user_id: &str, request: &HttpRequest) -> CreditError {
    let Ok(account) = Account::api_key(api_key) else { return CreditError::not_found("no such API key") };
    match engine.balance(&account, request.now).await {
        Ok(balance) if balance.user.as_ref().is_some_and(|owner| owner.id != user_id) => CreditError::forbidden("that API key belongs to another user"),
        Ok(_) | Err(CreditError::NotFound { .. }) => CreditError::not_found("no such API key"),
        Err(other) => other,
    }
}
