//! The invariants under real concurrency and faults, on a real Postgres:
//! - no balance goes negative; usage never exceeds a limit; exactly the allowed debits succeed;
//! - every account's balance equals the sum of its ledger rows (reconcile reports zero drift);
//! - a request retried with one idempotency key is charged once; a refund happens once;
//! - a backend killed mid-statement or a connection cut mid-flight leaves no partial write.

mod common;
#[path = "support/proxy.rs"]
mod proxy;

use common::*;
use fltr_credits::adapters::native::database::connect;
use fltr_credits::core::account::Account;
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::ops::refund::RefundScope;
use std::sync::Arc;
use tokio::sync::Barrier;

const KEY: &str = "fltr_live_hot_key_000000001";

/// These tests open up to 64 connections each; run them one at a time so that together they stay
/// under the server's max_connections (100 by default).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn usage(payer: Payer, amount: i64, idempotency_key: Option<String>) -> ConsumeRequest {
    ConsumeRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: Operation::new("load.test").unwrap(),
        resource_id: None,
        metadata: None,
        idempotency_key,
    }
}

/// Runs `clients` connections, each sending `per_client` requests built by `make`, all released
/// at once. Returns the error codes ("ok" for success), in no order.
async fn hammer<F>(url: &str, clients: usize, per_client: usize, make: F) -> Vec<String>
where
    F: Fn(usize, usize) -> ConsumeRequest + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let (url, make, barrier) = (url.to_string(), make.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await.expect("connect");
            let engine = Engine::new(Native(&client));
            barrier.wait().await;
            let mut outcomes = Vec::new();
            for request_index in 0..per_client {
                let outcome = engine.consume(&make(client_index, request_index), now()).await;
                outcomes.push(outcome.map(|_| "ok".to_string()).unwrap_or_else(|e| e.code().to_string()));
            }
            outcomes
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all
}

fn count(outcomes: &[String], code: &str) -> usize {
    outcomes.iter().filter(|o| o.as_str() == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_connections_on_one_api_key_never_exceed_the_daily_limit() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("hot_key").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    // Balance B = 1000 > daily limit L = 300; 64 clients x 6 requests x 3 credits = 1152 asked.
    api_key(&client, KEY, "u1", None, Some(300), Some(100_000)).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 1000).await;
    let outcomes = hammer(&db.url, 64, 6, |_, _| usage(Payer::ApiKey(KeyRef::secret(KEY)), 3, None)).await;
    assert_eq!(count(&outcomes, "ok"), 100, "exactly floor(300 / 3) debits succeed");
    assert_eq!(count(&outcomes, "daily_limit_exceeded"), 64 * 6 - 100, "{outcomes:?}");
    assert_eq!(
        scalar(&client, &format!("SELECT credits || '/' || daily_used FROM api_key_credits WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"))
            .await,
        "700/300"
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, "100");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_members_draining_one_team_pool_never_take_it_below_zero() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("hot_team").await;
    let client = db.client().await;
    user(&client, "owner", None).await;
    team(&client, "t1", Some("owner")).await;
    for member in 0..16 {
        user(&client, &format!("m{member}"), Some("t1")).await;
    }
    fund(&client, Account::team("t1").unwrap(), 500).await;
    let outcomes = hammer(&db.url, 64, 4, |client, _| usage(Payer::User(format!("m{}", client % 16)), 7, None)).await;
    assert_eq!(count(&outcomes, "ok"), 500 / 7);
    assert_eq!(count(&outcomes, "insufficient_credits"), 64 * 4 - 500 / 7);
    assert_eq!(scalar(&client, "SELECT credits FROM teams WHERE id = 't1'").await, (500 % 7).to_string());
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_concurrent_copies_of_each_request_are_charged_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("idem_race").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    fund(&client, Account::user("u1").unwrap(), 1000).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 1000).await;
    // 40 clients = 8 requests x 5 copies; each copy of request r uses key "req-r".
    let outcomes = hammer(&db.url, 40, 1, |client, _| {
        let request = client / 5;
        let payer = if request % 2 == 0 { Payer::User("u1".into()) } else { Payer::ApiKey(KeyRef::secret(KEY)) };
        usage(payer, 10, Some(format!("req-{request}")))
    })
    .await;
    assert_eq!(count(&outcomes, "ok"), 40, "{outcomes:?}");
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, "8");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "960");
    assert_eq!(
        scalar(
            &client,
            &format!("SELECT credits FROM api_key_credits WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')")
        )
        .await,
        "960"
    );
    // Replays answer with the original transaction.
    let engine = Engine::new(Native(&client));
    let replay = engine.consume(&usage(Payer::User("u1".into()), 10, Some("req-0".into())), now()).await.unwrap();
    assert!(replay.replayed);
    let original = scalar(
        &client,
        "SELECT response::json->>'transaction_id' FROM credit_idempotency_keys WHERE idempotency_key = 'req-0'",
    )
    .await;
    assert_eq!(replay.transaction_id.unwrap(), original);
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_raced_against_itself_refunds_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("refund_race").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    fund(&client, Account::user("u1").unwrap(), 100).await;
    let engine = Engine::new(Native(&client));
    let charged = engine.consume(&usage(Payer::User("u1".into()), 40, None), now()).await.unwrap();
    let id = charged.transaction_id.unwrap();
    let barrier = Arc::new(Barrier::new(12));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (url, id, barrier) = (db.url.clone(), id.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await.unwrap();
            barrier.wait().await;
            Engine::new(Native(&client)).refund(&id, &RefundScope::User("u1".into()), now()).await.unwrap()
        }));
    }
    let mut replays = 0;
    for task in tasks {
        let result = task.await.unwrap();
        assert_eq!((result.refunded, result.transaction_id.clone()), (40, format!("refund_{id}")));
        replays += usize::from(result.replayed);
    }
    assert_eq!(replays, 11, "one refund, eleven replays");
    assert_eq!(scalar(&client, "SELECT credits FROM users WHERE id = 'u1'").await, "100");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backends_killed_and_connections_cut_mid_statement_leave_no_partial_write() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let db = TestDb::migrated("faults").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(1_000_000), None).await;
    fund(&client, Account::api_key(&key_id(KEY)).unwrap(), 100_000).await;
    let target: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Arc::new(proxy::LatencyProxy::start(target, std::time::Duration::from_micros(300)).await);
    let proxied = format!("postgres://postgres@{}/{}?application_name=fltr-fault-load", proxy.address, db.name);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut workers = Vec::new();
    for _ in 0..16 {
        let url = proxied.clone();
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while tokio::time::Instant::now() < deadline {
                let Ok(client) = connect(&url).await else { continue };
                let engine = Engine::new(Native(&client));
                while tokio::time::Instant::now() < deadline {
                    match engine.consume(&usage(Payer::ApiKey(KeyRef::secret(KEY)), 1, None), now()).await {
                        Ok(_) => ok += 1,
                        Err(error) => {
                            assert_eq!(error.code(), "database_unavailable", "{error}");
                            failed += 1;
                            break;
                        }
                    }
                }
            }
            (ok, failed)
        }));
    }
    // Alternate the two faults while the load runs.
    let mut kills = 0;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        if kills % 2 == 0 {
            client
                .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fltr-fault-load' AND state = 'active'", &[])
                .await
                .unwrap();
        } else {
            proxy.cut_all();
        }
        kills += 1;
    }
    let (mut ok, mut failed) = (0, 0);
    for worker in workers {
        let (o, f) = worker.await.unwrap();
        ok += o;
        failed += f;
    }
    assert!(ok > 100 && failed > 0, "the load ran and faults hit it: ok {ok}, failed {failed}");
    // A cut connection's backend may still be finishing its statement: wait for all to end.
    for _ in 0..100 {
        if scalar(&client, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fltr-fault-load'").await
            == "0"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM credit_transactions WHERE type = 'usage'), credits::bigint, daily_used::bigint FROM api_key_credits WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"
            ),
            &[],
        )
        .await
        .unwrap();
    let (usage_rows, credits, daily_used): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    // A request whose answer was lost may still have committed, never the reverse.
    assert!(
        usage_rows >= i64::from(ok) && usage_rows <= i64::from(ok + failed),
        "rows {usage_rows}, ok {ok}, failed {failed}"
    );
    assert_eq!((credits, daily_used), (100_000 - usage_rows, usage_rows), "balance, counter and ledger moved together");
    assert_eq!(reconcile_drift(&client).await, 0);
}

/// An API-key debit decides in its UPDATE's WHERE and reads the reason only when nothing was
/// debited. Here the WHERE fails on the empty key (0 credits) while a grant of 100 holds the row;
/// the refusal's row lock then waits for that grant and reads the funded row, which passes every
/// check: `contended`, nothing written — and the engine runs the debit again, which charges once.
/// Without the rerun the caller would get a refusal that the row no longer justifies. Both
/// statements (without and with an idempotency key) share that path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_debit_racing_a_grant_is_run_again_and_charged_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    for idempotency_key in [None, Some("race-1".to_string())] {
        let db = TestDb::migrated("contended").await;
        let client = db.client().await;
        user(&client, "u1", None).await;
        api_key(&client, KEY, "u1", None, None, None).await;
        let granting = db.client().await;
        granting.batch_execute("BEGIN").await.unwrap();
        granting
            .batch_execute(&format!("UPDATE api_key_credits SET credits = credits + 100 WHERE key_hash = encode(sha256('{KEY}'::bytea), 'hex')"))
            .await
            .unwrap();
        let request = usage(Payer::ApiKey(KeyRef::secret(KEY)), 1, idempotency_key.clone());
        let debit = {
            let (url, request) = (db.url.clone(), request.clone());
            tokio::spawn(async move {
                let debiting = connect(&url).await.expect("connect");
                Engine::new(Native(&debiting)).consume(&request, now()).await
            })
        };
        // The debit is waiting on the grant's row lock (in its refusal read) before the grant commits.
        let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%debited%'";
        for _ in 0..100 {
            if scalar(&client, waiting).await == "1" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(scalar(&client, waiting).await, "1", "the debit should be blocked on the grant");
        granting.batch_execute("COMMIT").await.unwrap();
        let charged = debit.await.expect("task").expect("charged after the rerun");
        assert_eq!((charged.balance, charged.replayed), (99, false), "{idempotency_key:?}");
        assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, "1");
        if idempotency_key.is_some() {
            // Remembered once, and replayed from then on.
            let engine = Engine::new(Native(&client));
            let again = engine.consume(&request, now()).await.expect("replay");
            assert_eq!((again.replayed, again.transaction_id), (true, charged.transaction_id));
            assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'usage'").await, "1");
        }
    }
}
