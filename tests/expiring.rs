//! Expiring credits (API.md "Expiring credits") on a real Postgres: blocks are spent soonest
//! first and never-expiring credits last, a block stops being spendable at its deadline by itself,
//! one `expiration` row per block records what was left, refunds and releases go back to the block
//! they came from (and expire with it), and reconcile stays clean — also under 64 connections
//! consuming across a deadline.

mod common;

use common::holds::*;
use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::Amount;
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::consume::Payer;
use fltr_credits::sql::ops::grant::GrantRequest;
use tokio_postgres::Client;

/// Up to 64 connections per test: one test at a time (the server allows 100).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const T0: &str = "2026-12-01T12:00:00Z";

fn grant(account: Account, amount: i64, expires_at: Option<&str>) -> GrantRequest {
    GrantRequest {
        account,
        amount: Amount::new(amount).unwrap(),
        operation: None,
        metadata: None,
        idempotency_key: None,
        expires_at: expires_at.map(at),
    }
}

/// The balance's `expiring` list as `(amount, deadline)`, and `available`, for user `id` at `when`.
async fn expiring_of(client: &Client, id: &str, when: Timestamp) -> (Vec<(i64, String)>, i64, i64) {
    let balance = Engine::new(Native(client)).balance(&Account::user(id).unwrap(), when).await.unwrap();
    let user = balance.user.unwrap();
    (user.expiring.iter().map(|e| (e.amount, e.expires_at.to_rfc3339())).collect(), user.credits, user.available)
}

async fn expirations(client: &Client) -> Vec<(String, i64)> {
    client
        .query("SELECT resource_id, amount FROM credit_transactions WHERE type = 'expiration' ORDER BY created_at, resource_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get::<_, String>(0), i64::from(row.get::<_, i32>(1))))
        .collect()
}

#[tokio::test]
async fn blocks_are_spent_soonest_first_and_never_expiring_credits_last() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_fifo").await;
    let client = db.client().await;
    user_with(&client, "u1", 100).await; // never expires
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let t0 = at(T0);
    let week = engine.grant(&grant(Account::user("u1").unwrap(), 50, Some("2026-12-08T12:00:00Z")), t0).await.unwrap();
    let tomorrow =
        engine.grant(&grant(Account::user("u1").unwrap(), 30, Some("2026-12-02T12:00:00Z")), t0).await.unwrap();
    assert_eq!(tomorrow.expires_at, Some(at("2026-12-02T12:00:00Z")));
    assert_eq!(tomorrow.balance, 180);

    // 20 from tomorrow's block; then 30 straddles tomorrow's (10) and next week's (20).
    engine.consume(&usage(me(), 20, None), t0).await.unwrap();
    let (list, credits, available) = expiring_of(&client, "u1", t0).await;
    assert_eq!(list, vec![(10, "2026-12-02T12:00:00Z".into()), (50, "2026-12-08T12:00:00Z".into())]);
    assert_eq!((credits, available), (160, 160));
    let straddle = engine.consume(&usage(me(), 30, None), t0).await.unwrap();
    let record: serde_json::Value = serde_json::from_str(
        &scalar(
            &client,
            &format!(
                "SELECT expiring::text FROM credit_transactions WHERE id = '{}'",
                straddle.transaction_id.unwrap()
            ),
        )
        .await,
    )
    .unwrap();
    assert_eq!(record[&tomorrow.transaction_id][0], 10);
    assert_eq!(record[&week.transaction_id][0], 20);
    let (list, _, _) = expiring_of(&client, "u1", t0).await;
    assert_eq!(list, vec![(30, "2026-12-08T12:00:00Z".into())]);

    // 60 more: the week's 30, then 30 of the never-expiring 100.
    engine.consume(&usage(me(), 60, None), t0).await.unwrap();
    let (list, credits, _) = expiring_of(&client, "u1", t0).await;
    assert!(list.is_empty(), "{list:?}");
    assert_eq!(credits, 70);
    assert_clean_at(&client, t0).await;

    // At the deadlines nothing is left to expire: no expiration rows, balance unchanged.
    let later = at("2026-12-09T00:00:00Z");
    engine.consume(&usage(me(), 1, None), later).await.unwrap();
    assert!(expirations(&client).await.is_empty());
    assert_eq!(expiring_of(&client, "u1", later).await.1, 69);
    assert_clean_at(&client, later).await;
}

#[tokio::test]
async fn a_block_stops_at_its_deadline_to_the_second_and_expires_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_deadline").await;
    let client = db.client().await;
    user_with(&client, "u1", 5).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let t0 = at(T0);
    let block = engine.grant(&grant(Account::user("u1").unwrap(), 40, Some("2026-12-01T13:00:00Z")), t0).await.unwrap();
    engine.consume(&usage(me(), 10, None), t0).await.unwrap();

    let before = at("2026-12-01T12:59:59.999999Z");
    assert_eq!(expiring_of(&client, "u1", before).await, (vec![(30, "2026-12-01T13:00:00Z".into())], 35, 35));
    assert!(engine.check(&me(), Amount::new(35).unwrap(), before).await.unwrap().ok);

    // At the deadline exactly the 30 are gone for reads, before any row records it.
    let deadline = at("2026-12-01T13:00:00Z");
    assert_eq!(expiring_of(&client, "u1", deadline).await, (vec![], 5, 5));
    let refused = engine.check(&me(), Amount::new(6).unwrap(), deadline).await.unwrap_err();
    assert_eq!(refused.code(), "insufficient_credits");
    assert!(expirations(&client).await.is_empty());

    // The next debit writes the expiration row, once, and spends only what never expires.
    let err = engine.consume(&usage(me(), 6, None), deadline).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_credits");
    assert_eq!(expirations(&client).await, vec![(block.transaction_id.clone(), -30)]);
    engine.consume(&usage(me(), 5, None), deadline).await.unwrap();
    let swept = engine.sweep(5, deadline).await.unwrap();
    assert_eq!((swept.expired_blocks, swept.accounts), (0, 0));
    assert_eq!(expirations(&client).await.len(), 1);
    assert_eq!(scalar(&client, "SELECT credits::text FROM users WHERE id = 'u1'").await, "0");
    assert_clean_at(&client, deadline).await;
}

#[tokio::test]
async fn the_sweep_writes_expirations_nobody_else_did() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_sweep").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    user_with(&client, "u2", 0).await;
    let engine = Engine::new(Native(&client));
    let t0 = at(T0);
    for id in ["u1", "u2"] {
        engine.grant(&grant(Account::user(id).unwrap(), 40, Some("2026-12-01T13:00:00Z")), t0).await.unwrap();
    }
    let late = at("2026-12-01T13:00:01Z");
    let swept = engine.sweep(5, late).await.unwrap();
    assert_eq!((swept.expired_blocks, swept.accounts, swept.expired_holds), (2, 2, 0));
    assert_eq!(expirations(&client).await.len(), 2);
    assert_eq!(engine.sweep(5, late).await.unwrap().expired_blocks, 0);
    assert_eq!(scalar(&client, "SELECT sum(credits)::text FROM users").await, "0");
    assert_clean_at(&client, late).await;
}
