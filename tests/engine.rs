//! Every operation against a real Postgres, one at a time: outcomes, errors, ledger, replays.

mod common;

use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::allocate::AllocateRequest;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::ops::purchase::PurchaseRequest;
use fltr_credits::sql::ops::refund::RefundScope;

fn consume(payer: Payer, amount: i64, key: Option<&str>) -> ConsumeRequest {
    ConsumeRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: Operation::new("document.process").unwrap(),
        resource_id: Some("doc_1".into()),
        metadata: Some(r#"{"pages":3}"#.into()),
        idempotency_key: key.map(String::from),
    }
}

const KEY: &str = "fltr_live_key_0001_abcdef";

#[tokio::test]
async fn api_key_usage_is_bounded_by_balance_then_daily_then_monthly_limits() {
    let db = TestDb::migrated("engine_key").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(10), Some(15)).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 100).await;
    let engine = Engine::new(Native(&client));
    let ok = engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 6, None), now()).await.unwrap();
    assert_eq!((ok.balance, ok.replayed), (94, false));
    let limits = ok.limits.clone().unwrap();
    assert_eq!((limits.daily.used, limits.daily.remaining), (6, Some(4)));
    assert_eq!(ok.charged.id, key_id(KEY), "a key is named by its public id, never its secret");
    let refused = engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 5, None), now()).await.unwrap_err();
    assert_eq!(refused.code(), "daily_limit_exceeded");
    assert!(refused.retry_after().unwrap() > 0);
    let body = fltr_credits::http::error_body::of(&refused);
    assert_eq!((body["error"]["limit"].as_i64(), body["error"]["used"].as_i64()), (Some(10), Some(6)));
    engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 4, None), now()).await.unwrap();
    // Move the daily window back a day: the monthly limit (15) is next.
    client
        .execute("UPDATE api_key_credits SET daily_window_start = daily_window_start - interval '1 day'", &[])
        .await
        .unwrap();
    assert_eq!(
        engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 6, None), now()).await.unwrap_err().code(),
        "monthly_limit_exceeded"
    );
    let checked = engine.check(&Payer::ApiKey(KeyRef::secret(KEY)), Amount::new(6).unwrap(), now()).await.unwrap_err();
    assert_eq!(checked.code(), "monthly_limit_exceeded", "check decides as consume would");
    let ok = engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 5, None), now()).await.unwrap();
    assert_eq!(ok.limits.unwrap().daily.used, 5, "a new day starts from zero");
    // The monthly window is exhausted: a check of 1 says so (a check of 0 is not a question).
    let checked = engine.check(&Payer::ApiKey(KeyRef::secret(KEY)), Amount::new(1).unwrap(), now()).await.unwrap_err();
    assert_eq!(checked.code(), "monthly_limit_exceeded");
    assert_eq!(
        engine
            .consume(&consume(Payer::ApiKey(KeyRef::secret("nope_nope_nope")), 1, None), now())
            .await
            .unwrap_err()
            .code(),
        "unauthenticated",
        "an unknown secret is a failed sign-in"
    );
    assert_eq!(
        engine
            .consume(&consume(Payer::ApiKey(KeyRef::Id("key_nope".into())), 1, None), now())
            .await
            .unwrap_err()
            .code(),
        "not_found",
        "an unknown id is a missing account"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn insufficient_credits_reports_balance_and_required_and_writes_nothing() {
    let db = TestDb::migrated("engine_funds").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    fund(&client, Account::user("u1").unwrap(), 3).await;
    let engine = Engine::new(Native(&client));
    let error = engine.consume(&consume(Payer::User("u1".into()), 5, None), now()).await.unwrap_err();
    assert_eq!(
        fltr_credits::http::error_body::of(&error)["error"],
        serde_json::json!({"code": "insufficient_credits", "message": error.to_string(), "balance": 3, "available": 3, "required": 5})
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, "0");
}

#[tokio::test]
async fn team_members_draw_from_the_team_pool_and_personal_users_from_their_own() {
    let db = TestDb::migrated("engine_team").await;
    let client = db.client().await;
    user(&client, "owner", None).await;
    team(&client, "t1", Some("owner")).await;
    user(&client, "member", Some("t1")).await;
    user(&client, "solo", None).await;
    fund(&client, Account::team("t1").unwrap(), 50).await;
    fund(&client, Account::user("solo").unwrap(), 20).await;
    let engine = Engine::new(Native(&client));
    let team_charge = engine.consume(&consume(Payer::User("member".into()), 5, None), now()).await.unwrap();
    assert_eq!(
        (team_charge.charged.kind.as_str(), team_charge.charged.id.as_str(), team_charge.balance),
        ("team", "t1", 45)
    );
    assert!(team_charge.limits.is_none());
    let solo_charge = engine.consume(&consume(Payer::User("solo".into()), 5, None), now()).await.unwrap();
    assert_eq!((solo_charge.charged.kind.as_str(), solo_charge.balance), ("user", 15));
    client
        .execute("INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s1', now() + interval '1 day', 'tok_live', now(), 'member'), ('s2', now() - interval '1 second', 'tok_dead', now(), 'member')", &[])
        .await
        .unwrap();
    let by_session = engine.consume(&consume(Payer::Session("tok_live".into()), 5, None), now()).await.unwrap();
    assert_eq!((by_session.charged.id.as_str(), by_session.balance), ("t1", 40));
    for token in ["tok_dead", "tok_unknown"] {
        assert_eq!(
            engine.consume(&consume(Payer::Session(token.into()), 1, None), now()).await.unwrap_err().code(),
            "unauthenticated"
        );
    }
    let check = engine.check(&Payer::Session("tok_live".into()), Amount::new(40).unwrap(), now()).await.unwrap();
    assert_eq!((check.balance, check.transaction_id), (40, None));
    assert_eq!(
        engine.check(&Payer::User("member".into()), Amount::new(41).unwrap(), now()).await.unwrap_err().code(),
        "insufficient_credits"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn idempotent_replays_return_the_original_and_conflicts_are_refused() {
    let db = TestDb::migrated("engine_idem").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    fund(&client, Account::user("u1").unwrap(), 100).await;
    let engine = Engine::new(Native(&client));
    let first = engine.consume(&consume(Payer::User("u1".into()), 5, Some("req-1")), now()).await.unwrap();
    let replay = engine.consume(&consume(Payer::User("u1".into()), 5, Some("req-1")), now()).await.unwrap();
    assert!(replay.replayed && !first.replayed);
    assert_eq!((replay.transaction_id.clone(), replay.balance), (first.transaction_id.clone(), 95));
    let conflict = engine.consume(&consume(Payer::User("u1".into()), 6, Some("req-1")), now()).await.unwrap_err();
    assert_eq!(conflict.code(), "idempotency_conflict");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "95");
}

#[tokio::test]
async fn refund_reverses_one_usage_once_and_gives_the_quota_back() {
    let db = TestDb::migrated("engine_refund").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(10), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 100).await;
    let engine = Engine::new(Native(&client));
    let usage = engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 10, None), now()).await.unwrap();
    let id = usage.transaction_id.unwrap();
    assert_eq!(engine.refund(&id, &RefundScope::ApiKey("other".into()), now()).await.unwrap_err().code(), "not_found");
    let refund = engine.refund(&id, &RefundScope::ApiKey(key_id(KEY)), now()).await.unwrap();
    assert_eq!((refund.refunded, refund.balance, refund.replayed), (10, 100, false));
    assert_eq!(refund.transaction_id, format!("refund_{id}"));
    let again = engine.refund(&id, &RefundScope::Any, now()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.balance, 100);
    let after = engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 10, None), now()).await.unwrap();
    assert_eq!(after.limits.unwrap().daily.used, 10, "the refunded usage no longer counts against the day");
    assert_eq!(
        engine.refund(&refund.transaction_id, &RefundScope::Any, now()).await.unwrap_err().code(),
        "not_found",
        "only usage can be refunded"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn allocate_moves_credits_from_the_owners_pool_with_both_ledger_sides() {
    let db = TestDb::migrated("engine_alloc").await;
    let client = db.client().await;
    user(&client, "owner", None).await;
    team(&client, "t1", Some("owner")).await;
    client.execute("UPDATE users SET team_id = 't1' WHERE id = 'owner'", &[]).await.unwrap();
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    api_key(&client, "team_key_000000000001", "owner", Some("t1"), None, None).await;
    fund(&client, Account::user("u1").unwrap(), 30).await;
    fund(&client, Account::team("t1").unwrap(), 40).await;
    let engine = Engine::new(Native(&client));
    let request = |key: &str, amount, owner: Option<&str>| AllocateRequest {
        api_key: key_id(key),
        amount: Amount::new(amount).unwrap(),
        idempotency_key: Some(format!("alloc-{key}-{amount}")),
        owner: owner.map(String::from),
    };
    let funded = engine.allocate(&request(KEY, 25, Some("u1")), now()).await.unwrap();
    assert_eq!((funded.balance, funded.charged.kind.as_str()), (25, "api_key"));
    assert!(engine.allocate(&request(KEY, 25, Some("u1")), now()).await.unwrap().replayed);
    assert_eq!(engine.allocate(&request(KEY, 6, None), now()).await.unwrap_err().code(), "insufficient_credits");
    assert_eq!(engine.allocate(&request(KEY, 1, Some("intruder")), now()).await.unwrap_err().code(), "not_found");
    engine.allocate(&request("team_key_000000000001", 40, None), now()).await.unwrap();
    assert_eq!(scalar(&client, "SELECT credits FROM teams WHERE id = 't1'").await, "0");
    // The key's owner leaves the team: the key can no longer draw on the team pool.
    client.execute("UPDATE users SET team_id = NULL WHERE id = 'owner'", &[]).await.unwrap();
    fund(&client, Account::team("t1").unwrap(), 5).await;
    assert_eq!(
        engine.allocate(&request("team_key_000000000001", 5, None), now()).await.unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(scalar(&client, "SELECT credits FROM teams WHERE id = 't1'").await, "5");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "5");
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'allocation'").await, "4");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn purchases_are_idempotent_per_payment_and_raise_total_purchased() {
    let db = TestDb::migrated("engine_purchase").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    let engine = Engine::new(Native(&client));
    let purchase = |amount| PurchaseRequest {
        user_id: "u1".into(),
        amount: Amount::new(amount).unwrap(),
        payment_id: "cs_test_1".into(),
        event_id: "evt_test_1".into(),
        metadata: None,
    };
    let first = engine.purchase(&purchase(100), now()).await.unwrap();
    assert_eq!((first.balance, first.replayed), (100, false));
    assert!(engine.purchase(&purchase(100), now()).await.unwrap().replayed);
    assert_eq!(engine.purchase(&purchase(50), now()).await.unwrap_err().code(), "idempotency_conflict");
    assert_eq!(
        scalar(&client, "SELECT credits || '/' || total_credits_purchased FROM users WHERE id = 'u1'").await,
        "100/100"
    );
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn balance_and_transactions_page_newest_first_with_masked_keys() {
    let db = TestDb::migrated("engine_list").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(100), None).await;
    fund(&client, Account::user("u1").unwrap(), 50).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 50).await;
    let engine = Engine::new(Native(&client));
    for _ in 0..5 {
        engine.consume(&consume(Payer::ApiKey(KeyRef::secret(KEY)), 1, None), now()).await.unwrap();
    }
    let balance = engine.balance(&Account::user("u1").unwrap(), now()).await.unwrap();
    assert_eq!(balance.user.as_ref().unwrap().credits, 50);
    assert_eq!(
        (balance.api_keys[0].id.as_str(), balance.api_keys[0].api_key.as_str()),
        (key_id(KEY).as_str(), "fltr_live…")
    );
    assert_eq!(balance.api_keys[0].limits.daily.used, 5);
    let key_view = engine.balance(&Account::api_key(&key_id(KEY)).unwrap(), now()).await.unwrap();
    assert_eq!(key_view.api_key.unwrap().credits, 45);
    assert_eq!(engine.balance(&Account::user("ghost").unwrap(), now()).await.unwrap_err().code(), "not_found");

    let account = Account::api_key(&key_id(KEY)).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.transactions(&account, 2, cursor.as_ref()).await.unwrap();
        seen.extend(page.transactions.iter().map(|t| (t.created_at.clone(), t.id.clone(), t.amount)));
        match page.next_cursor {
            Some(next) => cursor = Some(fltr_credits::sql::ops::transactions::Cursor::decode(&next).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "5 usages and 1 grant");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    assert_eq!(seen, sorted, "newest first, no duplicates across pages");
    assert_eq!(seen.last().unwrap().2, 50, "the grant is the oldest");
}

#[tokio::test]
async fn reconcile_finds_unledgered_balances_and_adopt_writes_opening_rows() {
    let db = TestDb::migrated("engine_reconcile").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    user(&client, "u2", None).await;
    fund(&client, Account::user("u2").unwrap(), 10).await;
    // The guide's un-ledgered initial allocation.
    client.execute("UPDATE users SET credits = credits + 100", &[]).await.unwrap();
    let engine = Engine::new(Native(&client));
    let report = engine.reconcile(false, now()).await.unwrap();
    assert_eq!(report.drift.len(), 2);
    assert_eq!(report.drift[0].difference, 100);
    let adopted = engine.reconcile(true, now()).await.unwrap();
    assert_eq!(adopted.adopted, 2);
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn grants_to_unknown_accounts_and_overflowing_balances_are_refused() {
    let db = TestDb::migrated("engine_grant").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    team(&client, "orphan", None).await;
    let engine = Engine::new(Native(&client));
    let grant = |account, amount| fltr_credits::sql::ops::grant::GrantRequest {
        account,
        amount: Amount::new(amount).unwrap(),
        operation: None,
        metadata: None,
        idempotency_key: None,
        expires_at: None,
    };
    assert_eq!(engine.grant(&grant(Account::user("ghost").unwrap(), 1), now()).await.unwrap_err().code(), "not_found");
    assert_eq!(
        engine.grant(&grant(Account::team("orphan").unwrap(), 1), now()).await.unwrap_err().code(),
        "invalid_request"
    );
    engine.grant(&grant(Account::user("u1").unwrap(), 2_147_483_647), now()).await.unwrap();
    assert_eq!(
        engine.grant(&grant(Account::user("u1").unwrap(), 1), now()).await.unwrap_err().code(),
        "invalid_amount"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM credit_transactions").await,
        "1",
        "the refused grant wrote nothing"
    );
}

#[tokio::test]
async fn credentials_resolve_to_live_sessions_or_api_keys() {
    use fltr_credits::core::session::Credential;
    use fltr_credits::sql::ops::principal::Principal;
    let db = TestDb::migrated("engine_auth").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    client
        .execute("INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('s1', now() + interval '1 hour', 'tok_live', now(), 'u1'), ('s2', now() - interval '1 minute', 'tok_dead', now(), 'u1')", &[])
        .await
        .unwrap();
    let engine = Engine::new(Native(&client));
    let user_principal = Principal::User { user_id: "u1".into() };
    assert_eq!(engine.authenticate(&Credential::Session("tok_live".into()), now()).await.unwrap(), user_principal);
    assert_eq!(engine.authenticate(&Credential::Bearer("tok_live".into()), now()).await.unwrap(), user_principal);
    let key_principal = Principal::ApiKey { api_key: key_id(KEY), user_id: "u1".into() };
    assert_eq!(engine.authenticate(&Credential::Bearer(KEY.into()), now()).await.unwrap(), key_principal);
    assert_eq!(engine.authenticate(&Credential::ApiKey(KEY.into()), now()).await.unwrap(), key_principal);
    for credential in
        [Credential::Session("tok_dead".into()), Credential::ApiKey("tok_live".into()), Credential::Session(KEY.into())]
    {
        assert_eq!(
            engine.authenticate(&credential, now()).await.unwrap_err().code(),
            "unauthenticated",
            "{credential:?}"
        );
    }
}

#[tokio::test]
async fn a_prepared_connection_decides_the_same_and_survives_schema_changes() {
    use fltr_credits::adapters::native::database::Connection;
    let db = TestDb::migrated("engine_prepared").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    fund(&client, Account::user("u1").unwrap(), 10).await;
    let connection = Connection::open(&db.url).await.unwrap();
    let engine = Engine::new(&connection);
    for expected in [7, 4, 1] {
        assert_eq!(engine.consume(&consume(Payer::User("u1".into()), 3, None), now()).await.unwrap().balance, expected);
    }
    assert_eq!(
        engine.consume(&consume(Payer::User("u1".into()), 3, None), now()).await.unwrap_err().code(),
        "insufficient_credits"
    );
    // A column added by a plugin changes `users`: cached plans are refreshed, not broken.
    client
        .batch_execute(
            "ALTER TABLE users ADD COLUMN plugin_flag boolean; ALTER TABLE users ALTER COLUMN credits TYPE bigint",
        )
        .await
        .unwrap();
    fund(&client, Account::user("u1").unwrap(), 5).await;
    assert_eq!(engine.consume(&consume(Payer::User("u1".into()), 3, None), now()).await.unwrap().balance, 3);
}
