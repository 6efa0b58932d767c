//! Holds through the router (the Worker runs the same `http::handle`), on a real Postgres: who may
//! open, capture, release and read a hold (API.md "Who may do what"), and the answers' shapes.

mod common;

use common::http::*;
use common::*;
use fltr_credits::core::account::Account;
use serde_json::json;

const HOLDS: &str = "/api/v1/credits/holds";

#[tokio::test]
async fn a_session_holds_and_captures_its_own_and_only_the_service_releases() {
    let db = TestDb::migrated("holds_http").await;
    let client = db.client().await;
    let alice = signed_in(&client, "alice", 100).await;
    let bob = signed_in(&client, "bob", 100).await;

    let body = json!({"amount": 60, "operation": "document.process", "resource_id": "doc_1", "ttl_seconds": 600});
    let opened = call(&client, bearer(post(HOLDS, body.clone()), &alice)).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    assert_eq!((opened.body["balance"].as_i64(), opened.body["available"].as_i64()), (Some(100), Some(40)));
    let id = opened.body["hold_id"].as_str().unwrap().to_string();
    // The same request under one idempotency key, from another request: one hold, replayed (200).
    let rest = json!({"amount": 40, "operation": "document.process"});
    let keyed = |token: &str| bearer(post(HOLDS, rest.clone()), token).with_header("idempotency-key", "job-7");
    let first = call(&client, keyed(&alice)).await;
    let again = call(&client, keyed(&alice)).await;
    assert_eq!((first.status, again.status), (201, 200));
    assert_eq!(again.body["hold_id"], first.body["hold_id"]);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    let second = first.body["hold_id"].as_str().unwrap().to_string();

    // Consume sees only what is available; the balance shows it.
    let consume =
        call(&client, bearer(post("/api/v1/credits/consume", json!({"amount": 1, "operation": "x"})), &alice)).await;
    assert_eq!(
        (consume.status, consume.code(), consume.body["error"]["available"].as_i64()),
        (402, "insufficient_credits", Some(0))
    );
    let balance = call(&client, bearer(get("/api/v1/credits/balance"), &alice)).await;
    assert_eq!(
        (balance.body["user"]["credits"].as_i64(), balance.body["user"]["available"].as_i64()),
        (Some(100), Some(0))
    );

    // Bob cannot read, capture or release Alice's hold: 404 (nothing to probe), 403 for release.
    let path = |action: &str| format!("{HOLDS}/{id}{action}");
    assert_eq!(call(&client, bearer(get(&path("")), &bob)).await.status, 404);
    assert_eq!(call(&client, bearer(post(&path("/capture"), json!({})), &bob)).await.status, 404);
    let release_by_user = call(&client, bearer(post(&path("/release"), json!({})), &alice)).await;
    assert_eq!((release_by_user.status, release_by_user.code()), (403, "forbidden"));

    // Capture 42 of 60: a consume-shaped answer with one usage row.
    let captured = call(&client, bearer(post(&path("/capture"), json!({"amount": 42})), &alice)).await;
    assert_eq!(captured.status, 200, "{}", captured.body);
    assert_eq!(
        (captured.body["amount"].as_i64(), captured.body["released"].as_i64(), captured.body["balance"].as_i64()),
        (Some(42), Some(18), Some(58))
    );
    assert!(captured.body["transaction_id"].as_str().unwrap().starts_with("ctx_"));
    let closed = call(&client, bearer(post(&path("/capture"), json!({})), &alice)).await;
    assert_eq!(
        (closed.status, closed.code(), closed.body["error"]["state"].as_str()),
        (409, "hold_closed", Some("captured"))
    );
    let read = call(&client, bearer(get(&path("")), &alice)).await;
    assert_eq!((read.body["state"].as_str(), read.body["captured"].as_i64()), (Some("captured"), Some(42)));

    // The service releases the other hold; capture more than held is 400; bad ids are 404.
    let over = call(&client, bearer(post(&format!("{HOLDS}/{second}/capture"), json!({"amount": 41})), &alice)).await;
    assert_eq!((over.status, over.code()), (400, "invalid_amount"));
    let released = call(&client, bearer(post(&format!("{HOLDS}/{second}/release"), json!({})), SERVICE)).await;
    assert_eq!(
        (released.status, released.body["released"].as_i64(), released.body["available"].as_i64()),
        (200, Some(40), Some(58))
    );
    assert_eq!(call(&client, bearer(get(&format!("{HOLDS}/hold_x")), &alice)).await.status, 404);
    assert_eq!(call(&client, bearer(get(&format!("{HOLDS}/ctx_{}", "0".repeat(32))), SERVICE)).await.status, 404);

    // Input errors: ttl out of range, unknown field, amount 0 on open, no credential.
    for (bad, code) in [
        (json!({"amount": 1, "operation": "x", "ttl_seconds": 0}), "invalid_request"),
        (json!({"amount": 1, "operation": "x", "ttl_seconds": 86_401}), "invalid_request"),
        (json!({"amount": 1, "operation": "x", "ttl": 5}), "invalid_request"),
        (json!({"amount": 0, "operation": "x"}), "invalid_amount"),
    ] {
        assert_eq!(call(&client, bearer(post(HOLDS, bad.clone()), &alice)).await.code(), code, "{bad}");
    }
    assert_eq!(call(&client, post(HOLDS, json!({"amount": 1, "operation": "x"}))).await.status, 401);
    // An end user may not name an account; the service must.
    let named =
        call(&client, bearer(post(HOLDS, json!({"amount": 1, "operation": "x", "user_id": "bob"})), &alice)).await;
    assert_eq!(named.status, 403);
    let for_bob =
        call(&client, bearer(post(HOLDS, json!({"amount": 5, "operation": "x", "user_id": "bob"})), SERVICE)).await;
    assert_eq!((for_bob.status, for_bob.body["charged"]["id"].as_str()), (201, Some("bob")));
    // A hold the service opened is the service's to close: Bob capturing it at 0 before the
    // backend charges would decide his own cost.
    let bobs = for_bob.body["hold_id"].as_str().unwrap();
    let front_run = call(&client, bearer(post(&format!("{HOLDS}/{bobs}/capture"), json!({"amount": 0})), &bob)).await;
    assert_eq!(front_run.status, 404);
    let charged = call(&client, bearer(post(&format!("{HOLDS}/{bobs}/capture"), json!({})), SERVICE)).await;
    assert_eq!((charged.status, charged.body["amount"].as_i64()), (200, Some(5)));
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn an_api_key_captures_the_holds_it_made_and_sweep_is_admin_only() {
    let db = TestDb::migrated("holds_http_key").await;
    let client = db.client().await;
    let alice = signed_in(&client, "alice", 0).await;
    api_key(&client, KEY, "alice", None, Some(100), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 500).await;
    let opened =
        call(&client, post(HOLDS, json!({"amount": 80, "operation": "llm.call"})).with_header("x-api-key", KEY)).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    assert_eq!(opened.header("X-RateLimit-Remaining"), Some("20"));
    let id = opened.body["hold_id"].as_str().unwrap().to_string();
    // Alice's session did not make it (her key did): 404 for her, like any hold not hers.
    assert_eq!(call(&client, bearer(post(&format!("{HOLDS}/{id}/capture"), json!({})), &alice)).await.status, 404);
    let captured =
        call(&client, post(&format!("{HOLDS}/{id}/capture"), json!({"amount": 30})).with_header("x-api-key", KEY))
            .await;
    assert_eq!(captured.status, 200, "{}", captured.body);
    assert_eq!(captured.body["limits"]["daily"]["used"].as_i64(), Some(30));
    assert_eq!(captured.header("X-RateLimit-Remaining"), Some("70"));

    let sweep = |token: &str| bearer(post("/admin/sweep", json!({})), token);
    assert_eq!(call(&client, sweep(&alice)).await.status, 403);
    assert_eq!(call(&client, sweep(SERVICE)).await.status, 403);
    let swept = call(&client, sweep(ADMIN)).await;
    assert_eq!((swept.status, swept.body["expired_holds"].as_i64()), (200, Some(0)));
}
