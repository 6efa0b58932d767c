//! The adversarial suite: a threat model a reviewer can read. Each test is one attack or bad
//! input, grouped by what it targets, run through the router the Worker runs (`http::handle`)
//! against a real Postgres. Every answer must be a stable code of the contract — never a panic,
//! never a 5xx for a client's mistake — and each test ends with `reconcile` clean (every balance
//! equals its ledger). The Worker-only attacks (a chunked body past the cap under workerd, the
//! 503-then-commit race through Hyperdrive) are in tests/worker/adversarial.test.mjs.
//!
//! The eleven money-safety points of the issue that introduced this file, and where each is proved:
//!  1. refund is the service's ............ `refund::*`
//!  2. team pools for current members ..... `team_pool::*`
//!  3. check of 0 is invalid_amount ....... `check::*`
//!  4. 503 means nothing written .......... `timeouts::*` (+ Worker suite)
//!  5. no overflow into a refusal ......... `overflow::*`
//!  6. no_payment_required grants ......... `stripe::*`
//!  7. bodies capped while read ........... `bodies::*` (+ Worker suite, chunked)
//!  8. no database text to clients ........ `database_text::*`
//!  9. idempotency scoped to the account ... `idempotency::*`
//! 10. forged cursors are 400 ............. `cursors::*`
//! 11. reads scale with the caller ........ `reads_scale::*`

mod common;

use common::http::*;
use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::session::sign;
use fltr_credits::http::HttpRequest;
use serde_json::{json, Value};
use tokio_postgres::Client;

/// Every (method, path) with a body that would pass validation, for the credential sweeps.
fn every_route() -> Vec<HttpRequest> {
    vec![
        get("/api/v1/credits/balance"),
        get("/api/v1/credits/transactions"),
        post("/api/v1/credits/consume", consume_body(1)),
        post("/api/v1/credits/check", json!({"amount": 1})),
        post("/api/v1/credits/refund", json!({"transaction_id": "ctx_x"})),
        post(&format!("/api/v1/api-keys/{}/allocate", key_id(KEY)), json!({"amount": 1})),
        post("/admin/grant", json!({"user_id": "u1", "amount": 1})),
        get("/admin/reconcile"),
        get("/admin/verify"),
        post("/admin/migrate", json!({"dry_run": true})),
    ]
}

/// Ends every test: no 5xx was seen (checked per call), and the books balance.
async fn books_balance(client: &Client) {
    assert_eq!(reconcile_drift(client).await, 0, "every balance equals its ledger");
}

async fn ledger_rows(client: &Client) -> String {
    scalar(client, "SELECT count(*) FROM credit_transactions").await
}

async fn credits(client: &Client, table: &str, id: &str) -> String {
    let (column, id) = if table == "api_key_credits" { ("api_key", key_id(id)) } else { ("id", id.to_string()) };
    scalar(client, &format!("SELECT credits FROM {table} WHERE {column} = '{id}'")).await
}

/// An answer a client can act on: a documented status with a stable code, never a 5xx.
fn assert_client_error(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{what}: {}", answer.body);
}

mod refund {
    use super::*;

    /// The attack from the issue: consume 30 with a key, refund it with the same key, three times.
    #[tokio::test]
    async fn an_api_key_holder_cannot_refund_their_own_usage() {
        let db = TestDb::migrated("adv_refund_key").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 0).await;
        api_key(&client, KEY, "u1", None, Some(100), None).await;
        fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 99).await;
        for round in 0..3 {
            let usage =
                call(&client, post("/api/v1/credits/consume", consume_body(30)).with_header("x-api-key", KEY)).await;
            if round == 0 {
                assert_eq!(usage.status, 200);
            }
            let id = usage.body["transaction_id"].as_str().unwrap_or("ctx_none").to_string();
            for request in [
                post("/api/v1/credits/refund", json!({"transaction_id": id})).with_header("x-api-key", KEY),
                bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), KEY),
                bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), &token),
            ] {
                assert_client_error(&call(&client, request).await, 403, "forbidden", "self-refund");
            }
        }
        assert_eq!(credits(&client, "api_key_credits", KEY).await, "9", "three consumes of 30 stay paid");
        assert_eq!(
            scalar(
                &client,
                &format!(
                    "SELECT daily_used FROM api_key_credits WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"
                )
            )
            .await,
            "90",
            "the window is not given back"
        );
        assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'refund'").await, "0");
        books_balance(&client).await;
    }

    #[tokio::test]
    async fn the_service_refunds_once_even_when_racing() {
        let db = TestDb::migrated("adv_refund_race").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 50).await;
        let usage = call(&client, bearer(post("/api/v1/credits/consume", consume_body(20)), &token)).await;
        let id = usage.body["transaction_id"].as_str().unwrap().to_string();
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (url, id) = (db.url.clone(), id.clone());
            racers.spawn(async move {
                let client = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
                call(&client, bearer(post("/api/v1/credits/refund", json!({"transaction_id": id})), SERVICE)).await
            });
        }
        let answers: Vec<Answer> = racers.join_all().await;
        assert!(answers.iter().all(|a| a.status == 200));
        assert_eq!(answers.iter().filter(|a| a.body["replayed"] == false).count(), 1, "exactly one refund wrote");
        assert_eq!(credits(&client, "users", "u1").await, "50");
        books_balance(&client).await;
    }
}

mod team_pool {
    use super::*;

    async fn team_with_member(client: &Client) -> String {
        let token = signed_in(client, "member", 0).await;
        team(client, "t1", Some("member")).await;
        client.execute("UPDATE users SET team_id = 't1' WHERE id = 'member'", &[]).await.unwrap();
        fund(client, Account::team("t1").unwrap(), 100).await;
        api_key(client, KEY, "member", Some("t1"), None, None).await;
        token
    }

    #[tokio::test]
    async fn an_ex_member_cannot_allocate_the_old_teams_pool_into_their_key() {
        let db = TestDb::migrated("adv_team_alloc").await;
        let client = db.client().await;
        let token = team_with_member(&client).await;
        let path = format!("/api/v1/api-keys/{}/allocate", key_id(KEY));
        assert_eq!(call(&client, bearer(post(&path, json!({"amount": 10})), &token)).await.status, 200, "a member may");
        client.execute("UPDATE users SET team_id = NULL WHERE id = 'member'", &[]).await.unwrap();
        let after = call(&client, bearer(post(&path, json!({"amount": 10})), &token)).await;
        assert_client_error(&after, 403, "forbidden", "ex-member allocating");
        assert_eq!(credits(&client, "teams", "t1").await, "90");
        books_balance(&client).await;
    }

    /// Decided rule: a team key whose owner left is refused (403), not drained; its allowance
    /// stays on the key and works again if they rejoin.
    #[tokio::test]
    async fn a_team_key_whose_owner_left_is_refused_not_drained() {
        let db = TestDb::migrated("adv_team_key").await;
        let client = db.client().await;
        let token = team_with_member(&client).await;
        call(
            &client,
            bearer(post(&format!("/api/v1/api-keys/{}/allocate", key_id(KEY)), json!({"amount": 30})), &token),
        )
        .await;
        client.execute("UPDATE users SET team_id = NULL WHERE id = 'member'", &[]).await.unwrap();
        for request in
            [post("/api/v1/credits/consume", consume_body(5)), post("/api/v1/credits/check", json!({"amount": 5}))]
        {
            assert_client_error(
                &call(&client, request.with_header("x-api-key", KEY)).await,
                403,
                "forbidden",
                "ex-member's team key",
            );
        }
        assert_eq!(credits(&client, "api_key_credits", KEY).await, "30", "kept, not drained");
        // Their own session now charges their personal pool (empty), never the team's.
        let own = call(&client, bearer(post("/api/v1/credits/consume", consume_body(5)), &token)).await;
        assert_client_error(&own, 402, "insufficient_credits", "ex-member's session");
        assert_eq!(credits(&client, "teams", "t1").await, "70");
        client.execute("UPDATE users SET team_id = 't1' WHERE id = 'member'", &[]).await.unwrap();
        assert_eq!(
            call(&client, post("/api/v1/credits/consume", consume_body(5)).with_header("x-api-key", KEY)).await.status,
            200,
            "rejoined"
        );
        books_balance(&client).await;
    }
}

/// A removal from a team and a member's in-flight debit of its pool are ordered: the removal
/// waits for the debit (the member's row is locked first), never lets it land after it.
#[tokio::test]
async fn team_pool_a_removal_waits_for_an_in_flight_debit_of_the_pool() {
    let db = TestDb::migrated("adv_team_race").await;
    let client = db.client().await;
    let token = signed_in(&client, "member", 0).await;
    team(&client, "t1", Some("member")).await;
    client.execute("UPDATE users SET team_id = 't1' WHERE id = 'member'", &[]).await.unwrap();
    fund(&client, Account::team("t1").unwrap(), 100).await;
    let holder = db.client().await;
    holder.batch_execute("BEGIN; SELECT credits FROM teams WHERE id = 't1' FOR UPDATE").await.unwrap();
    let url = db.url.clone();
    let debit = tokio::spawn(async move {
        let client = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
        call(&client, bearer(post("/api/v1/credits/consume", consume_body(10)), &token)).await.status
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let url = db.url.clone();
    let removal = tokio::spawn(async move {
        let client = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
        client.execute("UPDATE users SET team_id = NULL WHERE id = 'member'", &[]).await.unwrap();
        std::time::Instant::now()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!removal.is_finished(), "the removal waits while a debit of the pool is in flight");
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(debit.await.unwrap(), 200, "the member was a member when the debit began");
    removal.await.unwrap();
    assert_eq!(credits(&client, "teams", "t1").await, "90");
    books_balance(&client).await;
}

mod check {
    use super::*;

    #[tokio::test]
    async fn a_check_of_zero_is_invalid_even_for_an_empty_account_or_an_exhausted_key() {
        let db = TestDb::migrated("adv_check").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 0).await;
        api_key(&client, KEY, "u1", None, Some(1), None).await;
        fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 5).await;
        call(&client, post("/api/v1/credits/consume", consume_body(1)).with_header("x-api-key", KEY)).await;
        for request in [
            bearer(post("/api/v1/credits/check", json!({"amount": 0})), &token),
            post("/api/v1/credits/check", json!({"amount": 0})).with_header("x-api-key", KEY),
        ] {
            assert_client_error(&call(&client, request).await, 400, "invalid_amount", "check 0");
        }
        assert_client_error(
            &call(&client, bearer(post("/api/v1/credits/check", json!({})), &token)).await,
            400,
            "invalid_request",
            "check without amount",
        );
        assert_client_error(
            &call(&client, post("/api/v1/credits/check", json!({"amount": 1})).with_header("x-api-key", KEY)).await,
            429,
            "daily_limit_exceeded",
            "exhausted key",
        );
        books_balance(&client).await;
    }
}

mod timeouts {
    use super::*;

    /// The server gives up on a row held by another session (lock_timeout), answers 503, and
    /// when the lock is released nothing commits: no ledger row, the balance unchanged.
    #[tokio::test]
    async fn a_503_behind_a_held_row_lock_never_commits_later() {
        let db = TestDb::migrated("adv_timeout").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 100).await;
        let before = ledger_rows(&client).await;
        let (holder, short) = user_row_locked_elsewhere(&db, "u1").await;
        let started = std::time::Instant::now();
        let answer = call(&short, bearer(post("/api/v1/credits/consume", consume_body(10)), &token)).await;
        assert_client_error(&answer, 503, "database_unavailable", "consume behind a lock");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "gave up at the lock timeout");
        holder.batch_execute("COMMIT").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(ledger_rows(&client).await, before, "no ledger row after the lock was released");
        assert_eq!(credits(&client, "users", "u1").await, "100");
        books_balance(&client).await;
    }

    #[tokio::test]
    async fn every_native_connection_carries_server_side_timeouts() {
        let db = TestDb::migrated("adv_timeout_defaults").await;
        let client = db.client().await;
        assert_eq!(scalar(&client, "current_setting('lock_timeout')").await, "5s");
        assert_eq!(scalar(&client, "current_setting('statement_timeout')").await, "5min");
    }
}

/// Another session holds `user`'s row (`FOR UPDATE`, transaction open); returns it and a
/// connection whose server-side lock_timeout is 300 ms (set in the URL, as an operator could).
async fn user_row_locked_elsewhere(db: &TestDb, user: &str) -> (Client, Client) {
    let holder = db.client().await;
    holder.batch_execute(&format!("BEGIN; SELECT credits FROM users WHERE id = '{user}' FOR UPDATE")).await.unwrap();
    let short =
        fltr_credits::adapters::native::database::connect(&format!("{}?options=-c%20lock_timeout%3D300ms", db.url))
            .await
            .unwrap();
    (holder, short)
}

mod overflow {
    use super::*;

    #[tokio::test]
    async fn counters_and_totals_saturate_instead_of_refusing() {
        let db = TestDb::migrated("adv_overflow").await;
        let client = db.client().await;
        signed_in(&client, "u1", 0).await;
        api_key(&client, KEY, "u1", None, None, None).await;
        fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 1000).await;
        client
            .execute(&format!("UPDATE api_key_credits SET daily_used = 2147483600, monthly_used = 2147483600, daily_window_start = date_trunc('day', now() at time zone 'utc'), monthly_window_start = date_trunc('month', now() at time zone 'utc') WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"), &[])
            .await
            .unwrap();
        let answer =
            call(&client, post("/api/v1/credits/consume", consume_body(100)).with_header("x-api-key", KEY)).await;
        assert_eq!(answer.status, 200, "an unlimited key's usage never overflows into a refusal: {}", answer.body);
        assert_eq!(
            scalar(
                &client,
                &format!(
                    "SELECT daily_used FROM api_key_credits WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"
                )
            )
            .await,
            "2147483647"
        );
        let check =
            call(&client, post("/api/v1/credits/check", json!({"amount": 100})).with_header("x-api-key", KEY)).await;
        assert_eq!(check.status, 200);

        client.execute("UPDATE users SET total_credits_purchased = 2147483600 WHERE id = 'u1'", &[]).await.unwrap();
        let paid = stripe_session_event("evt_o1", "cs_o1", "u1", "100");
        assert_eq!(call(&client, webhook(&paid, now().unix_seconds(), WHSEC)).await.body["granted"], 100);
        assert_eq!(scalar(&client, "SELECT total_credits_purchased FROM users WHERE id = 'u1'").await, "2147483647");
        books_balance(&client).await;
    }

    #[tokio::test]
    async fn a_balance_that_would_leave_the_integer_range_is_refused_whole_and_a_purchase_retried() {
        let db = TestDb::migrated("adv_overflow_balance").await;
        let client = db.client().await;
        signed_in(&client, "u1", 2147483600).await;
        let grant = call(&client, bearer(post("/admin/grant", json!({"user_id": "u1", "amount": 100})), ADMIN)).await;
        assert_client_error(&grant, 400, "invalid_amount", "grant past the integer range");
        assert!(!grant.body.to_string().contains("out of range for type"), "our sentence, not Postgres'");
        let paid = stripe_session_event("evt_o2", "cs_o2", "u1", "100");
        let answer = call(&client, webhook(&paid, now().unix_seconds(), WHSEC)).await;
        assert_client_error(&answer, 500, "purchase_not_credited", "purchase past the integer range (Stripe retries)");
        assert_eq!(
            scalar(&client, "SELECT reason FROM credit_unfulfilled_purchases WHERE payment_id = 'cs_o2'").await,
            "out_of_range"
        );
        assert_eq!(credits(&client, "users", "u1").await, "2147483600");
        books_balance(&client).await;
    }
}

fn stripe_session_event(event: &str, session: &str, user: &str, credits: &str) -> Vec<u8> {
    let body = json!({"id": event, "object": "event", "type": "checkout.session.completed", "data": {"object": {
        "id": session, "object": "checkout.session", "client_reference_id": user, "payment_status": "paid", "metadata": {"credits": credits}}}});
    serde_json::to_vec(&body).unwrap()
}

mod stripe {
    use super::*;

    #[tokio::test]
    async fn replayed_and_reordered_events_grant_once_and_free_checkouts_grant() {
        let db = TestDb::migrated("adv_stripe").await;
        let client = db.client().await;
        signed_in(&client, "buyer", 0).await;
        let now_s = now().unix_seconds();
        let paid = stripe_session_event("evt_1", "cs_1", "buyer", "40");
        for _ in 0..3 {
            assert_eq!(call(&client, webhook(&paid, now_s, WHSEC)).await.status, 200);
        }
        let free = |mode: &str, session: &str| {
            serde_json::to_vec(&json!({"id": format!("evt_{session}"), "type": "checkout.session.completed", "data": {"object": {
                "id": session, "mode": mode, "client_reference_id": "buyer", "payment_status": "no_payment_required", "metadata": {"credits": "60"}}}}))
            .unwrap()
        };
        assert_eq!(call(&client, webhook(&free("payment", "cs_2"), now_s, WHSEC)).await.body["granted"], 60);
        // A free trial is not a purchase: cancelling before it ends must not keep credits.
        assert_eq!(call(&client, webhook(&free("subscription", "cs_3"), now_s, WHSEC)).await.body["granted"], 0);
        // The same event signed with another secret, or replayed after the tolerance: refused.
        assert_client_error(
            &call(&client, webhook(&paid, now_s, "whsec_other")).await,
            400,
            "invalid_signature",
            "foreign secret",
        );
        assert_client_error(
            &call(&client, webhook(&paid, now_s - 3600, WHSEC)).await,
            400,
            "invalid_signature",
            "replayed an hour later",
        );
        assert_eq!(credits(&client, "users", "buyer").await, "100");
        books_balance(&client).await;
    }
}

mod bodies {
    use super::*;

    #[tokio::test]
    async fn oversized_malformed_and_mistyped_bodies_get_stable_codes() {
        let db = TestDb::migrated("adv_bodies").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 10).await;
        let consume = |body: Vec<u8>, media: &str| {
            bearer(
                HttpRequest::new("POST", "/api/v1/credits/consume", "req_test", now())
                    .with_header("content-type", media)
                    .with_body(body),
                &token,
            )
        };
        let huge = format!(r#"{{"amount": 1, "operation": "x", "metadata": {{"pad": "{}"}}}}"#, "a".repeat(200_000));
        let cases: Vec<(HttpRequest, u16, &str)> = vec![
            (consume(huge.into_bytes(), "application/json"), 413, "payload_too_large"),
            (consume(b"{\"amount\": 1,".to_vec(), "application/json"), 400, "invalid_request"),
            (consume(b"[1, 2]".to_vec(), "application/json"), 400, "invalid_request"),
            (consume(b"\"just a string\"".to_vec(), "application/json"), 400, "invalid_request"),
            (consume(vec![0xff, 0xfe, 0x00], "application/json"), 400, "invalid_request"),
            (consume(b"amount=1".to_vec(), "application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
            (
                consume(br#"{"amount": 1, "operation": "x", "ammount": 5}"#.to_vec(), "application/json"),
                400,
                "invalid_request",
            ),
            (consume(br#"{"amount": 1, "amount": 2, "operation": "x"}"#.to_vec(), "application/json"), 200, ""),
        ];
        for (request, status, code) in cases {
            let answer = call(&client, request).await;
            assert_eq!(answer.status, status, "{}", answer.body);
            if !code.is_empty() {
                assert_eq!(answer.code(), code);
            }
        }
        books_balance(&client).await;
    }
}

mod database_text {
    use super::*;

    fn leaks(body: &Value) -> bool {
        let text = body.to_string().to_lowercase();
        [
            "relation",
            "credit_idempotency_keys",
            "lock timeout",
            "canceling statement",
            "permission denied",
            "select ",
            "sqlstate",
        ]
        .iter()
        .any(|word| text.contains(word))
    }

    #[tokio::test]
    async fn postgres_messages_go_to_the_log_not_the_body() {
        let db = TestDb::migrated("adv_db_text").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 10).await;
        // A lock timeout (55P03) and a missing table (42P01): the body says what to do, the log
        // keeps Postgres' words with the request id.
        let (holder, short) = user_row_locked_elsewhere(&db, "u1").await;
        let locked = call(&short, bearer(post("/api/v1/credits/consume", consume_body(1)), &token)).await;
        assert_eq!(locked.status, 503);
        assert!(!leaks(&locked.body), "{}", locked.body);
        assert!(
            locked.response.log.as_deref().is_some_and(|log| log.contains("lock timeout")),
            "the operator's log has it"
        );
        holder.batch_execute("ROLLBACK").await.unwrap();

        client.batch_execute("DROP TABLE credit_idempotency_keys").await.unwrap();
        let missing = call(
            &client,
            bearer(post("/api/v1/credits/consume", consume_body(1)), &token).with_header("idempotency-key", "k1"),
        )
        .await;
        assert_client_error(&missing, 503, "schema_not_ready", "dropped table");
        assert!(!leaks(&missing.body), "{}", missing.body);
        assert_eq!(missing.body["error"]["request_id"], "req_test", "the body names the request id to quote");
    }
}

mod idempotency {
    use super::*;

    /// The attack from the issue: the same consume with the same key from a second session.
    #[tokio::test]
    async fn a_retry_from_another_session_or_the_service_gets_the_replay() {
        let db = TestDb::migrated("adv_idem_sessions").await;
        let client = db.client().await;
        let first = signed_in(&client, "u1", 100).await;
        client
            .execute("INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s2', (now() at time zone 'utc') + interval '1 day', 'tok_second_device', now(), 'u1')", &[])
            .await
            .unwrap();
        let request = |token: &str| {
            bearer(post("/api/v1/credits/consume", consume_body(10)), token).with_header("idempotency-key", "job-1")
        };
        let original = call(&client, request(&first)).await;
        let second = call(&client, request("tok_second_device")).await;
        assert_eq!((second.status, second.body["replayed"].as_bool()), (200, Some(true)), "{}", second.body);
        assert_eq!(second.body["transaction_id"], original.body["transaction_id"]);
        let mut service_body = consume_body(10);
        service_body["user_id"] = json!("u1");
        let by_service = call(
            &client,
            bearer(post("/api/v1/credits/consume", service_body), SERVICE).with_header("idempotency-key", "job-1"),
        )
        .await;
        assert_eq!(by_service.body["replayed"], true, "the backend retrying for the user gets the replay too");
        assert_eq!(credits(&client, "users", "u1").await, "90", "charged once");
        books_balance(&client).await;
    }

    /// Another member reusing a key on the shared pool gets a conflict, never a free replay.
    #[tokio::test]
    async fn another_member_cannot_ride_on_a_members_idempotency_key() {
        let db = TestDb::migrated("adv_idem_team").await;
        let client = db.client().await;
        let alice = signed_in(&client, "alice", 0).await;
        let bob = signed_in(&client, "bob", 0).await;
        team(&client, "t1", Some("alice")).await;
        client.execute("UPDATE users SET team_id = 't1'", &[]).await.unwrap();
        fund(&client, Account::team("t1").unwrap(), 100).await;
        let request = |token: &str| {
            bearer(post("/api/v1/credits/consume", consume_body(10)), token).with_header("idempotency-key", "shared-1")
        };
        assert_eq!(call(&client, request(&alice)).await.status, 200);
        assert_client_error(
            &call(&client, request(&bob)).await,
            409,
            "idempotency_conflict",
            "bob reusing alice's key",
        );
        assert_eq!(credits(&client, "teams", "t1").await, "90");
        books_balance(&client).await;
    }

    #[tokio::test]
    async fn an_allocate_replay_checks_ownership_first() {
        let db = TestDb::migrated("adv_idem_alloc").await;
        let client = db.client().await;
        let owner = signed_in(&client, "u1", 100).await;
        let stranger = signed_in(&client, "u2", 100).await;
        api_key(&client, KEY, "u1", None, None, None).await;
        let path = format!("/api/v1/api-keys/{}/allocate", key_id(KEY));
        let request =
            |token: &str| bearer(post(&path, json!({"amount": 30})), token).with_header("idempotency-key", "alloc-1");
        assert_eq!(call(&client, request(&owner)).await.status, 200);
        let probe = call(&client, request(&stranger)).await;
        assert_client_error(&probe, 404, "not_found", "stranger replaying the owner's allocate");
        assert!(probe.body.get("balance").is_none());
        books_balance(&client).await;
    }

    /// Inside the caller's own transaction (the npm package with a pg Client after BEGIN) an
    /// identical request committing first cannot be replayed there: it is `idempotency_conflict`
    /// (roll back and retry), never `internal`.
    #[tokio::test]
    async fn a_race_inside_the_callers_transaction_is_a_conflict_not_internal() {
        use fltr_credits::engine::Engine;
        use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
        let db = TestDb::migrated("adv_idem_tx").await;
        let client = db.client().await;
        signed_in(&client, "u1", 100).await;
        let (a, b) = (db.client().await, db.client().await);
        let request = ConsumeRequest {
            payer: Payer::User("u1".into()),
            amount: fltr_credits::core::validate::Amount::new(10).unwrap(),
            operation: fltr_credits::core::validate::Operation::new("job").unwrap(),
            resource_id: None,
            metadata: None,
            idempotency_key: Some("tx-1".into()),
        };
        a.batch_execute("BEGIN").await.unwrap();
        b.batch_execute("BEGIN").await.unwrap();
        Engine::new(Native(&a)).consume(&request, now()).await.unwrap();
        let racing = {
            let request = request.clone();
            let b = &b;
            async move { Engine::new(Native(b)).consume(&request, now()).await }
        };
        let commit = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            a.batch_execute("COMMIT").await.unwrap();
        };
        let (outcome, ()) = tokio::join!(racing, commit);
        assert_eq!(outcome.unwrap_err().code(), "idempotency_conflict");
        b.batch_execute("ROLLBACK").await.unwrap();
        let retried = Engine::new(Native(&b)).consume(&request, now()).await.unwrap();
        assert!(retried.replayed, "after rolling back, the retry gets the replay");
        assert_eq!(credits(&client, "users", "u1").await, "90");
        books_balance(&client).await;
    }
}

mod cursors {
    use super::*;

    #[tokio::test]
    async fn forged_cursors_are_400_never_500() {
        let db = TestDb::migrated("adv_cursor").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 10).await;
        let hex = |plain: &str| plain.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let forged = [
            hex("9223372036854775807:ctx_1"),
            hex("-62135596800000001:ctx_1"),
            hex("1764000000000000:ctx\u{0}1"),
            hex("1764000000000000"),
            hex("abc:ctx"),
            "ab".repeat(513),
            "%00".to_string(),
            "0".to_string(),
        ];
        for cursor in forged {
            let answer = call(
                &client,
                bearer(get("/api/v1/credits/transactions").with_query(&format!("cursor={cursor}")), &token),
            )
            .await;
            assert_client_error(&answer, 400, "invalid_request", &cursor);
        }
    }
}

mod reads_scale {
    use super::*;
    use fltr_credits::core::session::Credential;
    use fltr_credits::core::time::Timestamp;
    use fltr_credits::core::validate::{Amount, Operation};
    use fltr_credits::sql::ops::{allocate, balance, check, consume, principal, transactions};
    use fltr_credits::sql::Statement;

    /// Every statement a request runs, for the caller `u1` (key `KEY`, session `tok_u1`).
    fn per_request_statements(now: Timestamp) -> Vec<(&'static str, Statement)> {
        let amount = Amount::new(1).unwrap();
        let charge = |payer| consume::ConsumeRequest {
            payer,
            amount,
            operation: Operation::new("x").unwrap(),
            resource_id: None,
            metadata: None,
            idempotency_key: Some("k".into()),
        };
        let user = Account::user("u1").unwrap();
        let key = Account::api_key(&key_id(KEY)).unwrap();
        vec![
            ("principal", principal::plan(&Credential::Bearer("tok_u1".into()), now)),
            ("balance of a user", balance::plan(&user, now)),
            ("balance of a key", balance::plan(&key, now)),
            ("consume by session", consume::plan(&charge(consume::Payer::Session("tok_u1".into())), now)),
            ("consume by key", consume::plan(&charge(consume::Payer::ApiKey(KeyRef::secret(KEY))), now)),
            ("check by session", check::plan(&consume::Payer::Session("tok_u1".into()), amount, now)),
            ("check by key", check::plan(&consume::Payer::ApiKey(KeyRef::secret(KEY)), amount, now)),
            (
                "allocate (403/404 path: someone else's key)",
                allocate::plan(
                    &allocate::AllocateRequest {
                        api_key: "fltr_bulk_key_7".into(),
                        amount,
                        idempotency_key: Some("k".into()),
                        owner: Some("u1".into()),
                    },
                    now,
                ),
            ),
            ("transactions", transactions::plan(&user, 50, None)),
        ]
    }

    /// 100 000 other users' keys: every per-request statement plans on indexes (no sequential
    /// scan of a growing table), and a balance read stays within 2× of one on an empty table.
    #[tokio::test]
    async fn per_request_reads_use_indexes_with_100_000_other_keys() {
        let empty = TestDb::migrated("adv_scale_empty").await;
        let empty_client = empty.client().await;
        signed_in(&empty_client, "u1", 10).await;
        api_key(&empty_client, KEY, "u1", None, None, None).await;

        let db = TestDb::migrated("adv_scale").await;
        let client = db.client().await;
        signed_in(&client, "u1", 10).await;
        api_key(&client, KEY, "u1", None, None, None).await;
        client
            .batch_execute(
                "INSERT INTO users (id, name, email) SELECT 'bulk_' || g, 'b', 'bulk_' || g || '@example.com' FROM generate_series(1, 1000) g;
                 INSERT INTO api_key_credits (api_key, user_id, created_at, updated_at)
                   SELECT 'fltr_bulk_key_' || g, 'bulk_' || (g % 1000 + 1), now(), now() FROM generate_series(1, 100000) g;
                 ANALYZE",
            )
            .await
            .unwrap();
        for (name, statement) in per_request_statements(now()) {
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                statement.params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            let types = vec![tokio_postgres::types::Type::TEXT; params.len()];
            let explain = client.prepare_typed(&format!("EXPLAIN {}", statement.sql), &types).await.unwrap();
            let plan: Vec<String> =
                client.query(&explain, &params).await.unwrap().iter().map(|row| row.get(0)).collect();
            let plan = plan.join("\n");
            assert!(
                !plan.contains("Seq Scan on api_key_credits") && !plan.contains("Seq Scan on users"),
                "{name} scans a table:\n{plan}"
            );
        }
        let (baseline, loaded) = (median_balance_read(&empty_client).await, median_balance_read(&client).await);
        let floor = std::time::Duration::from_millis(1);
        assert!(loaded <= 2 * baseline.max(floor), "balance with 100 000 keys took {loaded:?}, empty {baseline:?}");
    }
}

async fn median_balance_read(client: &Client) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..41 {
        let started = std::time::Instant::now();
        assert_eq!(call(client, bearer(get("/api/v1/credits/balance"), "tok_u1")).await.status, 200);
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

mod credentials {
    use super::*;

    /// Forged, expired, unknown and foreign credentials on every route: 401 (or 403 for a valid
    /// end user on a service or admin route), never 5xx, nothing written.
    #[tokio::test]
    async fn forged_expired_and_unknown_credentials_on_every_route() {
        let db = TestDb::migrated("adv_credentials").await;
        let client = db.client().await;
        signed_in(&client, "u1", 10).await;
        api_key(&client, KEY, "u1", None, None, None).await;
        client
            .execute("INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('old', (now() at time zone 'utc') - interval '1 minute', 'tok_expired', now(), 'u1')", &[])
            .await
            .unwrap();
        let forged_cookie = format!("better-auth.session_token=tok_u1.{}", sign("tok_u1", "not-the-secret"))
            .replace('=', "%3D")
            .replacen("%3D", "=", 1);
        let before = ledger_rows(&client).await;
        type Presents = Box<dyn Fn(HttpRequest) -> HttpRequest>;
        let attempts: Vec<(&str, Presents)> = vec![
            ("none", Box::new(|r| r)),
            ("expired session", Box::new(|r| bearer(r, "tok_expired"))),
            ("unknown bearer", Box::new(|r| bearer(r, "fltr_guess_0000000000"))),
            ("unknown x-api-key", Box::new(|r| r.with_header("x-api-key", "fltr_guess_0000000000"))),
            ("forged cookie", Box::new(move |r| r.with_header("cookie", &forged_cookie))),
            ("basic auth", Box::new(|r| r.with_header("authorization", "Basic dTE6cGFzcw=="))),
            ("empty bearer", Box::new(|r| r.with_header("authorization", "Bearer "))),
            ("service token as api key", Box::new(|r| r.with_header("x-api-key", SERVICE))),
        ];
        for (label, credential) in &attempts {
            for route in every_route() {
                let path = format!("{} {}", route.method, route.path);
                let answer = call(&client, credential(route)).await;
                assert_client_error(&answer, 401, "unauthenticated", &format!("{label} on {path}"));
            }
        }
        assert_eq!(ledger_rows(&client).await, before);
        books_balance(&client).await;
    }
}

mod foreign_ids {
    use super::*;

    /// Another user's ids in every path and body field: 404 for ids (cannot be probed), 403 for
    /// an end user naming any account, nothing changes.
    #[tokio::test]
    async fn another_users_ids_in_paths_bodies_and_queries() {
        let db = TestDb::migrated("adv_foreign").await;
        let client = db.client().await;
        let mallory = signed_in(&client, "mallory", 5).await;
        let victim = signed_in(&client, "victim", 100).await;
        api_key(&client, KEY, "victim", None, None, None).await;
        let usage = call(&client, bearer(post("/api/v1/credits/consume", consume_body(10)), &victim)).await;
        let victims_tx = usage.body["transaction_id"].as_str().unwrap().to_string();
        let with = |mut body: Value, field: &str, value: &str| {
            body[field] = json!(value);
            body
        };
        let cases: Vec<(HttpRequest, u16, &str)> = vec![
            (post(&format!("/api/v1/api-keys/{}/allocate", key_id(KEY)), json!({"amount": 1})), 404, "not_found"),
            (post("/api/v1/credits/consume", with(consume_body(1), "user_id", "victim")), 403, "forbidden"),
            (post("/api/v1/credits/consume", with(consume_body(1), "api_key_id", &key_id(KEY))), 403, "forbidden"),
            (post("/api/v1/credits/check", json!({"amount": 1, "team_id": "t1"})), 403, "forbidden"),
            (get("/api/v1/credits/balance").with_query("user_id=victim"), 403, "forbidden"),
            (get("/api/v1/credits/transactions").with_query(&format!("api_key_id={}", key_id(KEY))), 403, "forbidden"),
            (post("/api/v1/credits/refund", json!({"transaction_id": victims_tx})), 403, "forbidden"),
            (post("/admin/grant", json!({"user_id": "mallory", "amount": 1000})), 403, "forbidden"),
        ];
        for (request, status, code) in cases {
            let what = format!("{} {}", request.method, request.path);
            assert_client_error(&call(&client, bearer(request, &mallory)).await, status, code, &what);
        }
        assert_eq!(
            (credits(&client, "users", "victim").await, credits(&client, "users", "mallory").await),
            ("90".into(), "5".into())
        );
        books_balance(&client).await;
    }
}

mod hostile_strings {
    use super::*;

    #[tokio::test]
    async fn nul_rtl_and_megabyte_strings_are_refused_or_stored_faithfully() {
        let db = TestDb::migrated("adv_strings").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 100).await;
        let megabyte = "o".repeat(1 << 20);
        let refused: Vec<(Value, u16, &str)> = vec![
            (json!({"amount": 1, "operation": "doc\u{0}process"}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": "doc\u{202e}process"}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": megabyte}), 413, "payload_too_large"),
            (json!({"amount": 1, "operation": "o".repeat(65)}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": ""}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": "x", "resource_id": "doc\u{0}1"}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": "x", "resource_id": "r".repeat(256)}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": "x", "metadata": {"pad": "m".repeat(5000)}}), 400, "invalid_request"),
            (json!({"amount": 1, "operation": "x", "metadata": "not an object"}), 400, "invalid_request"),
        ];
        for (body, status, code) in refused {
            let shown: String = body.to_string().chars().take(80).collect();
            assert_client_error(
                &call(&client, bearer(post("/api/v1/credits/consume", body), &token)).await,
                status,
                code,
                &shown,
            );
        }
        for key in ["k\u{0}1", "\u{202e}k", &"k".repeat(256)] {
            let answer = call(
                &client,
                bearer(post("/api/v1/credits/consume", consume_body(1)), &token).with_header("idempotency-key", key),
            )
            .await;
            assert_client_error(&answer, 400, "invalid_request", "hostile idempotency key");
        }
        // Right-to-left marks and an escaped NUL inside metadata are data (a JSON text column),
        // stored and returned as sent.
        let metadata = json!({"title": "\u{202e}fdp.exe", "nul": "a\u{0}b"});
        let stored = call(
            &client,
            bearer(
                post("/api/v1/credits/consume", json!({"amount": 1, "operation": "x", "metadata": metadata})),
                &token,
            ),
        )
        .await;
        assert_eq!(stored.status, 200);
        let page = call(&client, bearer(get("/api/v1/credits/transactions").with_query("limit=1"), &token)).await;
        assert_eq!(page.body["transactions"][0]["metadata"], metadata);
        assert_eq!(credits(&client, "users", "u1").await, "99");
        books_balance(&client).await;
    }
}

mod integer_edges {
    use super::*;

    #[tokio::test]
    async fn amounts_at_and_past_every_edge() {
        let db = TestDb::migrated("adv_integers").await;
        let client = db.client().await;
        let token = signed_in(&client, "u1", 100).await;
        let cases: Vec<(Value, u16, &str)> = vec![
            (json!(0), 400, "invalid_amount"),
            (json!(-1), 400, "invalid_amount"),
            (json!(2147483647), 402, "insufficient_credits"),
            (json!(2147483648_i64), 400, "invalid_amount"),
            (json!(9223372036854775807_i64), 400, "invalid_amount"),
            (json!(18446744073709551615_u64), 400, "invalid_amount"),
            // 1e3 and 100.0 are the integers 1000 and 100 to JSON (and to JSON Schema).
            (serde_json::from_str::<Value>("1e3").unwrap(), 402, "insufficient_credits"),
            (serde_json::from_str::<Value>("2147483648.0").unwrap(), 400, "invalid_amount"),
            (serde_json::from_str::<Value>("1e300").unwrap(), 400, "invalid_amount"),
            (serde_json::from_str::<Value>("-0.0").unwrap(), 400, "invalid_amount"),
            (json!(5.5), 400, "invalid_amount"),
            (json!("5"), 400, "invalid_amount"),
            (json!(true), 400, "invalid_amount"),
            (Value::Null, 400, "invalid_request"),
            (json!([5]), 400, "invalid_amount"),
        ];
        for route in ["/api/v1/credits/consume", "/api/v1/credits/check"] {
            for (amount, status, code) in &cases {
                let answer =
                    call(&client, bearer(post(route, json!({"amount": amount, "operation": "x"})), &token)).await;
                assert_client_error(&answer, *status, code, &format!("{route} amount {amount}"));
            }
        }
        let grant =
            call(&client, bearer(post("/admin/grant", json!({"user_id": "u1", "amount": 2147483648_i64})), ADMIN))
                .await;
        assert_client_error(&grant, 400, "invalid_amount", "grant 2^31");
        assert_eq!(credits(&client, "users", "u1").await, "100");
        books_balance(&client).await;
    }
}

/// API.md scopes idempotency keys to the account and the operation: the key holder's consume and
/// the owner's allocate (or an admin grant) under one key do not collide.
#[tokio::test]
async fn idempotency_keys_of_different_operations_on_one_account_do_not_collide() {
    let db = TestDb::migrated("adv_idem_ops").await;
    let client = db.client().await;
    let owner = signed_in(&client, "u1", 100).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 10).await;
    let consume = call(
        &client,
        post("/api/v1/credits/consume", consume_body(1))
            .with_header("x-api-key", KEY)
            .with_header("idempotency-key", "K1"),
    )
    .await;
    assert_eq!(consume.status, 200);
    let allocate = call(
        &client,
        bearer(post(&format!("/api/v1/api-keys/{}/allocate", key_id(KEY)), json!({"amount": 5})), &owner)
            .with_header("idempotency-key", "K1"),
    )
    .await;
    assert_eq!((allocate.status, allocate.body["replayed"].as_bool()), (200, Some(false)), "{}", allocate.body);
    let grant = call(
        &client,
        bearer(post("/admin/grant", json!({"api_key_id": key_id(KEY), "amount": 3})), ADMIN)
            .with_header("idempotency-key", "K1"),
    )
    .await;
    assert_eq!((grant.status, grant.body["replayed"].as_bool()), (200, Some(false)), "{}", grant.body);
    for _ in 0..2 {
        let again = call(
            &client,
            bearer(post(&format!("/api/v1/api-keys/{}/allocate", key_id(KEY)), json!({"amount": 5})), &owner)
                .with_header("idempotency-key", "K1"),
        )
        .await;
        assert_eq!(again.body["replayed"], true);
    }
    assert_eq!(credits(&client, "api_key_credits", KEY).await, "17");
    // A record stored before keys were scoped by operation (bare `K1`) still replays its grant.
    client.batch_execute("DELETE FROM credit_idempotency_keys WHERE idempotency_key = 'K1'; UPDATE credit_idempotency_keys SET idempotency_key = 'K1' WHERE idempotency_key = 'grant:K1'").await.unwrap();
    let legacy = call(
        &client,
        bearer(post("/admin/grant", json!({"api_key_id": key_id(KEY), "amount": 3})), ADMIN)
            .with_header("idempotency-key", "K1"),
    )
    .await;
    assert_eq!(legacy.body["replayed"], true, "{}", legacy.body);
    assert_eq!(credits(&client, "api_key_credits", KEY).await, "17");
    books_balance(&client).await;
}
