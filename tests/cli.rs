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

#[tokio::test]
async fn an_expiring_grant_through_the_cli() {
    let db = TestDb::migrated("cli_expiring").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    let deadline = now().plus_millis(30 * 86_400_000).to_rfc3339();
    let (code, granted) = run_json(&db, &["grant", "--user", "u1", "--amount", "40", "--expires-at", &deadline]);
    assert_eq!(
        (code, granted["balance"].as_i64(), granted["expires_at"].as_str()),
        (0, Some(40), Some(deadline.as_str()))
    );
    let (code, stdout, _) = cli(&["grant", "--user", "u1", "--amount", "2", "--database-url", &db.url], &[]);
    assert_eq!((code, stdout.trim()), (0, "granted 2 credits to user u1: balance 42"));
    let later = now().plus_millis(60 * 86_400_000).to_rfc3339();
    let args = ["grant", "--user", "u1", "--amount", "1", "--expires-at", &later, "--database-url", &db.url];
    let (code, stdout, _) = cli(&args, &[]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), format!("granted 1 credits to user u1, expiring at {later}: balance 43"));
    let (_, balance) = run_json(&db, &["balance", "--user", "u1"]);
    assert_eq!(
        balance["user"]["expiring"],
        serde_json::json!([{"amount": 40, "expires_at": deadline}, {"amount": 1, "expires_at": later}]),
        "one entry per expiring grant, soonest first"
    );
    let (_, stdout, _) = cli(&["balance", "--user", "u1", "--database-url", &db.url], &[]);
    assert!(stdout.contains(&format!("; 40 expire at {deadline}, 1 at {later}")), "{stdout}");
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
        (vec!["grant", "--user", "u1", "--amount", "1", "--expires-at", "2000-01-01T00:00:00Z"], "invalid_request"),
        (vec!["grant", "--user", "u1", "--amount", "1", "--expires-at", "next week"], "invalid_request"),
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

/// The CLI with `input` on standard input (`--api-key -`, `keys revoke-leaked`).
fn run_json_with_stdin(db: &TestDb, args: &[&str], input: &str) -> (i32, Value) {
    use std::io::Write;
    let mut all = args.to_vec();
    all.extend(["--json", "--database-url", &db.url]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fltr-credits"))
        .args(&all)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fltr-credits");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("not one JSON object: {stdout:?} {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap_or(-1), value)
}

#[tokio::test]
async fn the_key_lifecycle_through_the_cli() {
    let db = TestDb::migrated("cli_keys").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    run_json(&db, &["grant", "--user", "u1", "--amount", "100"]);

    let (code, created) = run_json(&db, &["keys", "create", "--user", "u1", "--name", "ci", "--daily-limit", "5"]);
    assert_eq!(code, 0, "{created}");
    let secret = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("fltr_") && id.starts_with("key_"));
    assert_eq!(
        scalar(&client, &format!("SELECT count(*) FROM api_key_credits WHERE api_key LIKE '%{}%'", &secret[5..])).await,
        "0"
    );

    // The secret from standard input, out of `ps`; the id and the secret name the same key.
    let (code, funded) =
        run_json_with_stdin(&db, &["allocate", "--api-key", "-", "--amount", "10"], &format!("{secret}\n"));
    assert_eq!((code, funded["charged"]["id"].as_str()), (0, Some(id.as_str())), "{funded}");
    let (code, spent) = run_json_with_stdin(&db, &["consume", "--api-key", "-", "--amount", "5"], &secret);
    assert_eq!((code, spent["balance"].as_i64()), (0, Some(5)), "{spent}");
    let (code, limited) = run_json(&db, &["consume", "--api-key", &id, "--amount", "1"]);
    assert_eq!((code, limited["error"]["code"].as_str()), (3, Some("daily_limit_exceeded")));

    let (code, listed) = run_json(&db, &["keys", "list", "--user", "u1"]);
    assert_eq!((code, listed["api_keys"][0]["id"].as_str()), (0, Some(id.as_str())));
    assert!(!listed.to_string().contains(&secret[5..]), "a list never shows a secret");
    let (code, updated) =
        run_json(&db, &["keys", "update", "--api-key", &id, "--daily-limit", "none", "--name", "deploy"]);
    assert_eq!((code, updated["daily_limit"].clone(), updated["name"].as_str()), (0, Value::Null, Some("deploy")));
    let (code, bad) = run_json(&db, &["keys", "update", "--api-key", &id, "--daily-limit=-3"]);
    assert_eq!((code, bad["error"]["code"].as_str()), (2, Some("invalid_request")));

    let (code, rotated) = run_json(&db, &["keys", "rotate", "--api-key", &id]);
    assert_eq!(code, 0, "{rotated}");
    let fresh = rotated["key"].as_str().unwrap().to_string();
    let (code, old) = run_json(&db, &["consume", "--api-key", &secret, "--amount", "1"]);
    assert_eq!((code, old["error"]["code"].as_str()), (2, Some("unauthenticated")), "no grace: the old secret is dead");
    assert_eq!(run_json(&db, &["consume", "--api-key", &fresh, "--amount", "1"]).0, 0);

    let (code, revoked) = run_json(&db, &["keys", "revoke", "--api-key", &id]);
    assert_eq!((code, revoked["returned"].as_i64()), (0, Some(4)), "{revoked}");
    assert_eq!(run_json(&db, &["balance", "--user", "u1"]).1["user"]["credits"], 94);
    let (code, again) = run_json(&db, &["keys", "rotate", "--api-key", &id]);
    assert_eq!((code, again["error"]["code"].as_str()), (4, Some("api_key_revoked")));

    // A leaked secret from a scanner's alert, on standard input.
    let (_, other) = run_json(&db, &["keys", "create", "--user", "u1"]);
    let leaked = other["key"].as_str().unwrap().to_string();
    let (code, result) = run_json_with_stdin(&db, &["keys", "revoke-leaked"], &format!("{leaked}\nfltr_unknown\n\n"));
    assert_eq!((code, result["revoked"].as_i64()), (0, Some(1)), "{result}");
    let (code, _) = run_json(&db, &["check", "--api-key", &leaked, "--amount", "1"]);
    assert_eq!(code, 2, "revoked: unauthenticated");
    assert_eq!(reconcile_drift(&client).await, 0);
}

#[tokio::test]
async fn holds_through_the_cli() {
    let db = TestDb::migrated("cli_holds").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, Some(100), None).await;
    run_json(&db, &["grant", "--user", "u1", "--amount", "100"]);
    run_json(&db, &["grant", "--api-key", KEY, "--amount", "500"]);

    let (code, held) = run_json(&db, &["hold", "--user", "u1", "--amount", "60", "--ttl-seconds", "600"]);
    assert_eq!((code, held["available"].as_i64(), held["balance"].as_i64()), (0, Some(40), Some(100)), "{held}");
    let hold = held["hold_id"].as_str().unwrap().to_string();
    let (code, refused) = run_json(&db, &["consume", "--user", "u1", "--amount", "41"]);
    assert_eq!(
        (code, refused["error"]["code"].as_str(), refused["error"]["available"].as_i64()),
        (3, Some("insufficient_credits"), Some(40))
    );
    let (code, shown) = run_json(&db, &["show-hold", "--hold", &hold]);
    assert_eq!((code, shown["state"].as_str()), (0, Some("active")));
    let (code, captured) = run_json(&db, &["capture", "--hold", &hold, "--amount", "25", "--idempotency-key", "c1"]);
    assert_eq!(
        (code, captured["amount"].as_i64(), captured["released"].as_i64(), captured["balance"].as_i64()),
        (0, Some(25), Some(35), Some(75))
    );
    let (_, replay) = run_json(&db, &["capture", "--hold", &hold, "--amount", "25", "--idempotency-key", "c1"]);
    assert_eq!(
        (replay["replayed"].as_bool(), replay["transaction_id"].clone()),
        (Some(true), captured["transaction_id"].clone())
    );
    let (code, closed) = run_json(&db, &["release", "--hold", &hold]);
    assert_eq!(
        (code, closed["error"]["code"].as_str(), closed["error"]["state"].as_str()),
        (4, Some("hold_closed"), Some("captured"))
    );
    // A key's hold takes from its daily window; over the limit is exit 3, as for consume.
    let (code, over) = run_json(&db, &["hold", "--api-key", KEY, "--amount", "101"]);
    assert_eq!((code, over["error"]["code"].as_str()), (3, Some("daily_limit_exceeded")));
    let (_, key_hold) = run_json(&db, &["hold", "--api-key", KEY, "--amount", "100", "--ttl-seconds", "1"]);
    assert_eq!(key_hold["limits"]["daily"]["remaining"].as_i64(), Some(0));
    // Bad input before the database: an unknown hold id shape is 404, a negative capture 400.
    let (code, bad) = run_json(&db, &["capture", "--hold", "ctx_nope"]);
    assert_eq!((code, bad["error"]["code"].as_str()), (5, Some("not_found")));
    let (code, bad) = run_json(&db, &["capture", "--hold", &hold, "--amount", "-1"]);
    assert_eq!((code, bad["error"]["code"].as_str()), (2, Some("invalid_amount")));
    let (code, bad) = run_json(&db, &["hold", "--user", "u1", "--amount", "1", "--ttl-seconds", "86401"]);
    assert_eq!((code, bad["error"]["code"].as_str()), (2, Some("invalid_request")));
    // The 1-second hold expires by itself; the sweep tidies it; reconcile is clean throughout.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, swept) = run_json(&db, &["sweep"]);
    assert_eq!((code, swept["expired_holds"].as_i64()), (0, Some(1)));
    let (code, text, _) = cli(&["sweep", "--database-url", &db.url], &[]);
    assert_eq!((code, text.trim()), (0, "closed 0 expired hold(s) and expired 0 block(s) of credits on 0 account(s)"));
    let (code, report) = run_json(&db, &["reconcile"]);
    assert_eq!((code, report["holds"].as_array().map(Vec::len)), (0, Some(0)), "{report}");
}
