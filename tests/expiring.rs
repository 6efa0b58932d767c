//! Expiring credits (API.md "Expiring credits") on a real Postgres: blocks are spent soonest
//! first and never-expiring credits last, a block stops being spendable at its deadline by itself,
//! one `expiration` row per block records what was left, refunds and releases go back to the block
//! they came from (and expire with it), and reconcile stays clean — also under 64 connections
//! consuming across a deadline.

mod common;

use common::expiring::grant;
use common::holds::*;
use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::Amount;
use fltr_credits::engine::Engine;
use fltr_credits::migrator::migrate;
use fltr_credits::sql::ops::consume::Payer;
use tokio_postgres::Client;

/// Up to 64 connections per test: one test at a time (the server allows 100).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const T0: &str = "2026-12-01T12:00:00Z";

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

#[tokio::test]
async fn holds_refunds_and_keys_give_credits_back_to_their_block_and_expire_with_it() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_returns").await;
    let client = db.client().await;
    user_with(&client, "u1", 100).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let t0 = at(T0);
    let soon = "2026-12-01T14:00:00Z";
    let block = engine.grant(&grant(Account::user("u1").unwrap(), 50, Some(soon)), t0).await.unwrap();

    // A hold takes the block first; a capture of 30 spends 30 of it, the other 10 go back.
    let held = engine.hold(&hold(me(), 40, 7200, None), t0).await.unwrap();
    assert_eq!(expiring_of(&client, "u1", t0).await.0, vec![(10, soon.to_string())]);
    let captured = engine
        .close_hold(&capture(&held.hold_id, Some(30), fltr_credits::sql::ops::holds::close::Actor::Service, None), t0)
        .await
        .unwrap();
    assert_eq!(expiring_of(&client, "u1", t0).await.0, vec![(20, soon.to_string())]);
    assert_clean_at(&client, t0).await;

    // Refunding the capture gives its 30 back to the block.
    let scope = fltr_credits::sql::ops::refund::RefundScope::Any;
    engine.refund(captured.transaction_id.as_deref().unwrap(), &scope, t0).await.unwrap();
    assert_eq!(expiring_of(&client, "u1", t0).await.0, vec![(50, soon.to_string())]);

    // A key funded from the pool carries the block's deadline; revoking it gives it back.
    let key = "fltr_live_expiring_key_000001";
    api_key(&client, key, "u1", None, None, None).await;
    let allocate = fltr_credits::sql::ops::allocate::AllocateRequest {
        api_key: key_id(key),
        amount: Amount::new(70).unwrap(),
        idempotency_key: None,
        owner: None,
    };
    engine.allocate(&allocate, t0).await.unwrap();
    assert!(expiring_of(&client, "u1", t0).await.0.is_empty());
    let on_key = engine.balance(&Account::api_key(&key_id(key)).unwrap(), t0).await.unwrap().api_key.unwrap();
    assert_eq!((on_key.credits, on_key.expiring.len(), on_key.expiring[0].amount), (70, 1, 50));
    let spent_by_key = engine
        .consume(&usage(Payer::ApiKey(fltr_credits::core::api_key::KeyRef::secret(key)), 5, None), t0)
        .await
        .unwrap();
    assert_clean_at(&client, t0).await;
    engine.revoke_key(&key_id(key), None, t0).await.unwrap();
    assert_eq!(expiring_of(&client, "u1", t0).await.0, vec![(45, soon.to_string())]);
    assert_eq!(expiring_of(&client, "u1", t0).await.1, 145);
    assert_clean_at(&client, t0).await;

    // After the deadline, a refund of the key's usage goes to the pool's (expired) block: the 5
    // expire in the refund's own statement, a second expiration row for that block.
    let late = at("2026-12-01T14:00:00Z");
    engine.consume(&usage(me(), 1, None), late).await.unwrap();
    assert_eq!(expirations(&client).await, vec![(block.transaction_id.clone(), -45)]);
    let refunded = engine.refund(spent_by_key.transaction_id.as_deref().unwrap(), &scope, late).await.unwrap();
    assert_eq!((refunded.refunded, refunded.balance), (5, 99), "refunded, and expired with its block at once");
    assert_eq!(expiring_of(&client, "u1", late).await, (vec![], 99, 99), "the refunded 5 are not spendable");
    assert_eq!(expirations(&client).await.len(), 2);
    assert_eq!(engine.sweep(5, late).await.unwrap().expired_blocks, 0);
    assert_eq!(scalar(&client, "SELECT credits::text FROM users WHERE id = 'u1'").await, "99");
    assert_clean_at(&client, late).await;

    // A hold that expires after its block: its credits expire with the block.
    engine.grant(&grant(Account::user("u1").unwrap(), 20, Some("2026-12-01T15:00:00Z")), late).await.unwrap();
    engine.hold(&hold(me(), 20, 7200, None), late).await.unwrap();
    let later = at("2026-12-01T16:00:01Z");
    let swept = engine.sweep(5, later).await.unwrap();
    assert_eq!((swept.expired_holds, swept.expired_blocks), (1, 1));
    assert_eq!(scalar(&client, "SELECT credits::text FROM users WHERE id = 'u1'").await, "99");
    assert_clean_at(&client, later).await;
}

#[tokio::test]
async fn a_grant_already_expired_or_unreadable_is_refused() {
    let now = at(T0);
    for bad in ["2026-12-01T12:00:00Z", "2026-11-30T00:00:00Z", "soon"] {
        let err = fltr_credits::core::expiring::deadline(bad, now).unwrap_err();
        assert_eq!(err.code(), "invalid_request", "{bad}");
    }
}

/// 64 connections consume 1 credit each, over and over, across a block's deadline: no consume
/// spends the block after its deadline, nothing is lost or counted twice, one expiration row.
#[tokio::test]
async fn a_block_expiring_under_64_concurrent_consumes_expires_once_and_exactly() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_race").await;
    let client = db.client().await;
    user_with(&client, "u1", 300).await;
    let engine = Engine::new(Native(&client));
    let t0 = at(T0);
    let block =
        engine.grant(&grant(Account::user("u1").unwrap(), 1000, Some("2026-12-01T12:00:10Z")), t0).await.unwrap();

    // Ten rounds before the deadline, every connection at the same instant each round; then ten
    // from the deadline on, where all 64 find the block due at once.
    let url = db.url.clone();
    let phase = |from: i64| {
        let url = url.clone();
        async move {
            race(&url, 64, move |_, client| async move {
                let engine = Engine::new(Native(&*client));
                let mut results = Vec::new();
                for step in from..from + 10 {
                    let when = Timestamp(at(T0).0 + step * 1_000_000);
                    let result = engine.consume(&usage(Payer::User("u1".into()), 1, None), when).await;
                    results.push(result.map(|_| ()).map_err(|e| e.code().to_string()));
                }
                results
            })
            .await
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
        }
    };
    let before = phase(0).await;
    assert!(before.iter().all(Result::is_ok), "{before:?}");
    let after = phase(10).await;
    let ok = after.iter().filter(|r| r.is_ok()).count();
    assert!(after.iter().all(|r| r.is_ok() || r.as_ref().unwrap_err() == "insufficient_credits"));
    assert_eq!((before.len(), ok), (640, 300), "after the deadline only the 300 that never expire are spent");

    let spent_from_block: i64 = scalar(
        &client,
        &format!(
            "SELECT coalesce(sum((expiring->'{}'->>0)::int), 0)::text FROM credit_transactions WHERE type = 'usage'",
            block.transaction_id
        ),
    )
    .await
    .parse()
    .unwrap();
    assert_eq!(spent_from_block, 640);
    assert_eq!(expirations(&client).await, vec![(block.transaction_id.clone(), -360)]);
    assert_eq!(scalar(&client, "SELECT credits::text FROM users WHERE id = 'u1'").await, "0");
    assert_clean_at(&client, at("2026-12-01T12:00:20Z")).await;
}

/// A database filled the seed's way (balances with their ledger rows, one balance set by hand
/// without one, a team pool, a plaintext API key with an allowance), then migrated: every balance
/// is unchanged, it is all one never-expiring block, `--adopt` still ledgers the hand-set balance,
/// and expiring grants work on top of it.
#[tokio::test]
async fn migrating_a_seed_filled_database_changes_no_balance() {
    use fltr_credits::schema::history::migrations;
    use fltr_credits::schema::journal;
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::new("expiring_seed").await;
    let client = db.client().await;
    for migration in &migrations()[..2] {
        client.batch_execute(&journal::up_file(migration).replace("--> statement-breakpoint", "")).await.unwrap();
    }
    client
        .batch_execute(
            r#"
INSERT INTO users (id, name, email, credits) VALUES ('u1', 'Ada', 'ada@example.com', 70), ('u2', 'Bob', 'bob@example.com', 40),
  ('u3', 'Cy', 'cy@example.com', 100);
INSERT INTO teams (id, name, credits, owner_id, created_at, updated_at) VALUES ('t1', 'Acme', 500, 'u2', now(), now());
UPDATE users SET team_id = 't1' WHERE id = 'u2';
INSERT INTO api_key_credits (api_key, user_id, credits, daily_limit, created_at, updated_at)
  VALUES ('fltr_seed_plaintext_key_0000001', 'u1', 30, 100, now(), now());
INSERT INTO credit_transactions (id, user_id, amount, type, operation, created_at) VALUES
  ('s1', 'u1', 100, 'purchase', 'stripe', now()), ('s2', 'u1', -30, 'usage', 'document.process', now()),
  ('s3', 'u2', 40, 'grant', 'grant', now());
INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, created_at) VALUES
  ('s4', 'u2', 't1', 500, 'purchase', 'stripe', now());
INSERT INTO credit_transactions (id, user_id, amount, type, operation, api_key_id, created_at) VALUES
  ('s5', 'u1', 30, 'allocation', 'allocate', 'fltr_seed_plaintext_key_0000001', now());
"#,
        )
        .await
        .unwrap();
    let balances = "SELECT string_agg(id || '=' || credits, ',' ORDER BY id) FROM (SELECT id, credits FROM users UNION ALL SELECT id, credits FROM teams UNION ALL SELECT user_id, credits FROM api_key_credits) b";
    let before = scalar(&client, balances).await;
    let report = migrate(&Native(&client), false).await.unwrap();
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(scalar(&client, balances).await, before, "no balance changes");

    // u3's 100 were set by hand, with no ledger row: the only drift, and --adopt ledgers it.
    let engine = Engine::new(Native(&client));
    let found = engine.reconcile(false, now()).await.unwrap();
    assert_eq!(found.drift.len(), 1, "{found:?}");
    assert!(found.holds.is_empty() && found.blocks.is_empty(), "{found:?}");
    let adopted = engine.reconcile(true, now()).await.unwrap();
    assert_eq!(adopted.adopted, 1);
    assert_clean_at(&client, now()).await;
    assert_eq!(scalar(&client, balances).await, before, "no balance changes");

    // Everything that was there never expires; an expiring grant on top is spent first.
    let t = now();
    let (list, credits, _) = expiring_of(&client, "u1", t).await;
    assert!(list.is_empty());
    assert_eq!(credits, 70);
    let deadline = Timestamp(t.0 + 3_600_000_000);
    let mut request = grant(Account::user("u1").unwrap(), 10, None);
    request.expires_at = Some(deadline);
    engine.grant(&request, t).await.unwrap();
    engine.consume(&usage(Payer::User("u1".into()), 15, None), t).await.unwrap();
    let (list, credits, _) = expiring_of(&client, "u1", t).await;
    assert!(list.is_empty(), "the 10 expiring credits went first: {list:?}");
    assert_eq!(credits, 65);
    engine
        .consume(
            &usage(
                Payer::ApiKey(fltr_credits::core::api_key::KeyRef::secret("fltr_seed_plaintext_key_0000001")),
                5,
                None,
            ),
            t,
        )
        .await
        .unwrap();
    assert_clean_at(&client, t).await;
}

/// A hold that took from a block and expired with it: before anything is written, reads already
/// leave out what it took from the due block (it goes back only to expire), and after the settle
/// the stored numbers agree with what the reads said.
#[tokio::test]
async fn reads_leave_out_what_an_expired_hold_took_from_a_due_block() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("expiring_hold_reads").await;
    let client = db.client().await;
    user_with(&client, "u1", 10).await;
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    let t0 = at(T0);
    engine.grant(&grant(Account::user("u1").unwrap(), 20, Some("2026-12-01T13:00:00Z")), t0).await.unwrap();
    engine.hold(&hold(me(), 25, 3600, None), t0).await.unwrap(); // 20 from the block, 5 never-expiring
    assert_eq!(expiring_of(&client, "u1", t0).await, (vec![], 30, 5));

    let late = at("2026-12-01T13:00:01Z");
    assert_eq!(expiring_of(&client, "u1", late).await, (vec![], 10, 10), "read before any row is written");
    let checked = engine.check(&me(), Amount::new(10).unwrap(), late).await.unwrap();
    assert_eq!((checked.balance, checked.available), (10, 10));
    assert_eq!(engine.check(&me(), Amount::new(11).unwrap(), late).await.unwrap_err().code(), "insufficient_credits");

    engine.consume(&usage(me(), 10, None), late).await.unwrap();
    assert_eq!(scalar(&client, "SELECT credits::text FROM users WHERE id = 'u1'").await, "0");
    assert_eq!(expirations(&client).await.len(), 1);
    assert_clean_at(&client, late).await;
}
