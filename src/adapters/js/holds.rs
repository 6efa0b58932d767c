//! Holds on `Credits` (API.md "Holds"): `hold`, `capture`, `release`, `getHold`, over the engine's
//! one statement each, through the caller's `query` like `consume` (inside the caller's own
//! transaction when it holds one).
//!
//! Like the rest of the package this is server code. A hold is opened on the account the options
//! name, as for `consume`: presented by the end user (`sessionToken`, `credential`, an `apiKey`
//! secret) it is that user's or key's own hold; named by the backend (`userId`, `teamId`, an
//! `apiKey` public id) it is the service's alone. `capture` and `getHold` act as the service
//! unless `actor` names the end user or key on whose behalf they run: then only the holds that
//! actor opened itself (others are `not_found`), a team hold only while still a member. `release`
//! gives credits back and is the service's decision only.

use crate::adapters::js::convert;
use crate::adapters::js::credits::{
    amount, charge_first_known, credential_from_json, idempotency_key, key_ref, metadata, now, optional_identifier,
    payers, promise, Credits, Payers,
};
use crate::adapters::js::executor::JsExecutor;
use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;
use crate::core::hold::{capture_amount, ttl_seconds};
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::core::validate::{self, Operation};
use crate::engine::Engine;
use crate::sql::ops::consume::Payer;
use crate::sql::ops::holds::close::{Actor, Close, CloseRequest, CloseResult};
use crate::sql::ops::holds::open::{HoldRequest, HoldResult};
use crate::sql::ops::holds::view::Hold;
use crate::sql::ops::payer::Named;
use crate::sql::ops::principal::Principal;
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

/// Who acts on an existing hold, as the options give it (resolved to an `Actor` with a round trip
/// where it needs one: a key's secret, a session, a credential).
enum Acting {
    Service,
    User(String),
    Key(KeyRef),
    Credential(Credential),
}

const ACTOR_KEYS: [&str; 4] = ["userId", "apiKey", "sessionToken", "credential"];

/// `actor`: absent or null is the service; else `{ userId } | { apiKey } | { sessionToken } |
/// { credential }`, exactly one.
fn acting(map: &Map<String, Value>) -> Result<Acting, CreditError> {
    let value = match map.get("actor") {
        None | Some(Value::Null) => return Ok(Acting::Service),
        Some(value) => value,
    };
    let expected = || format!("actor must be one of {{ {} }}", ACTOR_KEYS.join(" } | { "));
    let Value::Object(actor) = value else {
        return Err(CreditError::invalid_request(expected()));
    };
    if let Some(unknown) = actor.keys().find(|key| !ACTOR_KEYS.contains(&key.as_str())) {
        return Err(CreditError::invalid_request(format!("actor: unknown option {unknown:?}; {}", expected())));
    }
    let given: Vec<&str> =
        ACTOR_KEYS.iter().copied().filter(|key| actor.get(*key).is_some_and(|v| !v.is_null())).collect();
    let [key] = given.as_slice() else {
        return Err(CreditError::invalid_request(expected()));
    };
    if *key == "credential" {
        return Ok(Acting::Credential(credential_from_json(&actor["credential"])?));
    }
    let id = convert::text(actor, key)?.unwrap_or_default();
    Ok(match *key {
        "apiKey" => Acting::Key(key_ref("apiKey", &id)?),
        other => {
            validate::identifier(other, &id)?;
            if other == "userId" {
                Acting::User(id)
            } else {
                Acting::Credential(Credential::Session(id))
            }
        }
    })
}

async fn actor(engine: &Engine<JsExecutor>, acting: Acting, now: Timestamp) -> Result<Actor, CreditError> {
    Ok(match acting {
        Acting::Service => Actor::Service,
        Acting::User(id) => Actor::User(id),
        Acting::Key(key) => Actor::ApiKey(engine.account_of(Named::Key(key), now).await?.id),
        Acting::Credential(credential) => match engine.authenticate(&credential, now).await? {
            Principal::User { user_id } => Actor::User(user_id),
            Principal::ApiKey { api_key, .. } => Actor::ApiKey(api_key),
        },
    })
}

fn hold_id(map: &Map<String, Value>) -> Result<String, CreditError> {
    convert::text(map, "holdId")?
        .ok_or_else(|| CreditError::invalid_request("holdId is required (the hold_id that hold() returned)"))
}

/// `ttlSeconds`: an integer from 1 to 86400, default 900.
fn ttl(map: &Map<String, Value>) -> Result<i64, CreditError> {
    let seconds = match map.get("ttlSeconds") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().ok_or_else(|| {
            CreditError::invalid_request(format!("ttlSeconds must be an integer from 1 to 86400, got {value}"))
        })?),
    };
    ttl_seconds(seconds)
}

fn hold_request(map: &Map<String, Value>, payer: Payer) -> Result<HoldRequest, CreditError> {
    let operation =
        convert::text(map, "operation")?.ok_or_else(|| CreditError::invalid_request("operation is required"))?;
    Ok(HoldRequest {
        payer,
        amount: amount(map)?,
        operation: Operation::new(&operation)?,
        resource_id: optional_identifier(map, "resourceId")?,
        metadata: metadata(map)?,
        ttl_seconds: ttl(map)?,
        idempotency_key: idempotency_key(map)?,
    })
}

/// One holds call, its options validated before any round trip.
enum HoldCall {
    Open { payers: Payers, map: Map<String, Value> },
    Close { hold_id: String, close: Close, acting: Acting, idempotency_key: Option<String> },
    Get { hold_id: String, acting: Acting },
}

#[derive(Serialize)]
#[serde(untagged)]
enum HoldAnswer {
    Opened(HoldResult),
    Closed(CloseResult),
    Hold(Hold),
}

/// Every holds call goes through this one future (one copy in the edge module's wasm, not four:
/// BENCHMARKS.md §3).
fn call(engine: Engine<JsExecutor>, call: Result<HoldCall, CreditError>) -> js_sys::Promise {
    promise(async move {
        let now = now();
        Ok(match call? {
            HoldCall::Open { payers, map } => {
                let (engine, map) = (&engine, &map);
                HoldAnswer::Opened(
                    charge_first_known(
                        payers,
                        |payer| async move { engine.hold(&hold_request(map, payer)?, now).await },
                    )
                    .await?,
                )
            }
            HoldCall::Close { hold_id, close, acting, idempotency_key } => {
                let actor = actor(&engine, acting, now).await?;
                let request = CloseRequest { hold_id, close, actor, idempotency_key };
                HoldAnswer::Closed(engine.close_hold(&request, now).await?)
            }
            HoldCall::Get { hold_id, acting } => {
                let actor = actor(&engine, acting, now).await?;
                HoldAnswer::Hold(engine.get_hold(&hold_id, &actor, now).await?)
            }
        })
    })
}

#[wasm_bindgen]
impl Credits {
    /// Reserves `amount` for work whose cost is known only at its end: `{ userId | teamId | apiKey |
    /// sessionToken | credential, amount, operation, resourceId?, metadata?, ttlSeconds?,
    /// idempotencyKey? }` (`ttlSeconds` 1 to 86400, default 900). Decided and refused exactly like
    /// `consume` (402, 429); nothing reaches the ledger until `capture`. → `{ ok, hold_id, amount,
    /// expires_at, charged, balance, available, limits?, replayed }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<HoldResult>")]
    pub fn hold(&self, #[wasm_bindgen(unchecked_param_type = "HoldOptions")] options: JsValue) -> js_sys::Promise {
        let allowed = [
            "userId",
            "teamId",
            "apiKey",
            "sessionToken",
            "credential",
            "amount",
            "operation",
            "resourceId",
            "metadata",
            "ttlSeconds",
            "idempotencyKey",
        ];
        let parsed = convert::options(&options, "hold", &allowed).and_then(|map| {
            let payers = payers(&map)?;
            // Validate everything before any round trip (the payer is filled in by `call`).
            hold_request(&map, Payer::User("validation".into()))?;
            Ok(HoldCall::Open { payers, map })
        });
        call(self.engine(), parsed)
    }

    /// Takes what the work really cost: `{ holdId, amount?, actor?, idempotencyKey? }` (`amount` 0 to
    /// the held amount, default all of it). One `usage` ledger row of `amount` (none for 0); the rest
    /// goes back. `actor` (`{ userId } | { apiKey } | { sessionToken } | { credential }`): the end
    /// user on whose behalf the backend captures (only holds they made); absent, the service.
    /// → `{ ok, transaction_id?, hold_id, charged, amount, released, balance, available, limits?,
    /// replayed }`. A hold already closed is `hold_closed` with its `state`.
    #[wasm_bindgen(unchecked_return_type = "Promise<CloseResult>")]
    pub fn capture(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CaptureOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed =
            convert::options(&options, "capture", &["holdId", "amount", "actor", "idempotencyKey"]).and_then(|map| {
                let amount = match map.get("amount") {
                    None | Some(Value::Null) => None,
                    Some(value) => Some(capture_amount(value)?),
                };
                Ok(HoldCall::Close {
                    hold_id: hold_id(&map)?,
                    close: Close::Capture(amount),
                    acting: acting(&map)?,
                    idempotency_key: idempotency_key(&map)?,
                })
            });
        call(self.engine(), parsed)
    }

    /// Gives the whole hold back, nothing ledgered: `{ holdId, idempotencyKey? }` → the capture's
    /// object with `amount` 0 and `released`. **Server code only**: giving credits back is the
    /// service's decision (API.md "Who may do what"), never on an end user's say-so.
    #[wasm_bindgen(unchecked_return_type = "Promise<CloseResult>")]
    pub fn release(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ReleaseOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed = convert::options(&options, "release", &["holdId", "idempotencyKey"]).and_then(|map| {
            Ok(HoldCall::Close {
                hold_id: hold_id(&map)?,
                close: Close::Release,
                acting: Acting::Service,
                idempotency_key: idempotency_key(&map)?,
            })
        });
        call(self.engine(), parsed)
    }

    /// `{ holdId, actor? }` → the hold (`state`: `active` | `captured` | `released` | `expired`; an
    /// active hold past `expires_at` reads `expired` at once, without a sweep). With `actor`, only
    /// the holds that actor made (others are `not_found`).
    #[wasm_bindgen(js_name = getHold, unchecked_return_type = "Promise<Hold>")]
    pub fn get_hold(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetHoldOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed = convert::options(&options, "getHold", &["holdId", "actor"])
            .and_then(|map| Ok(HoldCall::Get { hold_id: hold_id(&map)?, acting: acting(&map)? }));
        call(self.engine(), parsed)
    }
}
