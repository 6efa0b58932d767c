//! Adversarial tests for expiring credits: every test states what must hold (API.md "Expiring
//! credits", `core::expiring`'s invariants) and tries to break it — spending a block at or after its
//! deadline, laundering expiring credits into lasting ones (allocate/revoke, holds, refunds, team
//! pools, key grants), leaving balance != Σ ledger or a block disagreeing with the ledger, edge
//! values, and races (≤ 32 connections) with a few ms of clock skew between "hosts".

mod common;

use common::expiring::grant;
use common::holds::*;
use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::Amount;
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::allocate::AllocateRequest;
use fltr_credits::sql::ops::consume::Payer;
use fltr_credits::sql::ops::holds::close::Actor;
use fltr_credits::sql::ops::refund::RefundScope;
use tokio_postgres::Client;

/// Up to 32 connections per test: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const T0: &str = "2026-12-01T12:00:00Z";
/// The deadline most tests use: an hour after T0.
const D: &str = "2026-12-01T13:00:00Z";

/// T0 plus `seconds`.
fn t(seconds: i64) -> Timestamp {
    Timestamp(at(T0).0 + seconds * 1_000_000)
}

/// `D` plus `micros` (negative: before it).
fn d(micros: i64) -> Timestamp {
    Timestamp(at(D).0 + micros)
}

fn user(id: &str) -> Account {
    Account::user(id).unwrap()
}

fn secret_of(secret: &str) -> Payer {
    Payer::ApiKey(KeyRef::secret(secret))
}

fn allocation(secret: &str, amount: i64) -> AllocateRequest {
    AllocateRequest {
        api_key: key_id(secret),
        amount: Amount::new(amount).unwrap(),
        idempotency_key: None,
        owner: None,
    }
}

async fn int(client: &Client, sql: &str) -> i64 {
    let text = scalar(client, sql).await;
    if text.is_empty() {
        0
    } else {
        text.parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
    }
}

/// Σ that usage rows stamped at or after `when` took from `block` (what was spent from it).
async fn spent_from_at_or_after(client: &Client, block: &str, when: Timestamp) -> i64 {
    int(
        client,
        &format!(
            "SELECT coalesce(sum((expiring->'{block}'->>0)::bigint), 0) FROM credit_transactions \
             WHERE type = 'usage' AND expiring ? '{block}' AND created_at >= '{}'::timestamp",
            when.to_sql_literal()
        ),
    )
    .await
}

/// Expiration rows of `block` as amounts, oldest first.
async fn expirations_of(client: &Client, block: &str) -> Vec<i64> {
    client
        .query(
            "SELECT amount FROM credit_transactions WHERE type = 'expiration' AND resource_id = $1 ORDER BY created_at, id",
            &[&block],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| i64::from(row.get::<_, i32>(0)))
        .collect()
}

/// Σ ledger of an account as reconcile attributes rows.
async fn ledger_sum(client: &Client, kind: &str, id: &str) -> i64 {
    int(
        client,
        &format!(
            "SELECT coalesce(sum(amount), 0) FROM credit_transactions WHERE \
             CASE WHEN api_key_id IS NOT NULL THEN 'api_key' WHEN team_id IS NOT NULL THEN 'team' ELSE 'user' END = '{kind}' \
             AND coalesce(api_key_id, team_id, user_id) = '{id}'"
        ),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// (a) spending a block at or after its deadline
// ---------------------------------------------------------------------------------------------

/// A hold made before a block's deadline, captured after it: the credits the hold took from the
/// block expired at the deadline ("at expires_at the unspent rest of that grant stops being
/// spendable"), so the capture must not spend them — `core::expiring`: "No debit spends a block
/// at or past its deadline". Here the end user opens a 24 h hold on the whole block a second
/// before it expires and captures it the next day.
#[tokio::test]
async fn a_capture_after_the_deadline_does_not_spend_the_expired_block() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_capture_late").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    client
        .execute(
            "INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s1', '2030-01-01', 'tok_u1', now(), 'u1')",
            &[],
        )
        .await
        .unwrap();
    let engine = Engine::new(Native(&client));
    let block = engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap().transaction_id;

    // The user's own hold (opened with their session, so theirs to capture), a second before D.
    let held = engine.hold(&hold(Payer::Session("tok_u1".into()), 50, 86_400, None), d(-1_000_000)).await.unwrap();
    let late = d(3_600_000_000);
    let captured = engine.close_hold(&capture(&held.hold_id, None, Actor::User("u1".into()), None), late).await;

    assert_eq!(
        spent_from_at_or_after(&client, &block, at(D)).await,
        0,
        "a capture stamped after the deadline spent the expired block (capture answered {captured:?})"
    );
    // Nothing that never expires backs it: the capture is refused, the hold stays open, and the
    // balance already reads 0; releasing it expires the 50 in the same statement.
    assert_eq!(captured.unwrap_err().code(), "insufficient_credits");
    let read = engine.balance(&user("u1"), late).await.unwrap().user.unwrap();
    assert_eq!((read.credits, read.available), (0, 0));
    engine.close_hold(&release(&held.hold_id, None), late).await.unwrap();
    assert_eq!(expirations_of(&client, &block).await, vec![-50]);
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, late).await;
}

/// At the deadline exactly (not a microsecond later) a consume and a hold spend nothing of the
/// block, for a user, a team pool and an API key.
#[tokio::test]
async fn no_debit_spends_a_block_at_its_deadline_on_any_kind_of_account() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_at_deadline").await;
    let client = db.client().await;
    team_with_signed_in_member(&client, 3).await; // 3 lasting on the team
    user_with(&client, "u1", 3).await;
    let secret = "fltr_live_adv_deadline_key_001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let on_user = engine.grant(&grant(user("u1"), 40, Some(D)), t(0)).await.unwrap().transaction_id;
    let on_team = engine.grant(&grant(Account::team("t1").unwrap(), 40, Some(D)), t(0)).await.unwrap().transaction_id;
    let on_key = engine
        .grant(&grant(Account::api_key(&key_id(secret)).unwrap(), 40, Some(D)), t(0))
        .await
        .unwrap()
        .transaction_id;

    let deadline = at(D);
    for payer in [Payer::User("u1".into()), Payer::Session("tok_m1".into()), secret_of(secret)] {
        let err = engine.consume(&usage(payer.clone(), 4, None), deadline).await.unwrap_err();
        assert_eq!(err.code(), "insufficient_credits", "{payer:?}");
        let err = engine.hold(&hold(payer.clone(), 4, 60, None), deadline).await.unwrap_err();
        assert_eq!(err.code(), "insufficient_credits", "{payer:?}");
    }
    engine.consume(&usage(Payer::User("u1".into()), 3, None), deadline).await.unwrap();
    engine.consume(&usage(Payer::Session("tok_m1".into()), 3, None), deadline).await.unwrap();
    for block in [&on_user, &on_team, &on_key] {
        assert_eq!(spent_from_at_or_after(&client, block, deadline).await, 0);
        assert_eq!(expirations_of(&client, block).await, vec![-40], "{block}");
    }
    assert_clean_at(&client, deadline).await;
}

// ---------------------------------------------------------------------------------------------
// reads must agree with the debit they predict
// ---------------------------------------------------------------------------------------------

/// A hold took a block's credits and both the block and the hold are past their deadlines, with
/// no settle yet. `check` and `balance` say what the next consume may spend; the hold's credits
/// go back to a due block and expire, so they must not be counted as available (check said `ok`,
/// the consume is refused: a gate built on check lets work through that then cannot be charged).
#[tokio::test]
async fn reads_do_not_count_an_expired_holds_credits_from_a_due_block() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_reads").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    engine.grant(&grant(user("u1"), 20, Some(D)), t(0)).await.unwrap();
    engine.hold(&hold(me(), 20, 7200, None), t(0)).await.unwrap(); // expires at T0 + 2 h, after D

    let late = t(3 * 3600);
    eprintln!(
        "ROW {}",
        scalar(&client, "SELECT row(credits, held_credits, expiring_ids, expiring_at, expiring_left)::text FROM users")
            .await
    );
    eprintln!(
        "HOLD {}",
        scalar(&client, "SELECT row(amount, expires_at, expiring, state)::text FROM credit_holds").await
    );
    let balance = engine.balance(&user("u1"), late).await.unwrap().user.unwrap();
    let checked = engine.check(&me(), Amount::new(1).unwrap(), late).await;
    let consumed = engine.consume(&usage(me(), 1, None), late).await;
    assert_eq!(consumed.as_ref().map_err(|e| e.code()).err(), Some("insufficient_credits"));
    assert_eq!(
        checked.as_ref().map(|c| c.ok).map_err(|e| e.code()),
        Err("insufficient_credits"),
        "check must agree with the consume that follows it"
    );
    assert_eq!((balance.credits, balance.available), (0, 0), "balance before the settle: {balance:?}");
    assert_clean_at(&client, late).await;
}

// ---------------------------------------------------------------------------------------------
// (c) balance == Σ ledger after settles
// ---------------------------------------------------------------------------------------------

/// A team pool with no owner (`teams.owner_id` is nullable) granted a block while it had a member;
/// the member leaves; the block expires. The settle must not take the credits off the team without
/// the `expiration` row that records it (balance == Σ ledger), nor fail.
#[tokio::test]
async fn a_team_block_expiring_with_nobody_to_attribute_it_to_keeps_balance_equal_to_ledger() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_orphan_team").await;
    let client = db.client().await;
    team(&client, "t0", None).await;
    common::user(&client, "m1", Some("t0")).await;
    let engine = Engine::new(Native(&client));
    engine.grant(&grant(Account::team("t0").unwrap(), 30, Some(D)), t(0)).await.unwrap();
    client.execute("UPDATE users SET team_id = NULL WHERE id = 'm1'", &[]).await.unwrap();

    let late = d(1_000_000);
    let swept = engine.sweep(5, late).await;
    let credits = int(&client, "SELECT credits FROM teams WHERE id = 't0'").await;
    assert_eq!(
        credits,
        ledger_sum(&client, "team", "t0").await,
        "team t0: balance {credits} vs its ledger after the sweep ({swept:?})"
    );
    assert_clean_at(&client, late).await;
}

// ---------------------------------------------------------------------------------------------
// (b) laundering expiring credits into lasting ones
// ---------------------------------------------------------------------------------------------

/// Block → key (allocate) → spent, held by the key → revoked after the deadline: what comes back
/// to the pool (key's rest plus the released hold) is the block's, due: the pool can spend only
/// what never expires.
#[tokio::test]
async fn allocate_hold_and_revoke_after_the_deadline_launders_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_launder_key").await;
    let client = db.client().await;
    user_with(&client, "u1", 10).await;
    let secret = "fltr_live_adv_launder_key_0001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let block = engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap().transaction_id;
    engine.allocate(&allocation(secret, 60), t(0)).await.unwrap(); // the block's 50 + 10 lasting
    engine.consume(&usage(secret_of(secret), 5, None), t(0)).await.unwrap();
    engine.hold(&hold(secret_of(secret), 20, 86_400, None), t(0)).await.unwrap();

    let late = d(1);
    let revoked = engine.revoke_key(&key_id(secret), Some("u1"), late).await.unwrap();
    assert_eq!(revoked.returned, 55);
    let me = || Payer::User("u1".into());
    let err = engine.consume(&usage(me(), 11, None), late).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_credits");
    engine.consume(&usage(me(), 10, None), late).await.unwrap();
    assert_eq!(spent_from_at_or_after(&client, &block, at(D)).await, 0);
    let expired: i64 = expirations_of(&client, &block).await.iter().sum();
    assert_eq!(expired, -45, "the block's 25 left on the key and the 20 the key's hold took expire");
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, late).await;
}

/// A key's allowance held by a service hold survives a user's revoke on the key; released after
/// the block's deadline it comes back to the revoked key as the due block and expires there —
/// and the sweep handles a revoked key.
#[tokio::test]
async fn a_service_hold_on_a_revoked_key_released_after_the_deadline_expires() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_service_hold").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    let secret = "fltr_live_adv_service_hold_001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let block = engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap().transaction_id;
    engine.allocate(&allocation(secret, 50), t(0)).await.unwrap();
    let by_service = Payer::ApiKey(KeyRef::Id(key_id(secret)));
    let held = engine.hold(&hold(by_service, 30, 86_400, None), t(0)).await.unwrap();
    let revoked = engine.revoke_key(&key_id(secret), Some("u1"), t(1)).await.unwrap();
    assert_eq!(revoked.returned, 20);

    let late = d(1);
    engine.close_hold(&release(&held.hold_id, None), late).await.unwrap();
    let swept = engine.sweep(5, late).await.unwrap();
    assert!(swept.expired_blocks >= 1, "{swept:?}");
    let expired: i64 = expirations_of(&client, &block).await.iter().sum();
    assert_eq!(expired, -50);
    assert_eq!(int(&client, "SELECT sum(credits) FROM api_key_credits").await, 0);
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, late).await;
}

/// A block granted straight to a team key whose owner has left the team: the key cannot spend
/// (`not_a_member`), the service revokes it, the team pool gets the block with its deadline, and
/// it expires there.
#[tokio::test]
async fn a_block_granted_to_a_team_key_whose_owner_left_goes_back_with_its_deadline() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_team_key").await;
    let client = db.client().await;
    team_with_signed_in_member(&client, 1).await; // 1 lasting on the team
    let secret = "fltr_live_adv_team_key_000001";
    api_key(&client, secret, "m1", Some("t1"), None, None).await;
    let engine = Engine::new(Native(&client));
    let block = engine
        .grant(&grant(Account::api_key(&key_id(secret)).unwrap(), 40, Some(D)), t(0))
        .await
        .unwrap()
        .transaction_id;
    client.execute("UPDATE users SET team_id = NULL WHERE id = 'm1'", &[]).await.unwrap();
    let err = engine.consume(&usage(secret_of(secret), 1, None), t(1)).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let revoked = engine.revoke_key(&key_id(secret), None, t(2)).await.unwrap();
    assert_eq!(revoked.returned, 40);
    let team = engine.balance(&Account::team("t1").unwrap(), t(2)).await.unwrap().team.unwrap();
    assert_eq!(team.expiring.len(), 1);
    assert_eq!((team.expiring[0].amount, team.expiring[0].expires_at), (40, at(D)));

    // A revoked key takes no grant (not even an expiring one).
    let err = engine.grant(&grant(Account::api_key(&key_id(secret)).unwrap(), 5, Some(D)), t(3)).await.unwrap_err();
    assert_eq!(err.code(), "not_found");

    let late = d(0);
    let err = engine.consume(&usage(Payer::User("owner".into()), 2, None), late).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_credits");
    assert_eq!(expirations_of(&client, &block).await, vec![-40]);
    assert_eq!(int(&client, "SELECT credits FROM teams WHERE id = 't1'").await, 1);
    assert_clean_at(&client, late).await;
}

/// A usage on a key, refunded after the key was revoked and after the deadline: the refund goes
/// to the pool as the (due) block, not as lasting credits; a second expiration row for that block
/// records it.
#[tokio::test]
async fn a_refund_to_a_revoked_keys_pool_after_the_deadline_expires_again() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_refund_revoked").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    let secret = "fltr_live_adv_refund_key_00001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let block = engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap().transaction_id;
    engine.allocate(&allocation(secret, 50), t(0)).await.unwrap();
    let spent = engine.consume(&usage(secret_of(secret), 20, None), t(0)).await.unwrap();
    engine.revoke_key(&key_id(secret), Some("u1"), t(1)).await.unwrap();

    let late = d(5);
    engine.sweep(5, late).await.unwrap();
    assert_eq!(expirations_of(&client, &block).await, vec![-30]);
    engine.refund(spent.transaction_id.as_deref().unwrap(), &RefundScope::Any, late).await.unwrap();
    let err = engine.consume(&usage(Payer::User("u1".into()), 1, None), late).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_credits");
    let mut rows = expirations_of(&client, &block).await;
    rows.sort();
    assert_eq!(rows, vec![-30, -20]);
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, late).await;
}

/// A pool's due block does not travel to a key: an allocate at the deadline moves only lasting
/// credits, and the key gets no block.
#[tokio::test]
async fn an_allocate_at_the_deadline_moves_only_what_never_expires() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_allocate_due").await;
    let client = db.client().await;
    user_with(&client, "u1", 10).await;
    let secret = "fltr_live_adv_allocate_key_001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap();
    let deadline = at(D);
    let err = engine.allocate(&allocation(secret, 11), deadline).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_credits");
    engine.allocate(&allocation(secret, 10), deadline).await.unwrap();
    let key = engine.balance(&Account::api_key(&key_id(secret)).unwrap(), deadline).await.unwrap().api_key.unwrap();
    assert!(key.expiring.is_empty(), "{key:?}");
    assert_eq!(int(&client, "SELECT count(*) FROM api_key_credits WHERE expiring_ids IS NOT NULL").await, 0);
    assert_clean_at(&client, deadline).await;
}

/// An idempotent consume that spent a block, replayed after the deadline: a replay, nothing
/// spent again, nothing written.
#[tokio::test]
async fn an_idempotent_retry_across_the_deadline_is_a_replay() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_replay").await;
    let client = db.client().await;
    user_with(&client, "u1", 5).await;
    let secret = "fltr_live_adv_replay_key_00001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    engine.grant(&grant(user("u1"), 50, Some(D)), t(0)).await.unwrap();
    engine.grant(&grant(Account::api_key(&key_id(secret)).unwrap(), 50, Some(D)), t(0)).await.unwrap();
    for payer in [Payer::User("u1".into()), secret_of(secret)] {
        let first = engine.consume(&usage(payer.clone(), 30, Some("job-1")), t(0)).await.unwrap();
        let again = engine.consume(&usage(payer.clone(), 30, Some("job-1")), d(1)).await.unwrap();
        assert!(again.replayed && again.transaction_id == first.transaction_id, "{payer:?}");
    }
    assert_eq!(int(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, 2);
    engine.sweep(5, d(1)).await.unwrap();
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 5);
    assert_clean_at(&client, d(1)).await;
}

// ---------------------------------------------------------------------------------------------
// (f) edge values
// ---------------------------------------------------------------------------------------------

/// A block of i32::MAX: held whole, captured but one, refunded, consumed whole; then expired.
#[tokio::test]
async fn a_block_of_the_integer_maximum_is_held_captured_refunded_and_expired() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_int_max").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let max = i64::from(i32::MAX);
    let block = engine.grant(&grant(user("u1"), max, Some(D)), t(0)).await.unwrap().transaction_id;
    let err = engine.grant(&grant(user("u1"), 1, Some(D)), t(0)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_amount");
    let held = engine.hold(&hold(me(), max, 600, None), t(0)).await.unwrap();
    let captured = engine.close_hold(&capture(&held.hold_id, Some(max - 1), Actor::Service, None), t(1)).await.unwrap();
    engine.refund(captured.transaction_id.as_deref().unwrap(), &RefundScope::Any, t(2)).await.unwrap();
    let all = engine.consume(&usage(me(), max, None), t(3)).await.unwrap();
    assert_eq!(all.balance, 0);
    engine.refund(all.transaction_id.as_deref().unwrap(), &RefundScope::Any, t(4)).await.unwrap();
    assert_clean_at(&client, t(4)).await;
    let swept = engine.sweep(5, d(0)).await.unwrap();
    assert_eq!(swept.expired_blocks, 1);
    assert_eq!(expirations_of(&client, &block).await, vec![-(max as i32) as i64]);
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, d(0)).await;
}

/// 26 blocks, many with equal deadlines: spent soonest first (the later deadline untouched while
/// an earlier block has credits), a capture spends its hold's soonest part, each block expires
/// once, and what never expires is spent last.
#[tokio::test]
async fn twenty_six_blocks_with_equal_deadlines_are_spent_in_order_and_expire_once_each() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_many").await;
    let client = db.client().await;
    user_with(&client, "u1", 7).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let (d1, d2) = ("2026-12-01T13:00:00Z", "2026-12-01T14:00:00Z");
    let mut early = Vec::new();
    let mut later = Vec::new();
    for i in 0..26i64 {
        let deadline = if i % 2 == 0 { d2 } else { d1 };
        let id = engine.grant(&grant(user("u1"), 10 + i, Some(deadline)), t(0)).await.unwrap().transaction_id;
        if i % 2 == 0 {
            later.push(id)
        } else {
            early.push(id)
        }
    }
    let early_total: i64 = (0..26i64).filter(|i| i % 2 == 1).map(|i| 10 + i).sum(); // 299
    for amount in [13, 97, 1, 50] {
        engine.consume(&usage(me(), amount, None), t(1)).await.unwrap();
    }
    let held = engine.hold(&hold(me(), 150, 600, None), t(2)).await.unwrap(); // 138 early left, 12 later
    engine.close_hold(&capture(&held.hold_id, Some(140), Actor::Service, None), t(3)).await.unwrap();
    assert_clean_at(&client, t(3)).await;
    let spent_from = |ids: Vec<String>| {
        let client = &client;
        async move {
            let mut total = 0;
            for id in ids {
                total += int(
                    client,
                    &format!(
                        "SELECT coalesce(sum(sign(amount) * -(expiring->'{id}'->>0)::bigint), 0) FROM credit_transactions \
                         WHERE type = 'usage'"
                    ),
                )
                .await;
            }
            total
        }
    };
    assert_eq!(spent_from(early.clone()).await, early_total, "every early block spent before the later ones");
    assert_eq!(spent_from(later.clone()).await, 13 + 97 + 1 + 50 + 140 - early_total);

    let swept = engine.sweep(5, at(d1)).await.unwrap();
    assert_eq!(swept.expired_blocks, 0, "nothing left on the early blocks");
    let swept = engine.sweep(5, at(d2)).await.unwrap();
    for id in later.iter().chain(early.iter()) {
        assert!(expirations_of(&client, id).await.len() <= 1, "{id}");
    }
    assert_eq!(swept.expired_blocks, 13);
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 7);
    assert_clean_at(&client, at(d2)).await;
}

// ---------------------------------------------------------------------------------------------
// (e) one expiration per block, (g) races and clock skew
// ---------------------------------------------------------------------------------------------

/// 24 connections spend a user's block and its key's share of it before the deadline, then 24
/// more at and after it (clocks up to 5 ms apart, all at or past the deadline): sweeps, consumes,
/// holds. Each account writes exactly one expiration row for the block (nothing returns to it
/// after the deadline here, so a second row would be a double expiry), nothing is spent from it
/// by a statement stamped at or after its deadline, and reconcile is clean.
#[tokio::test]
async fn settles_from_sweeps_and_debits_at_the_deadline_expire_each_block_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_once").await;
    let client = db.client().await;
    user_with(&client, "u1", 1000).await;
    let secret = "fltr_live_adv_once_key_000001";
    api_key(&client, secret, "u1", None, None, None).await;
    let engine = Engine::new(Native(&client));
    let block = engine.grant(&grant(user("u1"), 500, Some(D)), t(0)).await.unwrap().transaction_id;
    engine.allocate(&allocation(secret, 300), t(0)).await.unwrap(); // 300 of the block to the key

    let url = db.url.clone();
    let phase = |offsets: [i64; 3]| {
        let url = url.clone();
        async move {
            race(&url, 24, move |index, client| {
                let secret = secret.to_string();
                async move {
                    let engine = Engine::new(Native(&*client));
                    let mut out = Vec::new();
                    for step in 0..4i64 {
                        let when = d(offsets[index % 3] + step * 1000);
                        let result = match index % 4 {
                            0 => engine.sweep(2, when).await.map(|_| ()),
                            1 => engine.consume(&usage(Payer::User("u1".into()), 3, None), when).await.map(|_| ()),
                            2 => engine.consume(&usage(secret_of(&secret), 3, None), when).await.map(|_| ()),
                            _ => match engine.hold(&hold(secret_of(&secret), 2, 3600, None), when).await {
                                Ok(h) => engine
                                    .close_hold(
                                        &capture(&h.hold_id, Some(1), Actor::ApiKey(key_id(&secret)), None),
                                        when,
                                    )
                                    .await
                                    .map(|_| ()),
                                Err(e) => Err(e),
                            },
                        };
                        out.push(result.map_err(|e| format!("{}: {:?}", e.code(), e)));
                    }
                    out
                }
            })
            .await
        }
    };
    let before = phase([-60_000_000, -50_000_000, -40_000_000]).await;
    let after = phase([0, 1000, 5000]).await;
    for result in before.iter().chain(after.iter()).flatten() {
        if let Err(e) = result {
            assert!(e.starts_with("insufficient_credits"), "{e}");
        }
    }
    let engine = Engine::new(Native(&client));
    let end = d(10_000_000);
    engine.sweep(5, end).await.unwrap();
    assert_eq!(spent_from_at_or_after(&client, &block, at(D)).await, 0);
    let per_account = client
        .query(
            "SELECT coalesce(api_key_id, user_id), count(*)::int FROM credit_transactions WHERE type = 'expiration' \
             AND resource_id = $1 GROUP BY 1",
            &[&block],
        )
        .await
        .unwrap();
    assert_eq!(per_account.len(), 2);
    for row in &per_account {
        assert_eq!(row.get::<_, i32>(1), 1, "expirations of the block on {}", row.get::<_, String>(0));
    }
    assert_clean_at(&client, end).await;
}

/// Holds made on a block before its deadline and closed after it give their rest back to the
/// (due) block, each making the account due again. Debits running among those closes settle and
/// retry; they must still decide (spend what never expires, or refuse) rather than answer
/// `database_unavailable` because a settle kept being undone (`CONTENDED_ATTEMPTS`).
#[tokio::test]
async fn debits_among_closes_of_old_holds_after_the_deadline_still_decide() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_livelock").await;
    let client = db.client().await;
    user_with(&client, "u1", 100_000).await;
    let engine = Engine::new(Native(&client));
    engine.grant(&grant(user("u1"), 400, Some(D)), t(0)).await.unwrap();
    let mut holds = Vec::new();
    for _ in 0..160 {
        holds.push(engine.hold(&hold(Payer::User("u1".into()), 2, 86_400, None), t(0)).await.unwrap().hold_id);
    }

    let holds = std::sync::Arc::new(holds);
    let url = db.url.clone();
    let results = race(&url, 32, move |index, client| {
        let holds = holds.clone();
        async move {
            let engine = Engine::new(Native(&*client));
            let mut out = Vec::new();
            for step in 0..10usize {
                let when = d(1_000_000 + step as i64 * 1000);
                if index % 2 == 0 {
                    let id = &holds[(index / 2) * 10 + step];
                    let r = engine.close_hold(&capture(id, Some(1), Actor::Service, None), when).await;
                    out.push(r.map(|_| ()).map_err(|e| format!("capture {}: {:?}", e.code(), e)));
                } else {
                    let r = engine.consume(&usage(Payer::User("u1".into()), 1, None), when).await;
                    out.push(r.map(|_| ()).map_err(|e| format!("consume {}: {:?}", e.code(), e)));
                }
            }
            out
        }
    })
    .await;
    let failures: Vec<&String> = results.iter().flatten().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} failed, e.g. {:?}", failures.len(), failures.first());
    let engine = Engine::new(Native(&client));
    engine.sweep(5, d(20_000_000)).await.unwrap();
    assert_clean_at(&client, d(20_000_000)).await;
}

/// The deadlock hunt: 32 connections on one user's pool, two personal keys, a team pool and a
/// team key, across a block's deadline with ms of skew: consumes, holds captured and released,
/// allocations, refunds, key revocations, sweeps. No deadlock (40P01), no internal error,
/// reconcile clean, and no statement stamped at or after the deadline spends the blocks.
#[tokio::test]
async fn a_storm_of_every_operation_across_the_deadline_deadlocks_nothing_and_reconciles() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_storm").await;
    let client = db.client().await;
    team_with_signed_in_member(&client, 500).await;
    user_with(&client, "u1", 500).await;
    let keys = ["fltr_live_adv_storm_key_00001", "fltr_live_adv_storm_key_00002"];
    for key in keys {
        api_key(&client, key, "u1", None, None, None).await;
    }
    let team_key = "fltr_live_adv_storm_tkey_0001";
    api_key(&client, team_key, "m1", Some("t1"), None, None).await;
    let engine = Engine::new(Native(&client));
    let user_block = engine.grant(&grant(user("u1"), 800, Some(D)), t(0)).await.unwrap().transaction_id;
    let team_block =
        engine.grant(&grant(Account::team("t1").unwrap(), 800, Some(D)), t(0)).await.unwrap().transaction_id;
    let key_block = engine
        .grant(&grant(Account::api_key(&key_id(keys[1])).unwrap(), 300, Some(D)), t(0))
        .await
        .unwrap()
        .transaction_id;
    for key in keys {
        engine.allocate(&allocation(key, 200), t(0)).await.unwrap();
    }
    engine.allocate(&allocation(team_key, 200), t(0)).await.unwrap();

    let url = db.url.clone();
    let results = race(&url, 32, move |index, client| async move {
        let engine = Engine::new(Native(&*client));
        let mut out: Vec<Result<(), String>> = Vec::new();
        let keep = |out: &mut Vec<Result<(), String>>, r: Result<(), fltr_credits::core::error::CreditError>| {
            out.push(r.map_err(|e| format!("{}: {:?}", e.code(), e)))
        };
        for step in 0..8i64 {
            let when = d((step - 4) * 400_000 + (index as i64 % 5 - 2) * 2500);
            let key = keys[index % 2];
            match index % 8 {
                0 => keep(&mut out, engine.sweep(2, when).await.map(|_| ())),
                1 => {
                    let r = engine.consume(&usage(Payer::User("u1".into()), 2, None), when).await;
                    if let Ok(c) = &r {
                        if step % 3 == 0 {
                            let scope = RefundScope::Any;
                            keep(
                                &mut out,
                                engine.refund(c.transaction_id.as_deref().unwrap(), &scope, when).await.map(|_| ()),
                            );
                        }
                    }
                    keep(&mut out, r.map(|_| ()));
                }
                2 => {
                    let r = engine.consume(&usage(secret_of(key), 2, None), when).await;
                    if let Ok(c) = &r {
                        let scope = RefundScope::Any;
                        let later = Timestamp(when.0 + 1000);
                        keep(
                            &mut out,
                            engine.refund(c.transaction_id.as_deref().unwrap(), &scope, later).await.map(|_| ()),
                        );
                    }
                    keep(&mut out, r.map(|_| ()));
                }
                3 => match engine.hold(&hold(secret_of(key), 3, 1, None), when).await {
                    Ok(h) => {
                        let close = if step % 2 == 0 {
                            capture(&h.hold_id, Some(2), Actor::ApiKey(key_id(key)), None)
                        } else {
                            release(&h.hold_id, None)
                        };
                        keep(&mut out, engine.close_hold(&close, when).await.map(|_| ()))
                    }
                    Err(e) => keep(&mut out, Err(e)),
                },
                4 => keep(&mut out, engine.allocate(&allocation(key, 3), when).await.map(|_| ())),
                5 => keep(
                    &mut out,
                    engine.consume(&usage(Payer::Session("tok_m1".into()), 2, None), when).await.map(|_| ()),
                ),
                6 => {
                    keep(&mut out, engine.allocate(&allocation(team_key, 2), when).await.map(|_| ()));
                    match engine.hold(&hold(Payer::User("m1".into()), 3, 1, None), when).await {
                        Ok(h) => keep(
                            &mut out,
                            engine
                                .close_hold(&capture(&h.hold_id, Some(1), Actor::Service, None), when)
                                .await
                                .map(|_| ()),
                        ),
                        Err(e) => keep(&mut out, Err(e)),
                    }
                }
                _ => {
                    keep(&mut out, engine.consume(&usage(secret_of(team_key), 1, None), when).await.map(|_| ()));
                    if step == 5 && index == 7 {
                        keep(&mut out, engine.revoke_key(&key_id(keys[1]), None, when).await.map(|_| ()));
                    }
                    if step == 6 && index == 15 {
                        keep(&mut out, engine.revoke_key(&key_id(team_key), None, when).await.map(|_| ()));
                    }
                }
            }
        }
        out
    })
    .await;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for result in results.iter().flatten() {
        if let Err(e) = result {
            *seen.entry(e.split(':').next().unwrap().to_string()).or_default() += 1;
            assert!(!e.contains("40P01"), "deadlock: {e}");
            assert!(
                e.starts_with("insufficient_credits")
                    || e.starts_with("unauthenticated")
                    || e.starts_with("not_found")
                    || e.starts_with("hold_closed"),
                "{e}"
            );
        }
    }
    eprintln!("storm refusals: {seen:?}");
    let engine = Engine::new(Native(&client));
    let end = d(10_000_000);
    engine.sweep(5, end).await.unwrap();
    for block in [&user_block, &team_block, &key_block] {
        assert_eq!(spent_from_at_or_after(&client, block, at(D)).await, 0, "{block}");
    }
    assert_clean_at(&client, end).await;
}

/// Two "hosts" 5 ms apart at the deadline: the one ahead expires the block, the one behind
/// refunds a usage into it and spends it again (its clock says the block is live). Whatever the
/// interleaving, nothing is created: the block's usage less refunds plus expirations equals the
/// grant, and reconcile is clean.
#[tokio::test]
async fn clock_skew_around_the_deadline_creates_and_loses_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_skew").await;
    let client = db.client().await;
    user_with(&client, "u1", 0).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let block = engine.grant(&grant(user("u1"), 100, Some(D)), t(0)).await.unwrap().transaction_id;
    let spent = engine.consume(&usage(me(), 60, None), t(0)).await.unwrap();
    let (ahead, behind) = (d(5000), d(-5000));
    engine.sweep(5, ahead).await.unwrap(); // expires 40
    engine.refund(spent.transaction_id.as_deref().unwrap(), &RefundScope::Any, behind).await.unwrap();
    let again = engine.consume(&usage(me(), 60, None), behind).await; // live by this clock
    let on_ahead = engine.consume(&usage(me(), 1, None), ahead).await;
    engine.sweep(5, ahead).await.unwrap();
    let total: i64 = int(
        &client,
        &format!(
            "SELECT coalesce(sum(-amount), 0) FROM credit_transactions WHERE expiring ? '{block}' AND type <> 'grant'"
        ),
    )
    .await;
    assert_eq!(total, 100, "usage - refunds + expirations of the block ({again:?}, {on_ahead:?})");
    assert_eq!(int(&client, "SELECT credits FROM users WHERE id = 'u1'").await, 0);
    assert_clean_at(&client, ahead).await;
}

/// Settles of a team pool (the sweep's, or another debit's) write `expiration` rows attributed
/// to the team's owner while holding the team row; the owner's own debits lock the owner's user
/// row, then the team's. 24 connections: the owner consumes, the sweep runs, across 40 deadlines
/// a millisecond apart. No deadlock (40P01, answered as `database_unavailable`).
#[tokio::test]
async fn team_settles_and_the_owners_debits_do_not_deadlock() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_team_deadlock").await;
    let client = db.client().await;
    team_with_signed_in_member(&client, 100_000).await;
    let engine = Engine::new(Native(&client));
    for i in 0..40i64 {
        let deadline = d(i * 1000).to_rfc3339();
        let mut request = grant(Account::team("t1").unwrap(), 5, None);
        request.expires_at = Some(at(&deadline));
        engine.grant(&request, t(0)).await.unwrap();
    }

    let url = db.url.clone();
    let results = race(&url, 24, move |index, client| async move {
        let engine = Engine::new(Native(&*client));
        let mut out = Vec::new();
        for step in 0..40i64 {
            let when = d(step * 1000 + 500);
            let r = if index % 6 == 0 {
                engine.sweep(1, when).await.map(|_| ())
            } else {
                let who = if index % 2 == 0 { "owner" } else { "m1" };
                engine.consume(&usage(Payer::User(who.into()), 1, None), when).await.map(|_| ())
            };
            out.push(r.map_err(|e| format!("{}: {:?}", e.code(), e)));
        }
        out
    })
    .await;
    let failures: Vec<&String> = results.iter().flatten().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} failed, e.g. {:?}", failures.len(), failures.first());
    assert_clean_at(&client, d(60_000_000)).await;
}

/// A team key's revoke locks the key, then the team (to give the allowance back), and writes
/// ledger rows naming the key's creator; the creator's debits of the team pool lock the creator's
/// user row, then the team's. 20 team keys revoked while the creator consumes from the pool.
#[tokio::test]
async fn revoking_team_keys_while_their_creator_spends_the_pool_does_not_deadlock() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("adv_exp_revoke_deadlock").await;
    let client = db.client().await;
    team_with_signed_in_member(&client, 100_000).await;
    let engine = Engine::new(Native(&client));
    let mut secrets = Vec::new();
    for i in 0..20 {
        let secret = format!("fltr_live_adv_rv_team_key_{i:04}");
        api_key(&client, &secret, "m1", Some("t1"), None, None).await;
        engine.grant(&grant(Account::api_key(&key_id(&secret)).unwrap(), 10, Some(D)), t(0)).await.unwrap();
        secrets.push(secret);
    }

    let secrets = std::sync::Arc::new(secrets);
    let url = db.url.clone();
    let results = race(&url, 24, move |index, client| {
        let secrets = secrets.clone();
        async move {
            let engine = Engine::new(Native(&*client));
            let mut out = Vec::new();
            for step in 0..20usize {
                let when = t(10 + step as i64);
                let r = if index < 4 {
                    match secrets.get(index * 5 + step) {
                        Some(secret) if step < 5 => engine.revoke_key(&key_id(secret), None, when).await.map(|_| ()),
                        _ => Ok(()),
                    }
                } else {
                    engine.consume(&usage(Payer::Session("tok_m1".into()), 1, None), when).await.map(|_| ())
                };
                out.push(r.map_err(|e| format!("{}: {:?}", e.code(), e)));
            }
            out
        }
    })
    .await;
    let failures: Vec<&String> = results.iter().flatten().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} failed, e.g. {:?}", failures.len(), failures.first());
    assert_clean_at(&client, t(100)).await;
}
