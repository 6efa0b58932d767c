//! `createCredits({ query })`: every engine operation over the caller's Postgres driver.
//!
//! Each method validates its options with the core's validators, runs the engine's one statement
//! through `query`, and resolves to the contract object (snake_case fields) or rejects with a
//! `CreditError` whose `.code` is stable. Since statements go through the caller's `query`, a
//! caller holding a transaction (pg `Client` after `BEGIN`) debits inside it, atomically with its
//! own writes.

use crate::adapters::js::convert::{self, error_value, invalid, to_js};
use crate::adapters::js::executor::JsExecutor;
use crate::core::account::{public_key_id, Account};
use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::core::validate::{self, Amount, Operation};
use crate::engine::Engine;
use crate::http::auth as http_auth;
use crate::sql::ops::allocate::AllocateRequest;
use crate::sql::ops::consume::{ConsumeRequest, Payer};
use crate::sql::ops::grant::GrantRequest;
use crate::sql::ops::payer::Named;
use crate::sql::ops::principal::Principal;
use crate::sql::ops::refund::RefundScope;
use crate::sql::ops::transactions::{self, Cursor};
use crate::sql::ops::usage::UsageQuery;
use serde_json::{json, Map, Value};
use std::future::Future;
use wasm_bindgen::prelude::*;

/// The current instant from the JS clock (the core never reads one).
pub fn now() -> Timestamp {
    Timestamp((js_sys::Date::now() * 1000.0) as i64)
}

/// A credit client bound to one `query` function. Create it with `createCredits`.
#[wasm_bindgen]
pub struct Credits {
    pub(crate) executor: JsExecutor,
}

/// Creates a client from `{ query(text, params) }` or any object with a `query` method (a pg
/// `Pool`/`Client`, a neon `Pool`, neon's `sql`). `query` must resolve to `{ rows }` or an array.
#[wasm_bindgen(js_name = createCredits)]
pub fn create_credits(
    #[wasm_bindgen(unchecked_param_type = "CreateCreditsOptions")] options: JsValue,
) -> Result<Credits, JsValue> {
    let executor = JsExecutor::from_object(&options)
        .ok_or_else(|| invalid("createCredits needs { query(text, params) } or an object with a query method (pg Pool or Client, neon Pool)"))?;
    Ok(Credits { executor })
}

pub(crate) fn promise<T, F>(work: F) -> js_sys::Promise
where
    F: Future<Output = Result<T, CreditError>> + 'static,
    T: serde::Serialize,
{
    wasm_bindgen_futures::future_to_promise(async move {
        match work.await {
            Ok(value) => to_js(&value),
            Err(error) => Err(error_value(&error)),
        }
    })
}

const ACCOUNT_KEYS: [&str; 3] = ["userId", "teamId", "apiKey"];

/// An `apiKey` option: a key's public id (`key_…`) or its secret (ours, or one written the seed's
/// way), told apart by `KeyRef::given` as the CLI's `--api-key` is.
pub(crate) fn key_ref(field: &str, text: &str) -> Result<KeyRef, CreditError> {
    validate::identifier(field, text)?;
    Ok(KeyRef::given(text))
}

/// Exactly one of `userId`, `teamId`, `apiKey` (`Account::exactly_one`, the rule every surface uses).
fn named(map: &Map<String, Value>) -> Result<Named, CreditError> {
    let [user, team, key] = ACCOUNT_KEYS.map(|key| convert::text(map, key));
    let (user, team, key) = (user?, team?, key?);
    if let Some(key) = key {
        if user.is_some() || team.is_some() {
            return Err(CreditError::invalid_request(format!("name exactly one of {}", ACCOUNT_KEYS.join(", "))));
        }
        return key_ref("apiKey", &key).map(Named::Key);
    }
    Account::exactly_one([user.as_deref(), team.as_deref(), None], ACCOUNT_KEYS)?
        .map(Named::Account)
        .ok_or_else(|| CreditError::invalid_request(format!("pass exactly one of {}", ACCOUNT_KEYS.join(", "))))
}

/// A credential as `credentialFromRequest` returns it: `{ kind: "session"|"bearer"|"api_key", value }`.
pub fn credential_from_json(value: &Value) -> Result<Credential, CreditError> {
    let bad = || {
        CreditError::invalid_request("credential must be { kind: \"session\" | \"bearer\" | \"api_key\", value: string } (from credentialFromRequest)")
    };
    let kind = value.get("kind").and_then(Value::as_str).ok_or_else(bad)?;
    let text = value.get("value").and_then(Value::as_str).ok_or_else(bad)?;
    validate::identifier("credential", text)?;
    match kind {
        "session" => Ok(Credential::Session(text.to_string())),
        "bearer" => Ok(Credential::Bearer(text.to_string())),
        "api_key" => Ok(Credential::ApiKey(text.to_string())),
        _ => Err(bad()),
    }
}

pub fn credential_to_json(credential: &Credential) -> Value {
    let (kind, value) = match credential {
        Credential::Session(token) => ("session", token),
        Credential::Bearer(value) => ("bearer", value),
        Credential::ApiKey(key) => ("api_key", key),
    };
    json!({ "kind": kind, "value": value })
}

fn principal_json(principal: &Principal) -> Value {
    match principal {
        Principal::User { user_id } => json!({ "kind": "user", "user_id": user_id }),
        Principal::ApiKey { api_key, user_id } => {
            json!({ "kind": "api_key", "api_key": public_key_id(api_key), "user_id": user_id })
        }
    }
}

/// Who may pay. A named `userId`/`teamId`/`apiKey`/`sessionToken` is one payer (an unknown one is
/// `not_found`, or `unauthenticated` for a session). A `credential` from a request is resolved
/// exactly as the Worker does (`http::auth`: one rule, written once).
pub(crate) enum Payers {
    Named(Payer),
    Credential(Credential),
}

const PAYER_KEYS: [&str; 5] = ["userId", "teamId", "apiKey", "sessionToken", "credential"];

pub(crate) fn payers(map: &Map<String, Value>) -> Result<Payers, CreditError> {
    let given: Vec<&str> =
        PAYER_KEYS.iter().copied().filter(|key| map.get(*key).is_some_and(|v| !v.is_null())).collect();
    let [key] = given.as_slice() else {
        return Err(CreditError::invalid_request(format!("pass exactly one of {}", PAYER_KEYS.join(", "))));
    };
    if *key == "credential" {
        return Ok(Payers::Credential(credential_from_json(&map["credential"])?));
    }
    let id = convert::text(map, key)?.unwrap_or_default();
    validate::identifier(key, &id)?;
    Ok(Payers::Named(match *key {
        "userId" => Payer::User(id),
        "teamId" => Payer::Team(id),
        "apiKey" => Payer::ApiKey(KeyRef::given(&id)),
        _ => Payer::Session(id),
    }))
}

pub(crate) async fn charge_first_known<T, F, Fut>(payers: Payers, mut charge: F) -> Result<T, CreditError>
where
    F: FnMut(Payer) -> Fut,
    Fut: Future<Output = Result<T, CreditError>>,
{
    match payers {
        // A named account that does not exist is `not_found`, a key named by its secret included
        // (as in `resolve`): only a presented `credential` is a failed sign-in.
        Payers::Named(payer @ Payer::ApiKey(_)) => charge(payer).await.map_err(|error| match error {
            CreditError::Unauthenticated { .. } => {
                CreditError::not_found("no such API key, or it was revoked or has expired")
            }
            other => other,
        }),
        Payers::Named(payer) => charge(payer).await,
        Payers::Credential(credential) => http_auth::charge_first_known(http_auth::payers_of(credential), charge).await,
    }
}

pub(crate) fn amount(map: &Map<String, Value>) -> Result<Amount, CreditError> {
    Amount::from_json(map.get("amount").unwrap_or(&Value::Null))
}

pub(crate) fn optional_identifier(map: &Map<String, Value>, key: &str) -> Result<Option<String>, CreditError> {
    match convert::text(map, key)? {
        Some(value) => {
            validate::identifier(key, &value)?;
            Ok(Some(value))
        }
        None => Ok(None),
    }
}

pub(crate) fn idempotency_key(map: &Map<String, Value>) -> Result<Option<String>, CreditError> {
    match convert::text(map, "idempotencyKey")? {
        Some(key) => {
            validate::idempotency_key(&key)?;
            Ok(Some(key))
        }
        None => Ok(None),
    }
}

/// A grant's `expiresAt` (`core::expiring::deadline`), its errors naming the option as spelt here.
fn grant_deadline(text: &str, now: Timestamp) -> Result<Timestamp, CreditError> {
    crate::core::expiring::deadline(text, now)
        .map_err(|error| CreditError::invalid_request(error.to_string().replacen("expires_at", "expiresAt", 1)))
}

pub(crate) fn metadata(map: &Map<String, Value>) -> Result<Option<String>, CreditError> {
    validate::metadata(map.get("metadata").unwrap_or(&Value::Null))
}

fn consume_request(map: &Map<String, Value>, payer: Payer) -> Result<ConsumeRequest, CreditError> {
    let operation =
        convert::text(map, "operation")?.ok_or_else(|| CreditError::invalid_request("operation is required"))?;
    Ok(ConsumeRequest {
        payer,
        amount: amount(map)?,
        operation: Operation::new(&operation)?,
        resource_id: optional_identifier(map, "resourceId")?,
        metadata: metadata(map)?,
        idempotency_key: idempotency_key(map)?,
    })
}

#[wasm_bindgen]
impl Credits {
    pub(crate) fn engine(&self) -> Engine<JsExecutor> {
        Engine::new(self.executor.clone())
    }

    /// Debits `amount` in one statement: `{ userId | teamId | apiKey | sessionToken | credential, amount,
    /// operation, resourceId?, metadata?, idempotencyKey? }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<ChargeResult>")]
    pub fn consume(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConsumeOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(
            &options,
            "consume",
            &[
                "userId",
                "teamId",
                "apiKey",
                "sessionToken",
                "credential",
                "amount",
                "operation",
                "resourceId",
                "metadata",
                "idempotencyKey",
            ],
        );
        promise(async move {
            let map = parsed?;
            let payers = payers(&map)?;
            // Validate everything before any round trip (the payer is filled in below).
            consume_request(&map, Payer::User("validation".into()))?;
            let now = now();
            let engine = &engine;
            let map = &map;
            charge_first_known(payers, |payer| async move { engine.consume(&consume_request(map, payer)?, now).await })
                .await
        })
    }

    /// Would `amount` be allowed now? Nothing is written. `{ userId | teamId | apiKey | sessionToken |
    /// credential, amount }`; `amount` is required and positive, as for `consume` (0 is
    /// `invalid_amount`: a gate built on it would let an empty account through).
    #[wasm_bindgen(unchecked_return_type = "Promise<ChargeResult>")]
    pub fn check(&self, #[wasm_bindgen(unchecked_param_type = "CheckOptions")] options: JsValue) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(
            &options,
            "check",
            &["userId", "teamId", "apiKey", "sessionToken", "credential", "amount"],
        );
        promise(async move {
            let map = parsed?;
            let payers = payers(&map)?;
            let amount = amount(&map)?;
            let now = now();
            let engine = &engine;
            charge_first_known(payers, |payer| async move { engine.check(&payer, amount, now).await }).await
        })
    }

    /// Adds credits: `{ userId | teamId | apiKey, amount, operation?, metadata?, idempotencyKey?,
    /// expiresAt? }`. `expiresAt` (an RFC 3339 UTC string or a `Date`, in the future, at most ten
    /// years ahead; absent or `null`: never) is when the unspent rest of these credits expires.
    #[wasm_bindgen(unchecked_return_type = "Promise<CreditResult>")]
    pub fn grant(&self, #[wasm_bindgen(unchecked_param_type = "GrantOptions")] options: JsValue) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(
            &options,
            "grant",
            &["userId", "teamId", "apiKey", "amount", "operation", "metadata", "idempotencyKey", "expiresAt"],
        );
        promise(async move {
            let map = parsed?;
            let now = now();
            let named = named(&map)?;
            let (amount, idempotency_key) = (amount(&map)?, idempotency_key(&map)?);
            let operation = convert::text(&map, "operation")?.map(|op| Operation::new(&op)).transpose()?;
            let metadata = metadata(&map)?;
            let expires_at = convert::text(&map, "expiresAt")?.map(|text| grant_deadline(&text, now)).transpose()?;
            let account = engine.account_of(named, now).await?;
            let request = GrantRequest { account, amount, operation, metadata, idempotency_key, expires_at };
            engine.grant(&request, now).await
        })
    }

    /// Refunds a usage transaction once: `{ transactionId, userId? | apiKey? }` (an optional owner
    /// scope). **Server code only** — this is the service credential's operation (API.md "Who may
    /// do what"): call it from the backend that ran the job and knows it failed, never on an end
    /// user's request, or any usage can be made free.
    #[wasm_bindgen(unchecked_return_type = "Promise<RefundResult>")]
    pub fn refund(&self, #[wasm_bindgen(unchecked_param_type = "RefundOptions")] options: JsValue) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&options, "refund", &["transactionId", "userId", "apiKey"]);
        promise(async move {
            let map = parsed?;
            let transaction_id = convert::text(&map, "transactionId")?
                .ok_or_else(|| CreditError::invalid_request("transactionId is required"))?;
            let scope = match (optional_identifier(&map, "userId")?, convert::text(&map, "apiKey")?) {
                (None, None) => RefundScope::Any,
                (Some(user), None) => RefundScope::User(user),
                (None, Some(key)) => {
                    let named = Named::Key(key_ref("apiKey", &key)?);
                    RefundScope::ApiKey(engine.account_of(named, now()).await?.id)
                }
                (Some(_), Some(_)) => return Err(CreditError::invalid_request("pass at most one of userId, apiKey")),
            };
            engine.refund(&transaction_id, &scope, now()).await
        })
    }

    /// Funds an API key's allowance from its owner's pool: `{ apiKey, amount, idempotencyKey?, ownerId? }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<ChargeResult>")]
    pub fn allocate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AllocateOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&options, "allocate", &["apiKey", "amount", "idempotencyKey", "ownerId"]);
        promise(async move {
            let map = parsed?;
            let api_key =
                convert::text(&map, "apiKey")?.ok_or_else(|| CreditError::invalid_request("apiKey is required"))?;
            let named = Named::Key(key_ref("apiKey", &api_key)?);
            let (amount, idempotency_key) = (amount(&map)?, idempotency_key(&map)?);
            let owner = optional_identifier(&map, "ownerId")?;
            let api_key = engine.account_of(named, now()).await?.id;
            let request = AllocateRequest { api_key, amount, idempotency_key, owner };
            engine.allocate(&request, now()).await
        })
    }

    /// `{ userId | teamId | apiKey }` → API.md's balance object.
    #[wasm_bindgen(unchecked_return_type = "Promise<Balance>")]
    pub fn balance(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AccountOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&options, "balance", &ACCOUNT_KEYS);
        promise(async move {
            let account = engine.account_of(named(&parsed?)?, now()).await?;
            engine.balance(&account, now()).await
        })
    }

    /// `{ userId | teamId | apiKey, limit?, cursor? }` → a page of the ledger, newest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<TransactionPage>")]
    pub fn transactions(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TransactionsOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&options, "transactions", &["userId", "teamId", "apiKey", "limit", "cursor"]);
        promise(async move {
            let map = parsed?;
            let named = named(&map)?;
            let limit =
                match map.get("limit") {
                    None | Some(Value::Null) => None,
                    Some(value) => Some(value.as_i64().ok_or_else(|| {
                        CreditError::invalid_request(format!("limit must be an integer, got {value}"))
                    })?),
                };
            let limit = transactions::page_size(limit)?;
            let cursor = convert::text(&map, "cursor")?.map(|text| Cursor::decode(&text)).transpose()?;
            let account = engine.account_of(named, now()).await?;
            engine.transactions(&account, limit, cursor.as_ref()).await
        })
    }

    /// `{ userId | teamId | apiKey, from, to, groupBy? }` → usage net of refunds over UTC days `from`
    /// (included) to `to` (excluded), grouped by `"day"`, `"operation"`, `"api_key"` or a list of them.
    #[wasm_bindgen(unchecked_return_type = "Promise<UsageReport>")]
    pub fn usage(&self, #[wasm_bindgen(unchecked_param_type = "UsageOptions")] options: JsValue) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&options, "usage", &["userId", "teamId", "apiKey", "from", "to", "groupBy"]);
        promise(async move {
            let map = parsed?;
            let named = named(&map)?;
            let group_by = match map.get("groupBy") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                    Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                }
                Some(other) => {
                    return Err(CreditError::invalid_request(format!(
                        "groupBy must be \"day\", \"operation\", \"api_key\" or an array of them, got {other}"
                    )))
                }
            };
            let (from, to) = (convert::text(&map, "from")?, convert::text(&map, "to")?);
            let query = UsageQuery::parse(from.as_deref(), to.as_deref(), group_by.as_deref())?;
            let account = engine.account_of(named, now()).await?;
            engine.usage(&account, &query).await
        })
    }

    /// Resolves a credential (from `credentialFromRequest`) to `{ kind: "user", user_id }` or
    /// `{ kind: "api_key", api_key (the key's public id), user_id }`; `unauthenticated` otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<Principal>")]
    pub fn authenticate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Credential")] credential: JsValue,
    ) -> js_sys::Promise {
        let engine = self.engine();
        let parsed = convert::options(&credential, "authenticate", &["kind", "value"]);
        promise(async move {
            let credential = credential_from_json(&Value::Object(parsed?))?;
            engine.authenticate(&credential, now()).await.map(|principal| principal_json(&principal))
        })
    }
}
