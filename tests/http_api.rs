//! The Worker's HTTP API (`fltr_credits::http`), driven natively against a real Postgres with the
//! native executor: every route and every error status. The same router runs in the Worker,
//! where `tests/worker/` checks it again under wrangler dev.

mod common;

use common::http::*;
use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::session::sign;
use fltr_credits::http::{self, HttpRequest};
use fltr_credits::sql::executor::BatchExecutor;
use fltr_credits::sql::executor::Executor;
use fltr_credits::sql::failure::DbFailure;
use fltr_credits::sql::Statement;
use serde_json::{json, Value};
use tokio_postgres::Client;

#[tokio::test]
async fn health_reports_database_and_schema() {
    let db = TestDb::migrated("http_health").await;
    let client = db.client().await;
    let ok = call(&client, get("/health")).await;
    assert_eq!(
        (ok.status, ok.body["status"].as_str(), ok.body["database"].as_str(), ok.body["schema"].as_str()),
        (200, Some("ok"), Some("ok"), Some("ok"))
    );
    assert!(ok.body["version"].is_string());

    let bare = TestDb::new("http_health_bare").await;
    let bare_client = bare.client().await;
    let missing = call(&bare_client, get("/health")).await;
    assert_eq!(
        (missing.status, missing.body["database"].as_str(), missing.body["schema"].as_str()),
        (503, Some("ok"), Some("missing"))
    );
    assert_eq!(missing.body["status"], "error");

    // A connection the server has closed: the database part is marked, and nothing panics.
    let doomed = db.client().await;
    let pid = scalar(&doomed, "pg_backend_pid()").await;
    client.execute(&format!("SELECT pg_terminate_backend({pid})"), &[]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let down = call(&doomed, get("/health")).await;
    assert_eq!((down.status, down.body["database"].as_str()), (503, Some("unavailable")));
    let consume = call(&doomed, bearer(post("/api/v1/credits/consume", consume_body(1)), "tok_x")).await;
    assert_eq!((consume.status, consume.code()), (503, "database_unavailable"));
}

#[tokio::test]
async fn unknown_routes_are_404_and_unserved_methods_405_with_allow() {
    let db = TestDb::migrated("http_routes").await;
    let client = db.client().await;
    for request in [get("/"), get("/api/v1/credits"), get("/api/v1/api-keys//allocate")] {
        let answer = call(&client, request).await;
        assert_eq!((answer.status, answer.code()), (404, "not_found"));
    }
    for (request, allow) in [
        (get("/api/v1/credits/consume"), "POST, OPTIONS"),
        (post("/health", json!({})), "GET, OPTIONS"),
        (HttpRequest::new("DELETE", "/api/v1/credits/balance", "req_test", now()), "GET, OPTIONS"),
        (HttpRequest::new("PUT", "/api/v1/api-keys/k/allocate", "req_test", now()), "POST, OPTIONS"),
    ] {
        let answer = call(&client, request).await;
        assert_eq!((answer.status, answer.code(), answer.header("Allow")), (405, "method_not_allowed", Some(allow)));
    }
}

#[tokio::test]
async fn consume_charges_by_session_token_signed_token_cookie_and_api_key() {
    let db = TestDb::migrated("http_consume").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    api_key(&client, KEY, "u1", None, Some(50), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 40).await;

    let raw = call(&client, bearer(post("/api/v1/credits/consume", consume_body(5)), &token)).await;
    assert_eq!(
        (raw.status, raw.body["balance"].as_i64(), raw.body["replayed"].as_bool()),
        (200, Some(95), Some(false))
    );
    assert_eq!(raw.body["charged"], json!({"kind": "user", "id": "u1"}));
    assert!(raw.body["transaction_id"].as_str().unwrap().starts_with("ctx_"));

    let signed = format!("{token}.{}", sign(&token, SECRET)).replace('=', "%3D");
    let by_signed = call(&client, bearer(post("/api/v1/credits/consume", consume_body(5)), &signed)).await;
    assert_eq!(by_signed.body["balance"], 90);
    let cookie = post("/api/v1/credits/consume", consume_body(5))
        .with_header("cookie", &format!("theme=dark; better-auth.session_token={signed}"));
    assert_eq!(call(&client, cookie).await.body["balance"], 85);

    let by_key = call(&client, post("/api/v1/credits/consume", consume_body(10)).with_header("x-api-key", KEY)).await;
    assert_eq!((by_key.status, by_key.body["balance"].as_i64()), (200, Some(30)));
    assert_eq!(by_key.body["charged"]["id"], key_id(KEY), "keys are named by public id, never by secret");
    assert_eq!(by_key.body["limits"]["daily"]["remaining"], 40);
    assert_eq!(by_key.header("X-RateLimit-Limit"), Some("50"));
    assert_eq!(by_key.header("X-RateLimit-Remaining"), Some("40"));
    assert!(by_key.header("X-RateLimit-Reset").unwrap().parse::<i64>().unwrap() > 1_700_000_000);
    let by_key_bearer = call(&client, bearer(post("/api/v1/credits/consume", consume_body(1)), KEY)).await;
    assert_eq!(by_key_bearer.body["balance"], 29);
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn consume_refusals_have_their_status_and_code() {
    let db = TestDb::migrated("http_consume_errors").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 10).await;
    api_key(&client, KEY, "u1", None, Some(5), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 100).await;
    client.execute("INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s_old', (now() at time zone 'utc') - interval '1 second', 'tok_old', now(), 'u1')", &[]).await.unwrap();
    let path = "/api/v1/credits/consume";

    let cases: Vec<(HttpRequest, u16, &str)> = vec![
        (post(path, consume_body(1)), 401, "unauthenticated"),
        (bearer(post(path, consume_body(1)), "tok_unknown"), 401, "unauthenticated"),
        (bearer(post(path, consume_body(1)), "tok_old"), 401, "unauthenticated"),
        (post(path, consume_body(1)).with_header("x-api-key", "fltr_no_such_key_0000"), 401, "unauthenticated"),
        (
            post(path, consume_body(1))
                .with_header("cookie", "better-auth.session_token=tok_u1.forgedforgedforgedforgedforgedforgedforged="),
            401,
            "unauthenticated",
        ),
        (
            bearer(HttpRequest::new("POST", path, "req_test", now()).with_body(consume_body(1).to_string()), &token),
            415,
            "unsupported_media_type",
        ),
        (
            bearer(
                HttpRequest::new("POST", path, "req_test", now())
                    .with_header("content-type", "text/plain")
                    .with_body(consume_body(1).to_string()),
                &token,
            ),
            415,
            "unsupported_media_type",
        ),
        (
            bearer(post(path, json!({"amount": 1, "operation": "x", "metadata": {"pad": "y".repeat(70_000)}})), &token),
            413,
            "payload_too_large",
        ),
        (bearer(post(path, Value::Null).with_body("{not json"), &token), 400, "invalid_request"),
        (bearer(post(path, json!([1])), &token), 400, "invalid_request"),
        (bearer(post(path, json!({"amount": 1})), &token), 400, "invalid_request"),
        (bearer(post(path, json!({"amount": 0, "operation": "x"})), &token), 400, "invalid_amount"),
        (bearer(post(path, json!({"amount": 2.5, "operation": "x"})), &token), 400, "invalid_amount"),
        (bearer(post(path, json!({"amount": "5", "operation": "x"})), &token), 400, "invalid_amount"),
        (bearer(post(path, json!({"amount": 1, "operation": "Bad Op"})), &token), 400, "invalid_request"),
        (bearer(post(path, json!({"amount": 1, "operation": "x", "metadata": [1]})), &token), 400, "invalid_request"),
        (
            bearer(post(path, consume_body(1)).with_header("idempotency-key", "has space"), &token),
            400,
            "invalid_request",
        ),
        (bearer(post(path, consume_body(11)), &token), 402, "insufficient_credits"),
        (post(path, consume_body(6)).with_header("x-api-key", KEY), 429, "daily_limit_exceeded"),
    ];
    for (index, (request, status, code)) in cases.into_iter().enumerate() {
        let answer = call(&client, request).await;
        assert_eq!((answer.status, answer.code()), (status, code), "case {index}: {}", answer.body);
        assert_eq!(answer.body["error"]["request_id"], "req_test");
    }
    let poor = call(&client, bearer(post(path, consume_body(11)), &token)).await;
    assert_eq!((poor.body["error"]["balance"].as_i64(), poor.body["error"]["required"].as_i64()), (Some(10), Some(11)));
    let limited = call(&client, post(path, consume_body(6)).with_header("x-api-key", KEY)).await;
    let retry_after: i64 = limited.header("Retry-After").unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 86_400);
    assert_eq!(limited.body["error"]["retry_after"], retry_after);
    assert_eq!((limited.header("X-RateLimit-Limit"), limited.header("X-RateLimit-Remaining")), (Some("5"), Some("0")));
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await,
        "0",
        "no refusal wrote anything"
    );
}

#[tokio::test]
async fn idempotency_keys_replay_and_conflict() {
    let db = TestDb::migrated("http_idem").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    let request =
        || bearer(post("/api/v1/credits/consume", consume_body(5)), &token).with_header("idempotency-key", "order-1");
    let first = call(&client, request()).await;
    let replay = call(&client, request()).await;
    assert_eq!((first.status, replay.status), (200, 200));
    assert_eq!(first.header("Idempotent-Replayed"), None);
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        (replay.body["replayed"].as_bool(), &replay.body["transaction_id"]),
        (Some(true), &first.body["transaction_id"])
    );
    let conflict = call(
        &client,
        bearer(post("/api/v1/credits/consume", consume_body(6)), &token).with_header("idempotency-key", "order-1"),
    )
    .await;
    assert_eq!((conflict.status, conflict.code()), (409, "idempotency_conflict"));
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "95");
}

#[tokio::test]
async fn check_decides_without_writing() {
    let db = TestDb::migrated("http_check").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 10).await;
    let ok = call(
        &client,
        bearer(post("/api/v1/credits/check", json!({"amount": 10, "operation": "document.process"})), &token),
    )
    .await;
    assert_eq!((ok.status, ok.body["ok"].as_bool(), ok.body["balance"].as_i64()), (200, Some(true), Some(10)));
    assert!(ok.body.get("transaction_id").is_none());
    let zero = call(&client, bearer(post("/api/v1/credits/check", json!({"amount": 0})), &token)).await;
    assert_eq!(
        (zero.status, zero.code()),
        (400, "invalid_amount"),
        "a check of 0 would let an empty account through a gate"
    );
    let poor = call(&client, bearer(post("/api/v1/credits/check", json!({"amount": 11})), &token)).await;
    assert_eq!((poor.status, poor.code()), (402, "insufficient_credits"));
    let negative = call(&client, bearer(post("/api/v1/credits/check", json!({"amount": -1})), &token)).await;
    assert_eq!((negative.status, negative.code()), (400, "invalid_amount"));
    let anonymous = call(&client, post("/api/v1/credits/check", json!({"amount": 1}))).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "10");
}

#[tokio::test]
async fn refund_is_the_services_and_returns_credits_once() {
    let db = TestDb::migrated("http_refund").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    api_key(&client, KEY, "u1", None, Some(50), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 40).await;
    let usage = call(&client, bearer(post("/api/v1/credits/consume", consume_body(7)), &token)).await;
    let id = usage.body["transaction_id"].as_str().unwrap().to_string();
    // The charged user, their API key, and a stranger: 403 for the first two, nothing changes.
    for credential in [token.as_str(), KEY] {
        let own =
            call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), credential)).await;
        assert_eq!((own.status, own.code()), (403, "forbidden"), "{credential}");
    }
    let by_header =
        call(&client, post("/api/v1/credits/refund", json!({"transaction_id": id})).with_header("x-api-key", KEY))
            .await;
    assert_eq!(by_header.status, 403);
    assert_eq!(
        call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), "guess")).await.status,
        401
    );
    assert_eq!(call(&client, post("/api/v1/credits/refund", json!({"transaction_id": id}))).await.status, 401);
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "93");
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'refund'").await, "0");

    let refund = call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), SERVICE)).await;
    assert_eq!(
        (refund.status, refund.body["refunded"].as_i64(), refund.body["balance"].as_i64()),
        (200, Some(7), Some(100))
    );
    let again = call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), ADMIN)).await;
    assert_eq!(
        (again.body["replayed"].as_bool(), again.header("Idempotent-Replayed")),
        (Some(true), Some("true")),
        "ADMIN_TOKEN acts as the service"
    );
    let missing = call(&client, bearer(post("/api/v1/credits/refund", json!({})), SERVICE)).await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_request"));
    let unknown =
        call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": "ctx_nope"})), SERVICE)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn balance_and_transactions_page_through_the_ledger() {
    let db = TestDb::migrated("http_ledger").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    api_key(&client, KEY, "u1", None, Some(500), None).await;
    for _ in 0..3 {
        call(&client, bearer(post("/api/v1/credits/consume", consume_body(1)), &token)).await;
    }
    let balance = call(&client, bearer(get("/api/v1/credits/balance"), &token)).await;
    assert_eq!(balance.status, 200);
    assert_eq!(balance.body["user"]["credits"], 97);
    assert_eq!(balance.body["team"], Value::Null);
    assert_eq!(balance.body["api_keys"][0]["id"], key_id(KEY));
    assert_eq!(balance.body["api_keys"][0]["api_key"], "fltr_live…");
    let by_key = call(&client, get("/api/v1/credits/balance").with_header("x-api-key", KEY)).await;
    assert_eq!(by_key.body["api_key"]["daily_limit"], 500);
    assert_eq!(call(&client, get("/api/v1/credits/balance")).await.status, 401);

    let first = call(&client, bearer(get("/api/v1/credits/transactions").with_query("limit=2"), &token)).await;
    assert_eq!(first.status, 200);
    let rows = first.body["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["type"], "usage");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = call(
        &client,
        bearer(get("/api/v1/credits/transactions").with_query(&format!("limit=2&cursor={cursor}")), &token),
    )
    .await;
    let rest = second.body["transactions"].as_array().unwrap();
    assert_eq!(rest.len(), 2, "one usage and the grant");
    assert_eq!(second.body["next_cursor"], Value::Null);
    for bad in ["limit=0", "limit=101", "limit=abc", "cursor=zz", "cursor=%zz"] {
        let answer = call(&client, bearer(get("/api/v1/credits/transactions").with_query(bad), &token)).await;
        assert_eq!((answer.status, answer.code()), (400, "invalid_request"), "{bad}");
    }
}

#[tokio::test]
async fn allocate_funds_only_the_callers_own_keys() {
    let db = TestDb::migrated("http_allocate").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    let stranger = signed_in(&client, "u2", 100).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    api_key(&client, OTHER_KEY, "u2", None, None, None).await;
    let path = format!("/api/v1/api-keys/{}/allocate", key_id(KEY));
    let ok =
        call(&client, bearer(post(&path, json!({"amount": 30})), &token).with_header("idempotency-key", "alloc-1"))
            .await;
    assert_eq!(
        (ok.status, ok.body["balance"].as_i64(), ok.body["charged"]["kind"].as_str()),
        (200, Some(30), Some("api_key"))
    );
    let replay =
        call(&client, bearer(post(&path, json!({"amount": 30})), &token).with_header("idempotency-key", "alloc-1"))
            .await;
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    let foreign = call(
        &client,
        bearer(post(&format!("/api/v1/api-keys/{}/allocate", key_id(OTHER_KEY)), json!({"amount": 1})), &token),
    )
    .await;
    assert_eq!(
        (foreign.status, foreign.code()),
        (404, "not_found"),
        "another user's key looks like no key: ids cannot be probed"
    );
    let by_key = call(&client, post(&path, json!({"amount": 1})).with_header("x-api-key", KEY)).await;
    assert_eq!((by_key.status, by_key.code()), (403, "forbidden"));
    let unknown =
        call(&client, bearer(post("/api/v1/api-keys/key_none_0000000/allocate", json!({"amount": 1})), &stranger))
            .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let poor = call(&client, bearer(post(&path, json!({"amount": 71})), &token)).await;
    assert_eq!((poor.status, poor.code()), (402, "insufficient_credits"));
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "70");
    assert_eq!(reconcile_drift(&client).await, 0);
}

fn stripe_event(id: &str, kind: &str, session: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({"id": id, "object": "event", "type": kind, "data": {"object": session}})).unwrap()
}

#[tokio::test]
async fn stripe_checkout_events_grant_once_and_bad_deliveries_grant_nothing() {
    let db = TestDb::migrated("http_stripe").await;
    let client = db.client().await;
    signed_in(&client, "buyer", 0).await;
    let now_s = now().unix_seconds();
    let session = json!({"id": "cs_test_1", "object": "checkout.session", "client_reference_id": "buyer", "payment_status": "paid",
        "metadata": {"credits": "100"}, "amount_total": 1000, "currency": "usd"});
    let paid = stripe_event("evt_1", "checkout.session.completed", session.clone());
    let first = call(&client, webhook(&paid, now_s, WHSEC)).await;
    assert_eq!(
        (first.status, first.body["granted"].as_i64(), first.body["replayed"].as_bool()),
        (200, Some(100), Some(false))
    );
    let again = call(&client, webhook(&paid, now_s, WHSEC)).await;
    assert_eq!(
        (again.status, again.body["granted"].as_i64(), again.body["replayed"].as_bool()),
        (200, Some(0), Some(true))
    );
    let async_success = stripe_event("evt_2", "checkout.session.async_payment_succeeded", session.clone());
    assert_eq!(
        call(&client, webhook(&async_success, now_s, WHSEC)).await.body["granted"],
        0,
        "same session: granted once"
    );

    let pending = stripe_event(
        "evt_3",
        "checkout.session.completed",
        json!({"id": "cs_test_2", "client_reference_id": "buyer", "payment_status": "unpaid", "metadata": {"credits": "5"}}),
    );
    assert_eq!(call(&client, webhook(&pending, now_s, WHSEC)).await.body["granted"], 0);
    let later = stripe_event(
        "evt_4",
        "checkout.session.async_payment_succeeded",
        json!({"id": "cs_test_2", "metadata": {"user_id": "buyer", "credits": 5}}),
    );
    assert_eq!(call(&client, webhook(&later, now_s, WHSEC)).await.body["granted"], 5);
    let other = stripe_event("evt_5", "invoice.paid", json!({"id": "in_1"}));
    assert_eq!(call(&client, webhook(&other, now_s, WHSEC)).await.body["granted"], 0);

    let forged = call(&client, webhook(&paid, now_s, "whsec_wrong")).await;
    assert_eq!((forged.status, forged.code()), (400, "invalid_signature"));
    let stale = call(&client, webhook(&stripe_event("evt_6", "checkout.session.completed", json!({"id": "cs_test_3", "client_reference_id": "buyer", "payment_status": "paid", "metadata": {"credits": "9"}})), now_s - 301, WHSEC)).await;
    assert_eq!((stale.status, stale.code()), (400, "invalid_signature"));
    let unsigned =
        call(&client, HttpRequest::new("POST", "/api/v1/webhooks/stripe", "req_test", now()).with_body(paid.clone()))
            .await;
    assert_eq!((unsigned.status, unsigned.code()), (400, "invalid_signature"));
    // Paid but not creditable: 500 (Stripe retries; a 4xx would end its retries), recorded for
    // the operator, counted in /health and listed by reconcile.
    let stranger = stripe_event(
        "evt_7",
        "checkout.session.completed",
        json!({"id": "cs_test_4", "client_reference_id": "nobody", "payment_status": "paid", "metadata": {"credits": "9"}}),
    );
    let unknown = call(&client, webhook(&stranger, now_s, WHSEC)).await;
    assert_eq!((unknown.status, unknown.code()), (500, "purchase_not_credited"));
    assert_eq!(call(&client, webhook(&stranger, now_s, WHSEC)).await.status, 500, "a redelivery is counted again");
    let bad_credits = stripe_event(
        "evt_8",
        "checkout.session.completed",
        json!({"id": "cs_test_5", "client_reference_id": "buyer", "payment_status": "paid", "metadata": {"credits": "lots"}}),
    );
    assert_eq!(call(&client, webhook(&bad_credits, now_s, WHSEC)).await.code(), "purchase_not_credited");
    assert_eq!(scalar(&client, "SELECT string_agg(payment_id || ':' || reason || ':' || attempts, ',' ORDER BY payment_id) FROM credit_unfulfilled_purchases").await, "cs_test_4:unknown_user:2,cs_test_5:bad_credits:1");
    // A checkout for another product (no metadata.credits) is not ours: 200, nothing recorded.
    let other_product = stripe_event(
        "evt_8b",
        "checkout.session.completed",
        json!({"id": "cs_test_5b", "client_reference_id": "buyer", "payment_status": "paid"}),
    );
    let ignored = call(&client, webhook(&other_product, now_s, WHSEC)).await;
    assert_eq!((ignored.status, ignored.body["granted"].as_i64()), (200, Some(0)));
    assert_eq!(call(&client, get("/health")).await.body["unfulfilled_purchases"], 2);
    let report = call(&client, bearer(get("/admin/reconcile"), ADMIN)).await;
    assert_eq!(
        (report.body["ok"].as_bool(), report.body["unfulfilled_purchases"].as_array().map(Vec::len)),
        (Some(false), Some(2))
    );
    // The buyer appears (say, the account was restored): the next retry credits it and clears it.
    user(&client, "nobody", None).await;
    assert_eq!(call(&client, webhook(&stranger, now_s, WHSEC)).await.body["granted"], 9);
    assert_eq!(call(&client, get("/health")).await.body["unfulfilled_purchases"], 1);
    // A 100 %-off coupon completes with no_payment_required: nothing else follows, so it grants.
    let free = stripe_event(
        "evt_9",
        "checkout.session.completed",
        json!({"id": "cs_test_6", "mode": "payment", "client_reference_id": "buyer", "payment_status": "no_payment_required", "metadata": {"credits": "10"}}),
    );
    assert_eq!(call(&client, webhook(&free, now_s, WHSEC)).await.body["granted"], 10);
    // The same status on a subscription's free trial or a setup session: nothing was paid.
    for mode in ["subscription", "setup"] {
        let trial = stripe_event(
            "evt_10",
            "checkout.session.completed",
            json!({"id": format!("cs_trial_{mode}"), "mode": mode, "client_reference_id": "buyer", "payment_status": "no_payment_required", "metadata": {"credits": "1000"}}),
        );
        assert_eq!(call(&client, webhook(&trial, now_s, WHSEC)).await.body["granted"], 0, "{mode}");
    }

    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'buyer'").await, "115");
    assert_eq!(scalar(&client, "SELECT total_credits_purchased FROM users WHERE id = 'buyer'").await, "115");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let db = TestDb::migrated("http_admin").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 0).await;
    let admin = |request: HttpRequest| bearer(request, ADMIN);
    for (path, method) in
        [("/admin/migrate", "POST"), ("/admin/verify", "GET"), ("/admin/reconcile", "GET"), ("/admin/grant", "POST")]
    {
        let request = || if method == "GET" { get(path) } else { post(path, json!({"user_id": "u1", "amount": 1})) };
        let anonymous = call(&client, request()).await;
        assert_eq!((anonymous.status, anonymous.code()), (401, "unauthenticated"), "{path}");
        let wrong = call(&client, bearer(request(), "not-the-token")).await;
        assert_eq!(wrong.status, 401, "{path}");
        let session = call(&client, bearer(request(), &token)).await;
        assert_eq!((session.status, session.code()), (403, "forbidden"), "{path}");
        let service = call(&client, bearer(request(), SERVICE)).await;
        assert_eq!((service.status, service.code()), (403, "forbidden"), "{path}: the service is not the admin");
    }
    let migrate = call(&client, admin(HttpRequest::new("POST", "/admin/migrate", "req_test", now()))).await;
    assert_eq!(
        (migrate.status, migrate.body["ok"].as_bool(), migrate.body["applied"].as_array().map(Vec::len)),
        (200, Some(true), Some(0))
    );
    let dry = call(&client, admin(post("/admin/migrate", json!({"dry_run": true})))).await;
    assert_eq!(dry.body["dry_run"], true);
    let garbage =
        call(&client, admin(post("/admin/migrate", json!({"dry_run": false})).with_query("dry_run=garbage"))).await;
    assert_eq!((garbage.status, garbage.code()), (400, "invalid_request"), "the query is validated even beside a body");
    let mixed =
        call(&client, admin(post("/admin/migrate", json!({"dry_run": false})).with_query("dry_run=true"))).await;
    assert_eq!(
        (mixed.status, mixed.body["dry_run"].as_bool()),
        (200, Some(true)),
        "a dry run asked for anywhere is a dry run"
    );
    let verify = call(&client, admin(get("/admin/verify"))).await;
    assert_eq!((verify.status, verify.body["ok"].as_bool()), (200, Some(true)));
    let grant = || {
        admin(post("/admin/grant", json!({"user_id": "u1", "amount": 25}))).with_header("idempotency-key", "grant-1")
    };
    let granted = call(&client, grant()).await;
    assert_eq!((granted.status, granted.body["balance"].as_i64()), (200, Some(25)));
    assert_eq!(call(&client, grant()).await.header("Idempotent-Replayed"), Some("true"));
    for bad in [
        json!({"amount": 5}),
        json!({"user_id": "u1", "team_id": "t", "amount": 5}),
        json!({"user_id": "u1", "amount": -5}),
    ] {
        assert_eq!(call(&client, admin(post("/admin/grant", bad))).await.status, 400);
    }
    assert_eq!(call(&client, admin(post("/admin/grant", json!({"user_id": "ghost", "amount": 5})))).await.status, 404);
    let deadline = now().plus_millis(30 * 86_400_000).to_rfc3339();
    let expiring =
        call(&client, admin(post("/admin/grant", json!({"user_id": "u1", "amount": 5, "expires_at": deadline}))));
    let expiring = expiring.await;
    assert_eq!(
        (expiring.status, expiring.body["balance"].as_i64(), expiring.body["expires_at"].as_str()),
        (200, Some(30), Some(deadline.as_str()))
    );
    assert_eq!(granted.body.get("expires_at"), None, "a grant that never expires has no expires_at");
    for past in ["2000-01-01T00:00:00Z", "soon"] {
        let refused =
            call(&client, admin(post("/admin/grant", json!({"user_id": "u1", "amount": 5, "expires_at": past}))));
        let refused = refused.await;
        assert_eq!((refused.status, refused.code()), (400, "invalid_request"), "{past}");
    }
    let reconcile = call(&client, admin(get("/admin/reconcile"))).await;
    assert_eq!((reconcile.status, reconcile.body["ok"].as_bool()), (200, Some(true)));

    let bare = TestDb::new("http_admin_bare").await;
    let bare_client = bare.client().await;
    let fresh = call(&bare_client, admin(HttpRequest::new("POST", "/admin/migrate", "req_test", now()))).await;
    let expected = fltr_credits::schema::history::migrations().len();
    assert_eq!((fresh.status, fresh.body["applied"].as_array().map(Vec::len)), (200, Some(expected)));
    assert_eq!(call(&bare_client, get("/health")).await.status, 200, "migrated through the API");
}

#[tokio::test]
async fn cors_answers_preflights_for_configured_origins_only() {
    let db = TestDb::migrated("http_cors").await;
    let client = db.client().await;
    let preflight = |origin: &str| {
        HttpRequest::new("OPTIONS", "/api/v1/credits/consume", "req_test", now()).with_header("origin", origin)
    };
    let allowed = call(&client, preflight("https://app.example")).await;
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some("https://app.example"));
    assert_eq!(allowed.header("Access-Control-Allow-Credentials"), Some("true"));
    assert!(allowed.header("Access-Control-Allow-Headers").unwrap().contains("Idempotency-Key"));
    let refused = call(&client, preflight("https://evil.example")).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_eq!(refused.header("Access-Control-Allow-Origin"), None);
    let simple = call(&client, get("/health").with_header("origin", "https://app.example")).await;
    assert_eq!(simple.header("Access-Control-Allow-Origin"), Some("https://app.example"));
    assert!(simple.header("Access-Control-Expose-Headers").unwrap().contains("Idempotent-Replayed"));
}

#[tokio::test]
async fn an_internal_error_is_500_with_a_request_id_and_no_detail() {
    let db = TestDb::migrated("http_internal").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    // A constraint the engine does not know: its violation is a bug-class failure (23514).
    client.execute("ALTER TABLE credit_transactions ADD CONSTRAINT no_sevens CHECK (amount <> -7)", &[]).await.unwrap();
    let answer = call(&client, bearer(post("/api/v1/credits/consume", consume_body(7)), &token)).await;
    assert_eq!((answer.status, answer.code()), (500, "internal"));
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("req_test") && !message.contains("no_sevens") && !message.contains("23514"), "{message}");
    assert!(answer.response.log.as_deref().unwrap_or("").contains("23514"), "the cause goes to the log");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "100");
}

/// Counts the statements a request runs: round trips are the Worker's main cost (each one crosses
/// Hyperdrive), so the common paths are held to one.
struct Counting<'a> {
    inner: Native<'a, Client>,
    statements: std::cell::Cell<usize>,
}

impl Executor for Counting<'_> {
    async fn query(&self, statement: &Statement) -> Result<Vec<fltr_credits::sql::row::Row>, DbFailure> {
        self.statements.set(self.statements.get() + 1);
        self.inner.query(statement).await
    }
}

impl BatchExecutor for Counting<'_> {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        self.statements.set(self.statements.get() + 1);
        self.inner.batch(sql).await
    }
}

#[tokio::test]
async fn a_consume_is_one_statement_for_sessions_cookies_and_keys() {
    let db = TestDb::migrated("http_round_trips").await;
    let client = db.client().await;
    let token = signed_in(&client, "u1", 100).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 100).await;
    let signed = format!("{token}.{}", sign(&token, SECRET));
    let cases: Vec<(HttpRequest, usize)> = vec![
        (bearer(post("/api/v1/credits/consume", consume_body(1)), &token), 1),
        (
            post("/api/v1/credits/consume", consume_body(1))
                .with_header("cookie", &format!("better-auth.session_token={signed}")),
            1,
        ),
        (post("/api/v1/credits/consume", consume_body(1)).with_header("x-api-key", KEY), 1),
        (bearer(post("/api/v1/credits/check", json!({"amount": 1})), &token), 1),
        (bearer(post("/api/v1/credits/consume", consume_body(1)), KEY), 2),
        (get("/health"), 1),
    ];
    for (index, (request, expected)) in cases.into_iter().enumerate() {
        let counting = Counting { inner: Native(&client), statements: std::cell::Cell::new(0) };
        let response = http::handle(&counting, &config(), &request).await;
        assert_eq!(response.status, 200, "case {index}: {:?}", response.body);
        assert_eq!(counting.statements.get(), expected, "case {index}");
    }
}

#[tokio::test]
async fn the_service_acts_for_the_account_it_names() {
    let db = TestDb::migrated("http_service").await;
    let client = db.client().await;
    let token = signed_in(&client, "owner", 0).await;
    team(&client, "t1", Some("owner")).await;
    client.execute("UPDATE users SET team_id = 't1' WHERE id = 'owner'", &[]).await.unwrap();
    fund(&client, Account::team("t1").unwrap(), 50).await;
    team(&client, "orphan", None).await;
    api_key(&client, KEY, "owner", None, Some(3), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 10).await;
    let service = |body: Value| bearer(post("/api/v1/credits/consume", body), SERVICE);
    let with = |field: &str, id: &str| {
        let mut body = consume_body(2);
        body[field] = json!(id);
        body
    };
    let by_team = call(&client, service(with("team_id", "t1"))).await;
    assert_eq!(
        (by_team.status, by_team.body["charged"]["kind"].as_str(), by_team.body["balance"].as_i64()),
        (200, Some("team"), Some(48))
    );
    assert_eq!(
        scalar(&client, "SELECT user_id FROM credit_transactions WHERE type = 'usage' AND team_id = 't1'").await,
        "owner",
        "attributed to the owner"
    );
    let by_user = call(&client, service(with("user_id", "owner"))).await;
    assert_eq!(
        (by_user.body["charged"]["kind"].as_str(), by_user.body["balance"].as_i64()),
        (Some("team"), Some(46)),
        "a member's usage draws on the team pool"
    );
    let by_key = call(&client, service(with("api_key_id", &key_id(KEY)))).await;
    assert_eq!(
        (by_key.status, by_key.body["limits"]["daily"]["used"].as_i64()),
        (200, Some(2)),
        "a key's limits still hold for the service"
    );
    assert_eq!(call(&client, service(with("api_key_id", &key_id(KEY)))).await.code(), "daily_limit_exceeded");
    for (field, id, status, code) in [
        ("team_id", "orphan", 400, "invalid_request"),
        ("team_id", "nope", 404, "not_found"),
        ("api_key_id", "key_nope_000000000", 404, "not_found"),
        ("api_key_id", "fltr_nope_000000000", 400, "invalid_request"),
        ("user_id", "nope", 404, "not_found"),
    ] {
        let answer = call(&client, service(with(field, id))).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{field}={id}");
    }
    let two = call(&client, service(json!({"amount": 1, "operation": "x", "user_id": "owner", "team_id": "t1"}))).await;
    assert_eq!((two.status, two.code()), (400, "invalid_request"));
    let check =
        call(&client, bearer(post("/api/v1/credits/check", json!({"amount": 46, "team_id": "t1"})), SERVICE)).await;
    assert_eq!((check.status, check.body["balance"].as_i64()), (200, Some(46)));
    let reads =
        call(&client, bearer(get("/api/v1/credits/transactions").with_query("team_id=t1&limit=1"), SERVICE)).await;
    assert_eq!(reads.body["transactions"].as_array().map(Vec::len), Some(1));
    let balance = call(&client, bearer(get("/api/v1/credits/balance").with_query("user_id=owner"), SERVICE)).await;
    assert_eq!(balance.body["team"]["credits"], 46);
    assert_eq!(
        call(&client, bearer(get("/api/v1/credits/balance"), SERVICE)).await.code(),
        "invalid_request",
        "the service names an account"
    );
    assert_eq!(
        call(&client, bearer(get("/api/v1/credits/balance").with_query("limt=1"), &token)).await.code(),
        "invalid_request",
        "unknown query parameter"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}
