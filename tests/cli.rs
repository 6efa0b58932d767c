//! The CLI's credit commands end to end: one JSON object with --json, sentences without, and the
//! contract's exit codes.

mod common;

use common::*;
use serde_json::Value;

const KEY: &str = "fltr_live_cli_key_0000000001";

fn run_json(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--json", "--database-url", &db.url]);
    let (code, stdout, stderr) = cli(&all, &[]);
    let value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not one JSON object: {stdout:?} {stderr}"));
    (code, value)
}

#[tokio::test]
async fn credit_commands_work_end_to_end_with_contract_exit_codes() {
    let db = TestDb::migrated("cli_ops").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(20), None).await;

    let (code, granted) = run_json(&db, &["grant", "--user", "u1", "--amount", "100", "--idempotency-key", "g-1"]);
    assert_eq!((code, granted["balance"].as_i64()), (0, Some(100)));
    let (_, replay) = run_json(&db, &["grant", "--user", "u1", "--amount", "100", "--idempotency-key", "g-1"]);
    assert_eq!(replay["replayed"], true);
    let (code, conflict) = run_json(&db, &["grant", "--user", "u1", "--amount", "99", "--idempotency-key", "g-1"]);
    assert_eq!((code, conflict["error"]["code"].as_str()), (4, Some("idempotency_conflict")));

    let (code, allocated) = run_json(&db, &["allocate", "--api-key", KEY, "--amount", "30"]);
    assert_eq!(
        (code, allocated["balance"].as_i64(), allocated["charged"]["id"].as_str()),
        (0, Some(30), Some(key_id(KEY).as_str()))
    );

    let (code, consumed) = run_json(
        &db,
        &["consume", "--api-key", KEY, "--amount", "15", "--operation", "document.process", "--resource-id", "doc_1"],
    );
    assert_eq!((code, consumed["limits"]["daily"]["remaining"].as_i64()), (0, Some(5)));
    let (code, limited) = run_json(&db, &["consume", "--api-key", KEY, "--amount", "6"]);
    assert_eq!((code, limited["error"]["code"].as_str()), (3, Some("daily_limit_exceeded")));
    assert!(limited["error"]["retry_after"].as_i64().unwrap() > 0);
    let (code, poor) = run_json(&db, &["consume", "--user", "u1", "--amount", "1000"]);
    assert_eq!(
        (code, poor["error"]["code"].as_str(), poor["error"]["balance"].as_i64()),
        (3, Some("insufficient_credits"), Some(70))
    );
    let (code, checked) = run_json(&db, &["check", "--api-key", KEY, "--amount", "5"]);
    assert_eq!((code, checked.get("transaction_id")), (0, None));

    let id = consumed["transaction_id"].as_str().unwrap().to_string();
    let (code, refunded) = run_json(&db, &["refund", "--transaction-id", &id]);
    assert_eq!((code, refunded["refunded"].as_i64(), refunded["balance"].as_i64()), (0, Some(15), Some(30)));
    let (code, missing) = run_json(&db, &["refund", "--transaction-id", "ctx_missing"]);
    assert_eq!((code, missing["error"]["code"].as_str()), (5, Some("not_found")));

    let (code, page) = run_json(&db, &["transactions", "--api-key", KEY, "--limit", "2"]);
    assert_eq!((code, page["transactions"].as_array().unwrap().len()), (0, 2));
    assert!(page["next_cursor"].is_string());
    let (_, balance) = run_json(&db, &["balance", "--user", "u1"]);
    assert_eq!((balance["user"]["credits"].as_i64(), balance["api_keys"][0]["credits"].as_i64()), (Some(70), Some(30)));

    let (code, report) = run_json(&db, &["reconcile"]);
    assert_eq!((code, report["drift"].as_array().unwrap().len()), (0, 0));
    client.execute("UPDATE users SET credits = credits + 5", &[]).await.unwrap();
    let (code, _) = run_json(&db, &["reconcile"]);
    assert_eq!(code, 8, "drift exits 8");
    let (code, adopted) = run_json(&db, &["reconcile", "--adopt"]);
    assert_eq!((code, adopted["adopted"].as_i64()), (0, Some(1)));

    let (code, pruned) = run_json(&db, &["prune-idempotency-keys", "--older-than-hours", "1"]);
    assert_eq!((code, pruned["pruned"].as_i64()), (0, Some(0)), "keys from this test are minutes old");
    client
        .execute("UPDATE credit_idempotency_keys SET created_at = created_at - interval '49 hours'", &[])
        .await
        .unwrap();
    let (_, pruned) = run_json(&db, &["prune-idempotency-keys"]);
    assert_eq!(pruned["pruned"].as_i64(), Some(1));
    let (code, _) = run_json(&db, &["prune-idempotency-keys", "--older-than-hours", "0"]);
    assert_eq!(code, 2);

    let (code, stdout, _) = cli(&["consume", "--user", "u1", "--amount", "2", "--database-url", &db.url], &[]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("consumed 2 credits from user u1: balance 73"), "{stdout}");
}

#[test]
fn bad_input_is_refused_before_touching_the_database() {
    let unreachable = "postgres://nobody@127.0.0.1:1/none";
    for (args, expected) in [
        (vec!["consume", "--user", "u1", "--amount", "0"], "invalid_amount"),
        (vec!["consume", "--user", "u1", "--amount", "2147483648"], "invalid_amount"),
        (vec!["check", "--user", "u1", "--amount", "0"], "invalid_amount"),
        (vec!["consume", "--user", "u1", "--amount", "1", "--operation", "Bad Name"], "invalid_request"),
        (vec!["grant", "--user", "u1", "--amount", "1", "--metadata", "[1]"], "invalid_request"),
        (vec!["transactions", "--user", "u1", "--limit", "500"], "invalid_request"),
        (vec!["transactions", "--user", "u1", "--cursor", "zz"], "invalid_request"),
    ] {
        let mut all = args.clone();
        all.extend(["--json", "--database-url", unreachable]);
        let (code, stdout, _) = cli(&all, &[]);
        let body: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!((code, body["error"]["code"].as_str()), (2, Some(expected)), "{args:?}");
    }
    let (code, _, stderr) = cli(&["consume", "--user", "u1", "--api-key", "k", "--amount", "1"], &[]);
    assert_eq!(code, 2, "two accounts named: {stderr}");
}
