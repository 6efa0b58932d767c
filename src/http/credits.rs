//! `/api/v1/credits/*` and `/api/v1/api-keys/{key}/allocate`: parse, authenticate, run one engine
//! operation, shape the answer (API.md "HTTP requests", "Who may do what").

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::validate::{identifier, metadata, Amount, Operation};
use crate::engine::Engine;
use crate::http::auth::{self, Acting, Caller};
use crate::http::body::{self, idempotency_header, json_object, only_fields, optional_identifier, required_string};
use crate::http::config::{Config, BODY_BYTES_MAX};
use crate::http::rate_limit;
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::sql::executor::Executor;
use crate::sql::ops::allocate::AllocateRequest;
use crate::sql::ops::consume::{ConsumeRequest, Payer};
use crate::sql::ops::principal::Principal;
use crate::sql::ops::refund::RefundScope;
use crate::sql::ops::transactions::{page_size, Cursor};
use crate::sql::ops::usage::UsageQuery;
use crate::sql::outcome::ChargeResult;
use serde_json::{Map, Value};

/// The body of consume and check (the account fields only for the service credential).
const CHARGE_FIELDS: [&str; 7] = ["amount", "operation", "resource_id", "metadata", "user_id", "team_id", "api_key_id"];

fn amount(body: &Map<String, Value>) -> Result<Amount, CreditError> {
    Amount::from_json(body.get("amount").unwrap_or(body::null()))
}

/// A charge result with its rate-limit and replay headers.
fn charge_response(result: &ChargeResult) -> Result<HttpResponse, CreditError> {
    let mut response = HttpResponse::ok(result)?.replayed(result.replayed);
    for (name, value) in rate_limit::for_result(result) {
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

fn body_account(body: &Map<String, Value>) -> Result<Option<Account>, CreditError> {
    let [user, team, key] = auth::ACCOUNT_FIELDS.map(|field| optional_identifier(body, field));
    auth::named_account([user?, team?, key?])
}

fn query_account(request: &HttpRequest) -> Result<Option<Account>, CreditError> {
    let [user, team, key] = auth::ACCOUNT_FIELDS.map(|field| request.query_param(field));
    let (user, team, key) = (user?, team?, key?);
    auth::named_account([user.as_deref(), team.as_deref(), key.as_deref()])
}

/// Who pays for a consume or check: the account the service names, or the end user's own.
async fn charge<E, T, F, Fut>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    named: Option<Account>,
    mut run: F,
) -> Result<T, CreditError>
where
    E: Executor,
    F: FnMut(Payer) -> Fut,
    Fut: std::future::Future<Output = Result<T, CreditError>>,
{
    match auth::acting(engine, request, config, named).await? {
        Acting::Named(account) => run(Payer::from_account(&account)).await,
        Acting::Own(credential) => auth::charge_first_known(auth::payers_of(credential), run).await,
    }
}

pub async fn consume<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &CHARGE_FIELDS)?;
    let amount = amount(&body)?;
    let operation = Operation::new(required_string(&body, "operation")?)?;
    let resource_id = optional_identifier(&body, "resource_id")?.map(str::to_string);
    let metadata = metadata(body.get("metadata").unwrap_or(body::null()))?;
    let idempotency_key = idempotency_header(request)?;
    let named = body_account(&body)?;
    let result = charge(engine, request, config, named, |payer| {
        let consume = ConsumeRequest {
            payer,
            amount,
            operation: operation.clone(),
            resource_id: resource_id.clone(),
            metadata: metadata.clone(),
            idempotency_key: idempotency_key.clone(),
        };
        async move { engine.consume(&consume, request.now).await }
    })
    .await?;
    charge_response(&result)
}

/// Would a consume of `amount` (≥ 1, as for consume) succeed now? Nothing is written.
pub async fn check<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &CHARGE_FIELDS)?;
    let amount = amount(&body)?;
    if let Some(operation) = body::optional_string(&body, "operation")? {
        Operation::new(operation)?;
    }
    optional_identifier(&body, "resource_id")?;
    metadata(body.get("metadata").unwrap_or(body::null()))?;
    let named = body_account(&body)?;
    let result =
        charge(engine, request, config, named, |payer| async move { engine.check(&payer, amount, request.now).await })
            .await?;
    charge_response(&result)
}

/// Service only: giving credits back is decided by the backend that ran the job, never by the
/// end user who was charged (who could otherwise make any usage free).
pub async fn refund<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &["transaction_id"])?;
    let transaction_id = identifier("transaction_id", required_string(&body, "transaction_id")?)?;
    auth::require_service(engine, request, config).await?;
    let result = engine.refund(transaction_id, &RefundScope::Any, request.now).await?;
    Ok(HttpResponse::ok(&result)?.replayed(result.replayed))
}

/// The account a read is about: the one the service names, or the end user's own.
async fn read_account<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<Account, CreditError> {
    match auth::acting(engine, request, config, query_account(request)?).await? {
        Acting::Named(account) => Ok(account),
        Acting::Own(credential) => own_account(&auth::principal_of(engine, &credential, request).await?),
    }
}

pub async fn balance<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    request.only_query_params(&["user_id", "team_id", "api_key_id"])?;
    let account = read_account(engine, request, config).await?;
    HttpResponse::ok(&engine.balance(&account, request.now).await?)
}

pub async fn transactions<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    request.only_query_params(&["limit", "cursor", "user_id", "team_id", "api_key_id"])?;
    let limit = match request.query_param("limit")? {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<i64>()
                .map_err(|_| CreditError::invalid_request(format!("limit must be an integer, got {text:?}")))?,
        ),
    };
    let limit = page_size(limit)?;
    let cursor =
        request.query_param("cursor")?.filter(|text| !text.is_empty()).map(|text| Cursor::decode(&text)).transpose()?;
    let account = read_account(engine, request, config).await?;
    HttpResponse::ok(&engine.transactions(&account, limit, cursor.as_ref()).await?)
}

/// Usage net of refunds over `from`..`to` (UTC dates, `to` excluded), grouped by `group_by`
/// (`sql::ops::usage` states the rules): the caller's own, or the account the service names.
pub async fn usage<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    request.only_query_params(&["from", "to", "group_by", "user_id", "team_id", "api_key_id"])?;
    let (from, to, group_by) =
        (request.query_param("from")?, request.query_param("to")?, request.query_param("group_by")?);
    let query = UsageQuery::parse(from.as_deref(), to.as_deref(), group_by.as_deref())?;
    let account = read_account(engine, request, config).await?;
    HttpResponse::ok(&engine.usage(&account, &query).await?)
}

/// Funds a key from its owner's pool. A signed-in user funds only their own keys (another
/// user's key is 404, like an unknown one, so keys cannot be probed); a team key only while its
/// owner is a member of that team (403). An API key cannot fund keys (403). The service may fund
/// any key.
pub async fn allocate<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    api_key: &str,
) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(&body, &["amount"])?;
    let amount = amount(&body)?;
    let api_key = crate::core::api_key::key_id("id", api_key)?;
    let idempotency_key = idempotency_header(request)?;
    let owner = match auth::caller(request, config)? {
        Caller::Service => None,
        Caller::EndUser(credential) => match auth::principal_of(engine, &credential, request).await? {
            Principal::User { user_id } => Some(user_id),
            Principal::ApiKey { .. } => {
                return Err(CreditError::forbidden("an API key cannot allocate credits; sign in as the key's owner"))
            }
        },
    };
    let allocate = AllocateRequest { api_key, amount, idempotency_key, owner };
    charge_response(&engine.allocate(&allocate, request.now).await?)
}
