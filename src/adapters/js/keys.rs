//! API keys' lifecycle on `Credits` (API.md "API keys"): `createKey`, `listKeys`, `updateKey`,
//! `rotateKey`, `revokeKey`, `revokeLeakedKeys`, over the engine's one statement each.
//!
//! Like the rest of the package this is server code acting as the service credential does over
//! HTTP: `userId` names the key's owner, and `actorId` (optional) is the signed-in user on whose
//! behalf a key is changed — given, the rule of the HTTP routes applies (another user's key is
//! `not_found`, a team key is updated or revoked only by its creator or the team's owner, and
//! rotated only by its creator); absent, the service acts. Keys are named by their public `id` (`key_…`): a secret where an id belongs is
//! `invalid_request`, and is never echoed. New secrets come from `crypto.getRandomValues`.

use crate::adapters::js::convert;
use crate::adapters::js::credits::{now, optional_identifier, promise, Credits};
use crate::adapters::js::executor::JsExecutor;
use crate::adapters::web_crypto::entropy;
use crate::core::api_key::{self as keys, Entropy};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::validate;
use crate::engine::Engine;
use crate::http::api_keys::{changes, grace_seconds, leaked_secrets, team, KeyFields};
use crate::sql::ops::api_keys::create::CreateRequest;
use crate::sql::ops::api_keys::manage::KeyChanges;
use crate::sql::ops::api_keys::revoke::{Revoked, RevokedLeaked};
use crate::sql::ops::api_keys::view::{ApiKey, ApiKeyList};
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

/// A key's public id: required, and never a secret.
fn key_id(map: &Map<String, Value>) -> Result<String, CreditError> {
    let id = convert::text(map, "id")?
        .ok_or_else(|| CreditError::invalid_request("id is required: the key's public id (key_…)"))?;
    keys::key_id("id", &id)
}

/// The options' names for the key fields (read by the HTTP routes' own parsers).
const OPTION_FIELDS: KeyFields = KeyFields {
    name: "name",
    daily_limit: "dailyLimit",
    monthly_limit: "monthlyLimit",
    expires_at: "expiresAt",
    team: "team",
    grace_seconds: "graceSeconds",
};

fn actor(map: &Map<String, Value>) -> Result<Option<String>, CreditError> {
    optional_identifier(map, "actorId")
}

fn user_id(map: &Map<String, Value>) -> Result<String, CreditError> {
    let user_id = convert::text(map, "userId")?.ok_or_else(|| CreditError::invalid_request("userId is required"))?;
    validate::identifier("userId", &user_id)?;
    Ok(user_id)
}

/// One lifecycle call, validated (options read, a new secret's entropy drawn) before any round trip.
enum KeyCall {
    Create(CreateRequest),
    List(String),
    Update { id: String, actor: Option<String>, changes: KeyChanges },
    Rotate { id: String, actor: Option<String>, grace: i64, entropy: Entropy },
    Revoke { id: String, actor: Option<String> },
    RevokeLeaked(Vec<String>),
}

fn create(map: Map<String, Value>, now: Timestamp) -> Result<KeyCall, CreditError> {
    let user_id = user_id(&map)?;
    let settings = changes(&map, &OPTION_FIELDS, now)?.into_settings();
    let team = team(&map, &OPTION_FIELDS)?;
    Ok(KeyCall::Create(CreateRequest { user_id, settings, team, entropy: entropy()? }))
}

/// What a lifecycle call resolves to: the contract object, as it is.
#[derive(Serialize)]
#[serde(untagged)]
enum KeyAnswer {
    Key(Box<ApiKey>),
    List(ApiKeyList),
    Revoked(Revoked),
    Leaked(RevokedLeaked),
}

/// Every lifecycle call goes through this one future (one copy in the wasm, not six: the edge
/// module's size, BENCHMARKS.md §3).
fn call(engine: Engine<JsExecutor>, call: Result<KeyCall, CreditError>, now: Timestamp) -> js_sys::Promise {
    promise(async move {
        Ok(match call? {
            KeyCall::Create(request) => KeyAnswer::Key(Box::new(engine.create_key(&request, now).await?)),
            KeyCall::List(user_id) => KeyAnswer::List(engine.list_keys(&user_id, now).await?),
            KeyCall::Update { id, actor, changes } => {
                KeyAnswer::Key(Box::new(engine.update_key(&id, actor.as_deref(), &changes, now).await?))
            }
            KeyCall::Rotate { id, actor, grace, entropy } => {
                KeyAnswer::Key(Box::new(engine.rotate_key(&id, actor.as_deref(), grace, &entropy, now).await?))
            }
            KeyCall::Revoke { id, actor } => KeyAnswer::Revoked(engine.revoke_key(&id, actor.as_deref(), now).await?),
            KeyCall::RevokeLeaked(secrets) => KeyAnswer::Leaked(engine.revoke_leaked(&secrets, now).await?),
        })
    })
}

#[wasm_bindgen]
impl Credits {
    /// A new key for `userId` (`team: true`: on their current team's pool) → the key object with
    /// `key`, its secret: shown this once, stored only as a hash. `{ userId, name?, dailyLimit?,
    /// monthlyLimit?, expiresAt?, team? }`.
    #[wasm_bindgen(js_name = createKey, unchecked_return_type = "Promise<ApiKey>")]
    pub fn create_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CreateKeyOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let now = now();
        let allowed = ["userId", "name", "dailyLimit", "monthlyLimit", "expiresAt", "team"];
        call(self.engine(), convert::options(&options, "createKey", &allowed).and_then(|map| create(map, now)), now)
    }

    /// `{ userId }` → `{ api_keys: [...] }`: the user's keys and their current team's, masked,
    /// revoked ones included, oldest first. Never a secret.
    #[wasm_bindgen(js_name = listKeys, unchecked_return_type = "Promise<ApiKeyList>")]
    pub fn list_keys(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ListKeysOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed = convert::options(&options, "listKeys", &["userId"]).and_then(|map| user_id(&map));
        call(self.engine(), parsed.map(KeyCall::List), now())
    }

    /// `{ id, actorId?, name?, dailyLimit?, monthlyLimit?, expiresAt? }`: an absent field is left
    /// as it is; `null` removes a limit, the expiry or the name. → the key.
    #[wasm_bindgen(js_name = updateKey, unchecked_return_type = "Promise<ApiKey>")]
    pub fn update_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "UpdateKeyOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let now = now();
        let allowed = ["id", "actorId", "name", "dailyLimit", "monthlyLimit", "expiresAt"];
        let parsed = convert::options(&options, "updateKey", &allowed).and_then(|map| {
            Ok(KeyCall::Update { id: key_id(&map)?, actor: actor(&map)?, changes: changes(&map, &OPTION_FIELDS, now)? })
        });
        call(self.engine(), parsed, now)
    }

    /// A new secret for the key: `{ id, actorId?, graceSeconds? }`. The old secret keeps working
    /// for `graceSeconds` (0 to 604800; default 0: it stops at once). → the key with `key`.
    #[wasm_bindgen(js_name = rotateKey, unchecked_return_type = "Promise<ApiKey>")]
    pub fn rotate_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RotateKeyOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed = convert::options(&options, "rotateKey", &["id", "actorId", "graceSeconds"]).and_then(|map| {
            let grace = grace_seconds(&map, &OPTION_FIELDS)?;
            Ok(KeyCall::Rotate { id: key_id(&map)?, actor: actor(&map)?, grace, entropy: entropy()? })
        });
        call(self.engine(), parsed, now())
    }

    /// Revokes a key: unauthenticated from now on, its unspent allowance back (ledgered) to the
    /// pool it came from. `{ id, actorId? }` → `{ ok, id, revoked_at, returned, replayed }`; a
    /// second call answers like the first, with `replayed: true`.
    #[wasm_bindgen(js_name = revokeKey, unchecked_return_type = "Promise<Revoked>")]
    pub fn revoke_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RevokeKeyOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let parsed = convert::options(&options, "revokeKey", &["id", "actorId"])
            .and_then(|map| Ok(KeyCall::Revoke { id: key_id(&map)?, actor: actor(&map)? }));
        call(self.engine(), parsed, now())
    }

    /// For a secret scanner's alert: `{ keys: [secret, …] }` (at most 100) → `{ revoked }`. Every
    /// key a secret belongs to is revoked; unknown secrets are ignored, not reported. **Server
    /// code only** (the service credential's operation).
    #[wasm_bindgen(js_name = revokeLeakedKeys, unchecked_return_type = "Promise<RevokedLeaked>")]
    pub fn revoke_leaked_keys(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RevokeLeakedKeysOptions")] options: JsValue,
    ) -> js_sys::Promise {
        call(
            self.engine(),
            convert::options(&options, "revokeLeakedKeys", &["keys"])
                .and_then(|map| leaked_secrets(&map).map(KeyCall::RevokeLeaked)),
            now(),
        )
    }
}
