//! Reading a JSON body: size cap (413), media type (415), then shape (400), in that order.

use crate::core::error::CreditError;
use crate::core::validate::{idempotency_key, identifier};
use crate::http::request::HttpRequest;
use serde_json::{Map, Value};

/// `application/json`, with or without parameters (`; charset=utf-8`).
pub fn is_json(request: &HttpRequest) -> bool {
    request
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

pub fn check_size(request: &HttpRequest, limit_bytes: u32) -> Result<(), CreditError> {
    if request.body.len() > limit_bytes as usize {
        return Err(CreditError::PayloadTooLarge { limit_bytes });
    }
    Ok(())
}

/// The body as a JSON object. `required: false` lets an empty body stand for `{}` (admin
/// migrate); a non-empty body must still be declared `application/json`.
pub fn json_object(request: &HttpRequest, limit_bytes: u32, required: bool) -> Result<Map<String, Value>, CreditError> {
    check_size(request, limit_bytes)?;
    if request.body.is_empty() && !required && !is_json(request) {
        return Ok(Map::new());
    }
    if !is_json(request) {
        return Err(CreditError::UnsupportedMediaType {
            message: "request body must be JSON, sent with Content-Type: application/json".into(),
        });
    }
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(CreditError::invalid_request("request body is empty; a JSON object is required"))
        } else {
            Ok(Map::new())
        };
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CreditError::invalid_request("request body must be a JSON object")),
        Err(error) => Err(CreditError::invalid_request(format!("request body is not valid JSON: {error}"))),
    }
}

/// Refuses fields the route does not take: a misspelt field (`"ammount"`) or an account field
/// sent to the wrong route is an error, never silently ignored.
pub fn only_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), CreditError> {
    match body.keys().find(|key| !allowed.contains(&key.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(CreditError::invalid_request(format!(
            "unknown field {:?}; this route takes {}",
            unknown.chars().take(64).collect::<String>(),
            allowed.join(", ")
        ))),
    }
}

/// A string field; `None` when absent or null, `invalid_request` when another type.
pub fn optional_string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, CreditError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(CreditError::invalid_request(format!("{field} must be a string"))),
    }
}

pub fn required_string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, CreditError> {
    optional_string(body, field)?.ok_or_else(|| CreditError::invalid_request(format!("{field} is required")))
}

/// An identifier-shaped string field (ids, keys): bounded, no control characters.
pub fn optional_identifier<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, CreditError> {
    optional_string(body, field)?.map(|value| identifier(field, value)).transpose()
}

/// The `Idempotency-Key` header, validated.
pub fn idempotency_header(request: &HttpRequest) -> Result<Option<String>, CreditError> {
    request.header("idempotency-key").map(|value| idempotency_key(value.trim()).map(str::to_string)).transpose()
}

pub fn null() -> &'static Value {
    &Value::Null
}
