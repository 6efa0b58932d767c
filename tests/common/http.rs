//! The router driven natively (the Worker runs the same `fltr_credits::http::handle`): a request
//! model in, an answer out, against a real Postgres database.
#![allow(dead_code)]

use super::*;
use fltr_credits::core::stripe;
use fltr_credits::http::{self, Config, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio_postgres::Client;

pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
pub const WHSEC: &str = "whsec_http_api_test";
pub const ADMIN: &str = "admin-token-0123456789";
pub const SERVICE: &str = "service-token-0123456789";
pub const KEY: &str = "fltr_live_http_key_0001";
pub const OTHER_KEY: &str = "fltr_live_http_key_0002";

pub fn config() -> Config {
    Config {
        better_auth_secret: SECRET.into(),
        stripe_webhook_secret: WHSEC.into(),
        admin_token: ADMIN.into(),
        service_token: SERVICE.into(),
        cors_origins: vec!["https://app.example".into()],
    }
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub response: HttpResponse,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.header(name)
    }
}

pub async fn call(client: &Client, request: HttpRequest) -> Answer {
    let response = http::handle(&Native(client), &config(), &request).await;
    assert_eq!(response.header("X-Request-Id"), Some("req_test"), "every answer carries the request id");
    Answer { status: response.status, body: response.body.clone().unwrap_or(Value::Null), response }
}

pub fn get(path: &str) -> HttpRequest {
    HttpRequest::new("GET", path, "req_test", now())
}

pub fn post(path: &str, body: Value) -> HttpRequest {
    HttpRequest::new("POST", path, "req_test", now())
        .with_entropy(fltr_credits::adapters::native::random::entropy().expect("OS randomness"))
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

pub fn bearer(request: HttpRequest, token: &str) -> HttpRequest {
    request.with_header("authorization", &format!("Bearer {token}"))
}

/// A user with a live Better Auth session (token `tok_<id>`), funded through the engine.
pub async fn signed_in(client: &Client, id: &str, credits: i64) -> String {
    user(client, id, None).await;
    let token = format!("tok_{id}");
    client
        .execute(
            "INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ($1, (now() at time zone 'utc') + interval '1 day', $2, now(), $3)",
            &[&format!("s_{id}"), &token, &id],
        )
        .await
        .unwrap();
    if credits > 0 {
        fund(client, Account::user(id).unwrap(), credits).await;
    }
    token
}

pub fn consume_body(amount: i64) -> Value {
    json!({"amount": amount, "operation": "document.process", "resource_id": "doc_1", "metadata": {"pages": 3}})
}

pub fn webhook(body: &[u8], signed_at: i64, secret: &str) -> HttpRequest {
    let header = format!("t={signed_at},v1={}", stripe::sign(secret, signed_at, body));
    HttpRequest::new("POST", "/api/v1/webhooks/stripe", "req_test", now())
        .with_header("stripe-signature", &header)
        .with_body(body.to_vec())
}
