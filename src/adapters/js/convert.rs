//! Values across the boundary: results become plain objects with the contract's snake_case
//! fields (exactly the JSON of shared/API.md), errors become `Error`s whose `.code` is the
//! stable code, and options objects are read as JSON so the core's validators apply unchanged.

use crate::core::error::CreditError;
use js_sys::{Object, Reflect};
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::JsValue;

/// A contract object as a plain JS object (`JSON.parse` of its serde JSON: `None` is `null`,
/// skipped fields are absent, integers are numbers).
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|error| error_value(&CreditError::internal(format!("serialize: {error}"))))?;
    js_sys::JSON::parse(&text)
}

/// `new Error(message)` with `name = "CreditError"`, `code`, `status` (HTTP) and the contract's
/// extra fields (`balance`, `required`, `limit`, `used`, `reset`, `retry_after`, …).
pub fn error_value(error: &CreditError) -> JsValue {
    let object = js_sys::Error::new(&crate::core::api_key::redact(&error.to_string()));
    object.set_name("CreditError");
    let body = crate::http::error_body::of(error);
    if let Some(Value::Object(fields)) = body.get("error") {
        for (key, value) in fields {
            if key == "message" {
                continue;
            }
            let js = js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL);
            let _ = Reflect::set(&object, &JsValue::from_str(key), &js);
        }
    }
    let _ = Reflect::set(&object, &JsValue::from_str("status"), &JsValue::from(crate::http::status::of(error)));
    object.into()
}

pub fn invalid(message: impl Into<String>) -> JsValue {
    error_value(&CreditError::invalid_request(message))
}

/// Reads an options object as JSON: functions and `undefined` drop out, a BigInt or a cycle is
/// `invalid_request`. Only the listed keys are accepted, so a misspelt option never passes silently.
pub fn options(value: &JsValue, what: &str, allowed: &[&str]) -> Result<Map<String, Value>, CreditError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Map::new());
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(CreditError::invalid_request(format!("{what} options must be an object")));
    }
    let text = js_sys::JSON::stringify(value).ok().and_then(|text| text.as_string()).ok_or_else(|| {
        CreditError::invalid_request(format!("{what} options are not JSON-serialisable (a BigInt or a cycle?)"))
    })?;
    let Value::Object(map) = serde_json::from_str(&text)
        .map_err(|error| CreditError::invalid_request(format!("{what} options: {error}")))?
    else {
        return Err(CreditError::invalid_request(format!("{what} options must be an object")));
    };
    if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(CreditError::invalid_request(format!(
            "{what}: unknown option {unknown:?}; expected {}",
            allowed.join(", ")
        )));
    }
    Ok(map)
}

/// An optional string option.
pub fn text(map: &Map<String, Value>, key: &str) -> Result<Option<String>, CreditError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(CreditError::invalid_request(format!("{key} must be a string, got {other}"))),
    }
}

/// A property of a JS object, `undefined`/`null` as `None`.
pub fn get(value: &JsValue, key: &str) -> Option<JsValue> {
    if !value.is_object() && !value.is_function() {
        return None;
    }
    Reflect::get(value, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// A plain object from string pairs (header maps).
pub fn string_object(pairs: &[(&str, String)]) -> JsValue {
    let object = Object::new();
    for (key, value) in pairs {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    object.into()
}
