//! `/admin/*` (bearer `ADMIN_TOKEN`): migrate, verify, reconcile, grant.

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::expiring::deadline;
use crate::core::validate::{metadata, Amount, Operation};
use crate::engine::Engine;
use crate::http::auth;
use crate::http::body::{self, idempotency_header, json_object, only_fields, optional_identifier, optional_string};
use crate::http::config::BODY_BYTES_MAX;
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::migrator;
use crate::sql::executor::BatchExecutor;
use crate::sql::ops::grant::GrantRequest;
use serde_json::{json, Value};

/// A flag from the body or the query string; both are validated, and either one set makes it true.
fn flag(value: Option<&Value>, query: Option<String>, name: &str) -> Result<bool, CreditError> {
    let invalid = || CreditError::invalid_request(format!("{name} must be true or false"));
    let from_body = match value {
        Some(Value::Bool(flag)) => Some(*flag),
        Some(Value::Null) | None => None,
        Some(_) => return Err(invalid()),
    };
    let from_query = match query.as_deref() {
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => return Err(invalid()),
        None => None,
    };
    // Asked for in either place, it holds: a dry run is never turned into a real one.
    Ok(from_body.unwrap_or(false) || from_query.unwrap_or(false))
}

/// Applies pending migrations (one transaction under a table lock: no advisory lock, so it
/// works through Hyperdrive's transaction pooling). `{"dry_run": true}` or `?dry_run=true`
/// only reports. 200 with `ok: false` when drift remains after migrating.
pub async fn migrate<S: BatchExecutor>(session: &S, request: &HttpRequest) -> Result<HttpResponse, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, false)?;
    only_fields(&body, &["dry_run"])?;
    let dry_run = flag(body.get("dry_run"), request.query_param("dry_run")?, "dry_run")?;
    let report = migrator::migrate(session, dry_run).await?;
    let mut value = serde_json::to_value(&report).map_err(|error| CreditError::internal(error.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("ok".into(), json!(report.drift.is_empty()));
    }
    Ok(HttpResponse::json(200, value))
}

/// Every difference between the live schema and the model; `ok` is true when there is none.
pub async fn verify<S: BatchExecutor>(session: &S) -> Result<HttpResponse, CreditError> {
    let drift = migrator::verify_schema(session).await?;
    Ok(HttpResponse::json(200, json!({ "ok": drift.is_empty(), "drift": drift })))
}

/// Accounts whose balance differs from their ledger. Read-only here (GET); adopting opening
/// balances stays a deliberate CLI step.
pub async fn reconcile<S: BatchExecutor>(
    engine: &Engine<S>,
    request: &HttpRequest,
) -> Result<HttpResponse, CreditError> {
    let report = engine.reconcile(false, request.now).await?;
    let mut value = serde_json::to_value(&report).map_err(|error| CreditError::internal(error.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("ok".into(), json!(report.is_clean()));
    }
    Ok(HttpResponse::json(200, value))
}

/// The account named by exactly one of `user_id`, `team_id`, `api_key_id` (API.md; `api_key`,
/// the name this route first took, is still read).
fn grant_account(body: &serde_json::Map<String, Value>) -> Result<Account, CreditError> {
    let key = match (optional_identifier(body, "api_key_id")?, optional_identifier(body, "api_key")?) {
        (Some(_), Some(_)) => return Err(CreditError::invalid_request("name the key once: api_key_id")),
        (id, legacy) => id.or(legacy),
    };
    auth::named_account([optional_identifier(body, "user_id")?, optional_identifier(body, "team_id")?, key])?
        .ok_or_else(|| CreditError::invalid_request("name the account: one of user_id, team_id or api_key_id"))
}

/// The grant a body asks for: the account, `amount`, optional `operation`, `metadata` and
/// `expires_at` (API.md "Expiring credits": a future RFC 3339 time; null or absent, the credits
/// never expire), and the `Idempotency-Key` header.
fn grant_request(request: &HttpRequest) -> Result<GrantRequest, CreditError> {
    let body = json_object(request, BODY_BYTES_MAX, true)?;
    only_fields(
        &body,
        &["user_id", "team_id", "api_key_id", "api_key", "amount", "operation", "metadata", "expires_at"],
    )?;
    let amount = Amount::from_json(body.get("amount").unwrap_or(body::null()))?;
    let account = grant_account(&body)?;
    let operation = optional_string(&body, "operation")?.map(Operation::new).transpose()?;
    let metadata = metadata(body.get("metadata").unwrap_or(body::null()))?;
    let expires_at = optional_string(&body, "expires_at")?.map(|text| deadline(text, request.now)).transpose()?;
    let idempotency_key = idempotency_header(request)?;
    Ok(GrantRequest { account, amount, operation, metadata, idempotency_key, expires_at })
}

/// Credits an account with a `grant` ledger row; `Idempotency-Key` makes retries safe.
pub async fn grant<S: BatchExecutor>(engine: &Engine<S>, request: &HttpRequest) -> Result<HttpResponse, CreditError> {
    let grant = grant_request(request)?;
    let result = engine.grant(&grant, request.now).await?;
    Ok(HttpResponse::ok(&result)?.replayed(result.replayed))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::core::account::AccountKind;
    use crate::core::time::Timestamp;

    const NOW: Timestamp = Timestamp(1_764_547_200_000_000); // 2025-12-01T00:00:00Z

    fn parse(body: &str) -> Result<GrantRequest, CreditError> {
        let request = HttpRequest::new("POST", "/admin/grant", "req_test", NOW)
            .with_header("content-type", "application/json")
            .with_body(body);
        grant_request(&request)
    }

    #[test]
    fn a_grant_may_carry_a_future_deadline() {
        let grant = parse(r#"{"user_id": "u1", "amount": 5, "expires_at": "2025-12-31T00:00:00Z"}"#).unwrap();
        assert_eq!(grant.account.kind, AccountKind::User);
        assert_eq!(grant.expires_at, Some(Timestamp::parse("2025-12-31T00:00:00Z").unwrap()));
        for never in [r#"{"team_id": "t1", "amount": 5}"#, r#"{"team_id": "t1", "amount": 5, "expires_at": null}"#] {
            assert_eq!(parse(never).unwrap().expires_at, None, "{never}");
        }
    }

    #[test]
    fn a_deadline_now_past_or_malformed_is_refused() {
        for bad in [
            r#""2025-12-01T00:00:00Z""#,
            r#""2025-11-30T00:00:00Z""#,
            r#""2040-01-01T00:00:00Z""#,
            r#""next week""#,
            "1767139200",
            "true",
        ] {
            let body = format!(r#"{{"user_id": "u1", "amount": 5, "expires_at": {bad}}}"#);
            assert_eq!(parse(&body).unwrap_err().code(), "invalid_request", "{bad}");
        }
        let misspelt = parse(r#"{"user_id": "u1", "amount": 5, "expires": "2025-12-31T00:00:00Z"}"#);
        assert_eq!(misspelt.unwrap_err().code(), "invalid_request");
    }
}
