//! `POST /api/v1/webhooks/stripe`: a verified Checkout event buys credits, once.
//!
//! Fulfilled: `checkout.session.completed` with `payment_status` `paid` or `no_payment_required`
//! (a 100 %-off coupon), and
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
    HttpResponse::json(
        200,
        json!({ "ok": true, "granted": 0, "replayed": false, "event_id": event_id, "type": event_type, "ignored": reason }),
    )
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
            .map_err(|_| {
                CreditError::invalid_amount(format!("metadata.credits must be a positive integer, got {text:?}"))
            })
            .and_then(Amount::new),
        Some(number @ Value::Number(_)) => Amount::from_json(number),
        _ => Err(CreditError::invalid_request("the checkout session has no metadata.credits: nothing to grant")),
    }
}

pub async fn stripe<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<HttpResponse, CreditError> {
    check_size(request, WEBHOOK_BODY_BYTES_MAX)?;
    stripe::verify(request.header("stripe-signature"), &request.body, &config.stripe_webhook_secret, request.now)?;
    let event: Value =
        serde_json::from_slice(&request.body).map_err(|_| CreditError::invalid_request("event is not JSON"))?;
    let event_id =
        identifier("id", text(&event, "/id").ok_or_else(|| CreditError::invalid_request("event has no id"))?)?;
    let event_type = text(&event, "/type").ok_or_else(|| CreditError::invalid_request("event has no type"))?;
    let session =
        event.pointer("/data/object").ok_or_else(|| CreditError::invalid_request("event has no data.object"))?;
    match (event_type, text(session, "/payment_status"), text(session, "/mode")) {
        ("checkout.session.completed", Some("paid"), _) | ("checkout.session.async_payment_succeeded", _, _) => {}
        // A 100 %-off coupon on a one-time payment completes with `no_payment_required` and
        // nothing else follows. In subscription or setup mode the same status means "nothing
        // charged yet" (a free trial, a saved card): no credits for that.
        ("checkout.session.completed", Some("no_payment_required"), Some("payment")) => {}
        ("checkout.session.completed", Some("no_payment_required"), _) => {
            return Ok(granted_nothing(
                event_id,
                event_type,
                "no_payment_required outside payment mode: nothing was paid",
            ));
        }
        ("checkout.session.completed", _, _) => {
            return Ok(granted_nothing(
                event_id,
                event_type,
                "payment not settled yet; async_payment_succeeded will follow",
            ));
        }
        _ => return Ok(granted_nothing(event_id, event_type, "event type grants nothing")),
    }
    // A checkout for something else (no credits in its metadata) is not ours to fulfil.
    if session.pointer("/metadata/credits").is_none_or(Value::is_null) {
        return Ok(granted_nothing(
            event_id,
            event_type,
            "the checkout session carries no metadata.credits: not a credits purchase",
        ));
    }
    let session_id = identifier(
        "data.object.id",
        text(session, "/id").ok_or_else(|| CreditError::invalid_request("checkout session has no id"))?,
    )?;
    // From here on the event is Stripe's and paid for: whatever stops it from being credited is
    // recorded and answered 500, so Stripe retries (a 4xx would end its retries and lose the
    // purchase) and the operator sees it in /health and reconcile.
    let user_id = text(session, "/client_reference_id").or_else(|| text(session, "/metadata/user_id"));
    let user_id = match user_id.map(|id| identifier("user_id", id)) {
        Some(Ok(id)) => id,
        _ => {
            return Err(unfulfilled(
                engine,
                request,
                session_id,
                event_id,
                None,
                "no_user",
                "names no valid user (client_reference_id or metadata.user_id)",
            )
            .await)
        }
    };
    let amount = match credits(session) {
        Ok(amount) => amount,
        Err(_) => {
            return Err(unfulfilled(
                engine,
                request,
                session_id,
                event_id,
                Some(user_id),
                "bad_credits",
                "has no valid metadata.credits",
            )
            .await)
        }
    };
    let purchase = PurchaseRequest {
        user_id: user_id.to_string(),
        amount,
        payment_id: session_id.to_string(),
        event_id: event_id.to_string(),
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
        // The statement itself recorded these two as unfulfilled.
        CreditError::NotFound { .. } => not_credited(session_id, "its buyer is not a user here"),
        CreditError::InvalidAmount { .. } => {
            not_credited(session_id, "it would lift the balance past the integer range")
        }
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

fn not_credited(session_id: &str, why: &str) -> CreditError {
    CreditError::PurchaseNotCredited {
        message: format!("checkout session {session_id} was paid but not credited: {why}; recorded for the operator, and Stripe will retry"),
        payment_id: session_id.to_string(),
    }
}

async fn unfulfilled<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    session_id: &str,
    event_id: &str,
    user_id: Option<&str>,
    reason: &str,
    why: &str,
) -> CreditError {
    match engine.record_unfulfilled_purchase(session_id, event_id, user_id, reason, request.now).await {
        Ok(()) => not_credited(session_id, &format!("it {why}")),
        Err(error) => error,
    }
}
