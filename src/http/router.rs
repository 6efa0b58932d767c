//! The route table and the one place a handler's error becomes an HTTP answer.

use crate::core::error::CreditError;
use crate::core::percent::percent_decode;
use crate::engine::Engine;
use crate::http::config::Config;
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::http::{admin, api_keys, auth, cors, credits, health, holds, webhook};
use crate::sql::executor::BatchExecutor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Balance,
    Check,
    Consume,
    Refund,
    Transactions,
    Usage,
    /// `POST /api/v1/credits/holds` opens a hold.
    Holds,
    /// `GET /api/v1/credits/holds/{id}`.
    Hold(String),
    CaptureHold(String),
    ReleaseHold(String),
    /// `/api/v1/api-keys`: GET lists, POST creates.
    ApiKeys,
    /// `/api/v1/api-keys/{id}`: PATCH updates, DELETE revokes.
    ApiKey(String),
    RotateApiKey(String),
    RevokeLeakedApiKeys,
    Allocate(String),
    /// A path that carries something shaped like a secret where a key id belongs: 400 whatever
    /// the method, and the path is never echoed.
    SecretInPath,
    StripeWebhook,
    AdminMigrate,
    AdminVerify,
    AdminReconcile,
    AdminGrant,
    AdminSweep,
}

/// Every (method, path) the API answers; the OpenAPI document lists the same.
pub const ROUTES: [(&str, &str); 24] = [
    ("GET", "/health"),
    ("GET", "/api/v1/credits/balance"),
    ("POST", "/api/v1/credits/check"),
    ("POST", "/api/v1/credits/consume"),
    ("POST", "/api/v1/credits/refund"),
    ("GET", "/api/v1/credits/transactions"),
    ("GET", "/api/v1/credits/usage"),
    ("POST", "/api/v1/credits/holds"),
    ("GET", "/api/v1/credits/holds/{hold_id}"),
    ("POST", "/api/v1/credits/holds/{hold_id}/capture"),
    ("POST", "/api/v1/credits/holds/{hold_id}/release"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys/revoke-leaked"),
    ("PATCH", "/api/v1/api-keys/{id}"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("POST", "/api/v1/api-keys/{id}/rotate"),
    ("POST", "/api/v1/api-keys/{id}/allocate"),
    ("POST", "/api/v1/webhooks/stripe"),
    ("POST", "/admin/migrate"),
    ("GET", "/admin/verify"),
    ("GET", "/admin/reconcile"),
    ("POST", "/admin/grant"),
    ("POST", "/admin/sweep"),
];

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];

/// Which route a path names and the methods it serves, whatever the request's method (so
/// OPTIONS can be answered for it).
pub fn match_path(path: &str) -> Option<(&'static [&'static str], Route)> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    Some(match path {
        "/health" => (GET, Route::Health),
        "/api/v1/credits/balance" => (GET, Route::Balance),
        "/api/v1/credits/check" => (POST, Route::Check),
        "/api/v1/credits/consume" => (POST, Route::Consume),
        "/api/v1/credits/refund" => (POST, Route::Refund),
        "/api/v1/credits/transactions" => (GET, Route::Transactions),
        "/api/v1/credits/usage" => (GET, Route::Usage),
        "/api/v1/api-keys" => (&["GET", "POST"], Route::ApiKeys),
        "/api/v1/api-keys/revoke-leaked" => (POST, Route::RevokeLeakedApiKeys),
        "/api/v1/webhooks/stripe" => (POST, Route::StripeWebhook),
        "/admin/migrate" => (POST, Route::AdminMigrate),
        "/admin/verify" => (GET, Route::AdminVerify),
        "/admin/reconcile" => (GET, Route::AdminReconcile),
        "/admin/grant" => (POST, Route::AdminGrant),
        "/admin/sweep" => (POST, Route::AdminSweep),
        "/api/v1/credits/holds" => (POST, Route::Holds),
        _ => match path.strip_prefix("/api/v1/credits/holds/") {
            Some(rest) => return hold_route(rest),
            None => return key_route(path.strip_prefix("/api/v1/api-keys/")?),
        },
    })
}

/// `{id}`, `{id}/rotate`, `{id}/allocate` under `/api/v1/api-keys/`.
fn key_route(rest: &str) -> Option<(&'static [&'static str], Route)> {
    let (segment, action) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode(segment)?;
    if id.is_empty() || action.contains('/') {
        return None;
    }
    if crate::core::api_key::resembles_secret(&id) {
        return Some((&["GET", "POST", "PATCH", "DELETE"], Route::SecretInPath));
    }
    Some(match action {
        "" => (&["PATCH", "DELETE"], Route::ApiKey(id)),
        "rotate" => (POST, Route::RotateApiKey(id)),
        "allocate" => (POST, Route::Allocate(id)),
        _ => return None,
    })
}

/// `{id}`, `{id}/capture`, `{id}/release` under `/api/v1/credits/holds/`.
fn hold_route(rest: &str) -> Option<(&'static [&'static str], Route)> {
    let (segment, action) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode(segment)?;
    if id.is_empty() || action.contains('/') {
        return None;
    }
    Some(match action {
        "" => (GET, Route::Hold(id)),
        "capture" => (POST, Route::CaptureHold(id)),
        "release" => (POST, Route::ReleaseHold(id)),
        _ => return None,
    })
}

fn unknown_route(request: &HttpRequest) -> CreditError {
    // A secret pasted into a path is never echoed (the answer may end up in a log).
    let lowered = request.path.to_ascii_lowercase();
    if lowered.contains("fltr_") || lowered.contains("fltr%5f") {
        return CreditError::not_found("no such route");
    }
    let shown: String = request.path.chars().take(200).collect();
    CreditError::not_found(format!("no route {shown}"))
}

/// Answers one request. Never fails: every error is an API.md error body.
pub async fn handle<S: BatchExecutor>(session: &S, config: &Config, request: &HttpRequest) -> HttpResponse {
    let response = match dispatch(session, config, request).await {
        Ok(response) => response,
        Err(error) => HttpResponse::error(&error, &request.request_id),
    };
    cors::decorate(config, request, response).with_header("X-Request-Id", request.request_id.clone())
}

async fn dispatch<S: BatchExecutor>(
    session: &S,
    config: &Config,
    request: &HttpRequest,
) -> Result<HttpResponse, CreditError> {
    let (methods, route) = match_path(&request.path).ok_or_else(|| unknown_route(request))?;
    if request.method == "OPTIONS" {
        return cors::preflight(config, request);
    }
    if route == Route::SecretInPath {
        return Err(CreditError::invalid_request(
            "the path holds an API key's secret where its public id (key_…) belongs; the secret was not logged — if it was shared by mistake, rotate the key",
        ));
    }
    // HEAD is not served: every answer is a JSON document a client reads. A path served with
    // another method is 405 with `Allow` (RFC 9110 §15.5.6), not 404.
    if !methods.contains(&request.method.as_str()) {
        let shown: String = request.method.chars().take(16).collect();
        return Err(CreditError::MethodNotAllowed { method: shown, allow: format!("{}, OPTIONS", methods.join(", ")) });
    }
    let engine = Engine::new(session);
    match route {
        Route::Health => Ok(health::health(session).await),
        Route::Balance => credits::balance(&engine, request, config).await,
        Route::Check => credits::check(&engine, request, config).await,
        Route::Consume => credits::consume(&engine, request, config).await,
        Route::Refund => credits::refund(&engine, request, config).await,
        Route::Transactions => credits::transactions(&engine, request, config).await,
        Route::Usage => credits::usage(&engine, request, config).await,
        Route::Holds => holds::create(&engine, request, config).await,
        Route::Hold(id) => holds::get(&engine, request, config, &id).await,
        Route::CaptureHold(id) => holds::capture(&engine, request, config, &id).await,
        Route::ReleaseHold(id) => holds::release(&engine, request, config, &id).await,
        Route::ApiKeys if request.method == "GET" => api_keys::list(&engine, request, config).await,
        Route::ApiKeys => api_keys::create(&engine, request, config).await,
        Route::ApiKey(id) if request.method == "PATCH" => api_keys::update(&engine, request, config, &id).await,
        Route::ApiKey(id) => api_keys::revoke(&engine, request, config, &id).await,
        Route::RotateApiKey(id) => api_keys::rotate(&engine, request, config, &id).await,
        Route::RevokeLeakedApiKeys => api_keys::revoke_leaked(&engine, request, config).await,
        Route::SecretInPath => Err(CreditError::internal("answered above")),
        Route::Allocate(api_key) => credits::allocate(&engine, request, config, &api_key).await,
        Route::StripeWebhook => webhook::stripe(&engine, request, config).await,
        Route::AdminMigrate | Route::AdminVerify | Route::AdminReconcile | Route::AdminGrant | Route::AdminSweep => {
            admin(&engine, session, route, request, config).await
        }
    }
}

async fn admin<S: BatchExecutor>(
    engine: &Engine<&S>,
    session: &S,
    route: Route,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    // Admin bodies are checked after the token: an outsider learns nothing about their shape.
    auth::require_admin(engine, request, config).await?;
    match route {
        Route::AdminMigrate => admin::migrate(session, request).await,
        Route::AdminVerify => admin::verify(session).await,
        Route::AdminReconcile => admin::reconcile(engine, request).await,
        Route::AdminSweep => holds::sweep(engine, request).await,
        _ => admin::grant(engine, request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn paths_match_routes_and_nothing_else() {
        assert_eq!(match_path("/health"), Some((GET, Route::Health)));
        assert_eq!(match_path("/api/v1/credits/consume/"), Some((POST, Route::Consume)));
        assert_eq!(match_path("/api/v1/api-keys/key%5Fk/allocate"), Some((POST, Route::Allocate("key_k".into()))));
        assert_eq!(match_path("/api/v1/api-keys/key_k/rotate"), Some((POST, Route::RotateApiKey("key_k".into()))));
        assert_eq!(match_path("/api/v1/api-keys/key_k").map(|m| m.1), Some(Route::ApiKey("key_k".into())));
        for secret in
            ["/api/v1/api-keys/fltr_abc", "/api/v1/api-keys/fltr%5Fabc/allocate", "/api/v1/api-keys/FLTR_x/rotate"]
        {
            assert_eq!(match_path(secret).map(|m| m.1), Some(Route::SecretInPath), "{secret}");
        }
        for unknown in [
            "/",
            "/api/v1/api-keys//allocate",
            "/api/v1/api-keys/a/b/allocate",
            "/api/v1/credits",
            "/healthz",
            "/api/v1/api-keys/%zz/allocate",
            "/api/v1/api-keys/key_k/delete",
        ] {
            assert_eq!(match_path(unknown), None, "{unknown}");
        }
        let hold = "hold_0123456789abcdef0123456789abcdef";
        assert_eq!(match_path(&format!("/api/v1/credits/holds/{hold}")), Some((GET, Route::Hold(hold.into()))));
        assert_eq!(
            match_path(&format!("/api/v1/credits/holds/{hold}/capture")),
            Some((POST, Route::CaptureHold(hold.into())))
        );
        assert_eq!(match_path("/api/v1/credits/holds/x/release").map(|m| m.1), Some(Route::ReleaseHold("x".into())));
        assert_eq!(match_path("/api/v1/credits/holds/x/y/capture"), None);
        assert_eq!(match_path("/api/v1/credits/holds/x/settle"), None);
        assert_eq!(ROUTES.len(), 24);
    }
}
