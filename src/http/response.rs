//! What the router answers: status, headers and a JSON body. Errors become API.md's
//! `{"error": {"code", "message", …}}` in exactly one place, here.

use crate::core::error::CreditError;
use crate::http::{error_body, rate_limit, status};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for bodiless answers (a CORS preflight's 204).
    pub body: Option<Value>,
    /// Detail for the operator's log (an internal error's cause); never sent to the client.
    pub log: Option<String>,
}

impl HttpResponse {
    pub fn json(status: u16, body: Value) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body),
            log: None,
        }
    }

    /// 200 with a serialisable result; a value that does not serialise is an internal error.
    pub fn ok<T: Serialize>(value: &T) -> Result<Self, CreditError> {
        let body = serde_json::to_value(value)
            .map_err(|error| CreditError::internal(format!("response did not serialise: {error}")))?;
        Ok(HttpResponse::json(200, body))
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// `Cache-Control: no-store`: for answers that carry a secret, which no cache may keep.
    pub fn no_store(self) -> Self {
        self.with_header("Cache-Control", "no-store")
    }

    pub fn empty(status: u16) -> Self {
        HttpResponse { status, headers: Vec::new(), body: None, log: None }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `Idempotent-Replayed: true` when the answer is a stored outcome (API.md "Idempotency").
    pub fn replayed(self, replayed: bool) -> Self {
        if replayed {
            self.with_header("Idempotent-Replayed", "true")
        } else {
            self
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The error body with its HTTP status. Internal errors keep their cause out of the body (it
    /// goes to `log`, with the request id that the body carries), so no stack trace or SQL leaks.
    pub fn error(error: &CreditError, request_id: &str) -> Self {
        let body = match error {
            CreditError::Internal { .. } => error_body::of(&CreditError::internal(format!(
                "internal error; quote request id {request_id} when reporting it"
            ))),
            _ => error_body::of(error),
        };
        let log = error.detail().map(|detail| format!("{}: {detail}", error.code()));
        let mut body = body;
        if let Some(object) = body.get_mut("error").and_then(Value::as_object_mut) {
            object.insert("request_id".into(), Value::String(request_id.to_string()));
        }
        let mut response = HttpResponse::json(status::of(error), body);
        response.log = log;
        for (name, value) in rate_limit::for_error(error) {
            response = response.with_header(name, value);
        }
        if let CreditError::MethodNotAllowed { allow, .. } = error {
            response = response.with_header("Allow", allow.clone());
        }
        response
    }

    /// The body as sent.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body.as_ref().map(|body| body.to_string().into_bytes()).unwrap_or_default()
    }
}
