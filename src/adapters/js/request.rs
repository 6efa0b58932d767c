//! Better Auth credentials from a `Request` (or its headers), checked by the core without I/O:
//! `Authorization: Bearer …`, `x-api-key`, then the session cookie, whose HMAC must verify
//! against `BETTER_AUTH_SECRET`.

use crate::adapters::js::convert::{self, error_value, invalid, to_js};
use crate::adapters::js::credits::credential_to_json;
use crate::core::session;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

/// A header from a Fetch `Headers` (`get`), or a plain object (Node's lowercase `req.headers`).
fn header(headers: &JsValue, name: &str) -> Option<String> {
    if let Some(get) = convert::get(headers, "get").and_then(|f| f.dyn_into::<Function>().ok()) {
        return get.call1(headers, &JsValue::from_str(name)).ok().and_then(|v| v.as_string());
    }
    let value = Reflect::get(headers, &JsValue::from_str(name)).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    // Node joins repeated headers into arrays; a cookie header is joined with "; ".
    js_sys::Array::is_array(&value).then(|| js_sys::Array::from(&value).join("; ").into())
}

/// Reads the credential a request presents: `{ kind: "session", value: token }` (signed cookie or
/// signed bearer, HMAC verified), `{ kind: "bearer", value }` (unsigned bearer: a raw session
/// token or an API key), `{ kind: "api_key", value }` (x-api-key), or `null` when there is none.
/// A forged or malformed credential throws `unauthenticated`. No database access: pass the
/// result to `consume({ credential })` or `authenticate(credential)`.
#[wasm_bindgen(js_name = credentialFromRequest, unchecked_return_type = "Credential | null")]
pub fn credential_from_request(
    #[wasm_bindgen(
        unchecked_param_type = "Request | { headers: Headers | Record<string, string | string[] | undefined> } | Headers | Record<string, string | string[] | undefined>"
    )]
    request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] secret: JsValue,
) -> Result<JsValue, JsValue> {
    let secret = secret.as_string().ok_or_else(|| invalid("secret must be a string (BETTER_AUTH_SECRET)"))?;
    if !request.is_object() {
        return Err(invalid("credentialFromRequest needs a Request, its headers, or a headers object"));
    }
    let headers = convert::get(&request, "headers").filter(JsValue::is_object).unwrap_or(request);
    let authorization = header(&headers, "authorization");
    let api_key = header(&headers, "x-api-key");
    let cookie = header(&headers, "cookie");
    match session::credential(authorization.as_deref(), api_key.as_deref(), cookie.as_deref(), &secret) {
        Ok(Some(credential)) => to_js(&credential_to_json(&credential)),
        Ok(None) => Ok(JsValue::NULL),
        Err(error) => Err(error_value(&error)),
    }
}

/// Verifies a signed Better Auth value (`token.signature`, URL-encoded or not) and returns the
/// token; throws `unauthenticated` when the signature is wrong.
#[wasm_bindgen(js_name = verifySessionCookie)]
pub fn verify_session_cookie(value: &str, secret: &str) -> Result<String, JsValue> {
    session::verify_signed(value, secret).map_err(|error| error_value(&error))
}

/// The cookie value Better Auth sets for `token` (`token.base64(HMAC-SHA256(secret, token))`,
/// URL-encoded) — for tests and tools that mint sessions.
#[wasm_bindgen(js_name = signSessionToken)]
pub fn sign_session_token(token: &str, secret: &str) -> String {
    format!("{token}.{}", session::sign(token, secret)).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}
