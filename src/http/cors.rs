//! CORS from `CORS_ORIGINS` (the seed's FastAPI setting): allowed origins get the
//! `Access-Control-*` headers on every answer and a 204 to their preflight.

use crate::core::error::CreditError;
use crate::http::config::Config;
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Api-Key";
/// Headers a browser script may read: replays, limits, the request id.
const EXPOSE_HEADERS: &str =
    "Idempotent-Replayed, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id";
const MAX_AGE_SECONDS: &str = "600";

/// The origin to echo, when it is allowed. `*` in the list allows any origin, but then without
/// credentials (browsers refuse `*` with cookies, and echoing any origin with credentials would
/// let every site spend a signed-in user's credits).
fn allowed(config: &Config, origin: &str) -> Option<(String, bool)> {
    let origin = origin.trim_end_matches('/');
    if config.cors_origins.iter().any(|allowed| allowed == origin) {
        return Some((origin.to_string(), true));
    }
    config.cors_origins.iter().any(|allowed| allowed == "*").then(|| ("*".to_string(), false))
}

/// Adds the CORS headers an allowed origin needs to read this answer.
pub fn decorate(config: &Config, request: &HttpRequest, mut response: HttpResponse) -> HttpResponse {
    response = response.with_header("Vary", "Origin");
    let Some(origin) = request.header("origin") else { return response };
    let Some((allow, credentials)) = allowed(config, origin) else { return response };
    response = response
        .with_header("Access-Control-Allow-Origin", allow)
        .with_header("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    if credentials {
        response = response.with_header("Access-Control-Allow-Credentials", "true");
    }
    response
}

/// Answers a preflight: 204 with the allowed methods and headers, 403 for an origin not in
/// `CORS_ORIGINS` (the browser then blocks the real request).
pub fn preflight(config: &Config, request: &HttpRequest) -> Result<HttpResponse, CreditError> {
    let origin = request
        .header("origin")
        .ok_or_else(|| CreditError::invalid_request("a CORS preflight needs an Origin header"))?;
    if allowed(config, origin).is_none() {
        return Err(CreditError::forbidden(format!("origin {origin} is not in CORS_ORIGINS")));
    }
    Ok(HttpResponse::empty(204)
        .with_header("Access-Control-Allow-Methods", ALLOW_METHODS)
        .with_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
        .with_header("Access-Control-Max-Age", MAX_AGE_SECONDS))
}
