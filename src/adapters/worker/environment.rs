//! What the Worker reads from its surroundings: the clock, a request id, vars and secrets.

use crate::core::time::Timestamp;
use crate::http::config::{parse_cors_origins, Config};
use crate::sql::timeouts::{self, Timeouts};
use worker::{Env, Request};

/// The Worker clock (milliseconds; Workers do not expose finer time to code).
pub fn now() -> Timestamp {
    Timestamp((js_sys::Date::now() * 1000.0) as i64)
}

/// Cloudflare's `cf-ray` when present (it ties our log line to Cloudflare's), else time + random.
pub fn request_id(request: &Request, now: Timestamp) -> String {
    if let Ok(Some(ray)) = request.headers().get("cf-ray") {
        if !ray.is_empty() && ray.len() <= 64 && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return ray;
        }
    }
    let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("req_{:x}{:08x}", now.0, random)
}

fn text(env: &Env, name: &str) -> String {
    env.var(name).map(|value| value.to_string()).unwrap_or_default()
}

/// Vars (`CORS_ORIGINS`) and secrets (`BETTER_AUTH_SECRET`, `STRIPE_WEBHOOK_SECRET`,
/// `ADMIN_TOKEN`, `SERVICE_TOKEN`). A missing secret leaves its feature closed (empty string), never open.
pub fn config(env: &Env) -> Config {
    Config {
        better_auth_secret: text(env, "BETTER_AUTH_SECRET"),
        stripe_webhook_secret: text(env, "STRIPE_WEBHOOK_SECRET"),
        admin_token: text(env, "ADMIN_TOKEN"),
        service_token: text(env, "SERVICE_TOKEN"),
        cors_origins: parse_cors_origins(&text(env, "CORS_ORIGINS")),
    }
}

/// `DB_LOCK_TIMEOUT_MS` / `DB_STATEMENT_TIMEOUT_MS` vars override the request timeouts (tests use
/// short ones); see `sql::timeouts` for why the server must give up before the Worker.
pub fn timeouts(env: &Env) -> Timeouts {
    let lock = text(env, "DB_LOCK_TIMEOUT_MS");
    let statement = text(env, "DB_STATEMENT_TIMEOUT_MS");
    timeouts::REQUEST.with_overrides(
        Some(&lock).filter(|v| !v.is_empty()).map(String::as_str),
        Some(&statement).filter(|v| !v.is_empty()).map(String::as_str),
    )
}
