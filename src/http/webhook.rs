//! `POST /api/v1/webhooks/stripe`: a verified Checkout event buys credits, once.
//!
//! Fulfilled: `checkout.session.completed` with `payment_status == "paid"`, and
//! `checkout.session.async_payment_succeeded` (delayed methods, which first arrive as
//! `completed` + `unpaid`). The buyer is `client_reference_id`, else `metadata.user_id`; the
//! amount is `metadata.credits`. The payment id handed to `Engine::purchase` is the checkout
//! session id, so a redelivery, or both events of one session, grant once.

use crate::core::error::CreditError;
use crate::core::stripe;
use crate::core::validate::{identifier, Amount};
use crate::engine::Engine;
use crate::http::body::check_size;
use crate::http::config::{Config, WEBHOOK_BODY_BYTES_MAX};
use crate::http::request::HttpRequest;
use crate::http::response::HttpResponse;
use crate::sql::executor::Executor;
use crate::sql::ops::purchase::PurchaseRequest;
use serde_json::{json, Value};

fn granted_nothing(event_id: &str, event_type: &str, reason: &str) -> HttpResponse {
    HttpResponse::json(200, json!({ "ok": true, "granted": 0, "replayed": false, "event_id": event_id, "type": event_type, "ignored": reason }))
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty())
}

/// Stripe metadata values are strings; a number is accepted too.
fn credits(session: &Value) -> Result<Amount, CreditError> {
    match session.pointer("/metadata/credits") {
        Some(Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| CreditError::invalid_amount(format!("metadata.credits must be a positive integer, got {text:?}")))
            .and_then(Amount::new),
        Some(number @ Value::Number(_)) => Amount::from_json(number),
        _ => Err(CreditError::invalid_request("the checkout session has no metadata.credits: nothing to grant")),
    }
}

pub async fn stripe<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<HttpResponse, CreditError> {
    check_size(request, WEBHOOK_BODY_BYTES_MAX)?;
    stripe::verify(request.header("stripe-signature"), &request.body, &config.stripe_webhook_secret, request.now)?;
    let event: Value = serde_json::from_slice(&request.body).map_err(|error| CreditError::invalid_request(format!("event is not JSON: {error}")))?;
    let event_id = text(&event, "/id").ok_or_else(|| CreditError::invalid_request("event has no id"))?;
    let event_type = text(&event, "/type").ok_or_else(|| CreditError::invalid_request("event has no type"))?;
    let session = event.pointer("/data/object").ok_or_else(|| CreditError::invalid_request("event has no data.object"))?;
    match event_type {
        "checkout.session.completed" if text(session, "/payment_status") != Some("paid") => {
            return Ok(granted_nothing(event_id, event_type, "payment not settled yet; async_payment_succeeded will follow"));
        }
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {}
        _ => return Ok(granted_nothing(event_id, event_type, "event type grants nothing")),
    }
    let session_id = identifier("data.object.id", text(session, "/id").ok_or_else(|| CreditError::invalid_request("checkout session has no id"))?)?;
    let user_id = text(session, "/client_reference_id")
        .or_else(|| text(session, "/metadata/user_id"))
        .ok_or_else(|| CreditError::invalid_request("checkout session names no user (client_reference_id or metadata.user_id)"))?;
    let purchase = PurchaseRequest {
        user_id: identifier("user_id", user_id)?.to_string(),
        amount: credits(session)?,
        payment_id: session_id.to_string(),
        metadata: Some(
            json!({
                "stripe_event_id": event_id,
                "stripe_event_type": event_type,
                "amount_total": session.get("amount_total"),
                "currency": session.get("currency"),
            })
            .to_string(),
        ),
    };
    let result = engine.purchase(&purchase, request.now).await.map_err(|error| match error {
        CreditError::NotFound { .. } => CreditError::not_found(format!("no user {user_id}: nothing was granted")),
        other => other,
    })?;
    let granted = if result.replayed { 0 } else { result.amount };
    let body = json!({
        "ok": true,
        "granted": granted,
        "replayed": result.replayed,
        "event_id": event_id,
        "type": event_type,
        "transaction_id": result.transaction_id,
        "account": result.account,
        "balance": result.balance,
    });
    Ok(HttpResponse::json(200, body).replayed(result.replayed))
}
