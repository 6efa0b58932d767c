//! Usage net of refunds (`sql::ops::usage`) on real Postgres: the engine and the CLI agree with
//! the ledger, and the one statement is index-backed — EXPLAIN on a ledger of 200 000 rows, in
//! the custom and the generic plan Postgres may cache, shows no sequential scan of
//! `credit_transactions` for a user, a team or a key.

mod common;

use common::*;
use fltr_credits::core::account::Account;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::ops::refund::RefundScope;
use fltr_credits::sql::ops::usage::{self, UsageQuery};
use serde_json::{json, Value};

const KEY: &str = "fltr_live_usage_key_00000001";

async fn spend(client: &tokio_postgres::Client, payer: Payer, amount: i64, operation: &str, at: &str) -> String {
    let engine = Engine::new(Native(client));
    let request = ConsumeRequest {
        payer,
        amount: Amount::new(amount).unwrap(),
        operation: Operation::new(operation).unwrap(),
        resource_id: None,
        metadata: None,
        idempotency_key: None,
    };
    let id = engine.consume(&request, now()).await.unwrap().transaction_id.unwrap();
    client
        .execute("UPDATE credit_transactions SET created_at = $2::text::timestamp WHERE id = $1", &[&id, &at])
        .await
        .unwrap();
    id
}

fn run_json(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--json", "--database-url", &db.url]);
    let (code, stdout, stderr) = cli(&all, &[]);
    (code, serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not one JSON object: {stdout:?} {stderr}")))
}

#[tokio::test]
async fn the_engine_and_the_cli_count_usage_net_of_refunds_on_the_usage_day() {
    let db = TestDb::migrated("usage_engine").await;
    let client = db.client().await;
    user(&client, "u1", None).await;
    api_key(&client, KEY, "u1", None, None, None).await;
    client.batch_execute("UPDATE users SET credits = 500 WHERE id = 'u1'").await.unwrap();
    client.execute("UPDATE api_key_credits SET credits = 50 WHERE api_key = $1", &[&key_id(KEY)]).await.unwrap();
    let engine = Engine::new(Native(&client));
    let me = || Payer::User("u1".into());
    spend(&client, me(), 5, "document.process", "2026-11-03 00:00:00").await;
    let refunded = spend(&client, me(), 3, "image.render", "2026-11-03 23:59:59.999999").await;
    let key = Payer::from_account(&Account::api_key(&key_id(KEY)).unwrap());
    spend(&client, key, 7, "document.process", "2026-11-04 12:00:00").await;
    spend(&client, me(), 9, "document.process", "2026-12-01 00:00:00").await;
    engine.refund(&refunded, &RefundScope::Any, now()).await.unwrap();

    let query = UsageQuery::parse(Some("2026-11-01"), Some("2026-12-01"), Some("day,operation")).unwrap();
    let report = engine.usage(&Account::user("u1").unwrap(), &query).await.unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap()["usage"],
        json!([
            {"day": "2026-11-03", "operation": "document.process", "amount": 5, "count": 1},
            {"day": "2026-11-04", "operation": "document.process", "amount": 7, "count": 1}
        ])
    );

    let (code, by_key) = run_json(
        &db,
        &["usage", "--user", "u1", "--from", "2026-11-01", "--to", "2026-12-02", "--group-by", "api_key"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        by_key,
        json!({"from": "2026-11-01", "to": "2026-12-02", "group_by": ["api_key"], "usage": [
            {"api_key_id": key_id(KEY), "amount": 7, "count": 1},
            {"api_key_id": null, "amount": 14, "count": 2}
        ]})
    );
    let (code, as_key) = run_json(&db, &["usage", "--api-key", KEY, "--from", "2026-11-01", "--to", "2026-12-01"]);
    assert_eq!((code, as_key["usage"].clone()), (0, json!([{"day": "2026-11-04", "amount": 7, "count": 1}])));
    let (code, stdout, _) =
        cli(&["usage", "--user", "u1", "--from", "2026-11-01", "--to", "2026-12-01", "--database-url", &db.url], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("2026-11-03  5 credits (1 uses)"), "{stdout}");
    assert!(stdout.contains("12 credits used from 2026-11-01 to 2026-12-01 (excluded), net of refunds"), "{stdout}");
    for range in [["2026-11-01", "2026-11-01"], ["2025-01-01", "2026-01-03"], ["2026-11-01", "tomorrow"]] {
        let (code, error) = run_json(&db, &["usage", "--user", "u1", "--from", range[0], "--to", range[1]]);
        assert_eq!((code, error["error"]["code"].as_str()), (2, Some("invalid_request")), "{range:?}");
    }
}

/// `EXPLAIN EXECUTE` of the statement prepared with text parameters (as every adapter sends
/// them), under the given `plan_cache_mode`.
async fn plan_of(client: &tokio_postgres::Client, statement: &fltr_credits::sql::Statement, mode: &str) -> String {
    let types = vec!["text"; statement.params.len()].join(", ");
    let literals: Vec<String> = statement
        .params
        .iter()
        .map(|p| p.as_ref().map_or("NULL".to_string(), |text| format!("'{}'", text.replace('\'', "''"))))
        .collect();
    client
        .batch_execute(&format!(
            "DEALLOCATE ALL; SET plan_cache_mode = {mode}; PREPARE usage_plan ({types}) AS {}",
            statement.sql
        ))
        .await
        .unwrap();
    let rows = client.query(&format!("EXPLAIN EXECUTE usage_plan ({})", literals.join(", ")), &[]).await.unwrap();
    rows.iter().map(|row| row.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn the_usage_statement_is_index_backed_on_a_ledger_of_200_000_rows() {
    let db = TestDb::migrated("usage_explain").await;
    let client = db.client().await;
    // 2 000 users, 100 teams, 4 000 keys; 200 000 ledger rows over two years, 80 % usage, the rest
    // grants, and one usage in eleven refunded a day later.
    client
        .batch_execute(
            "INSERT INTO users (id, name, email) SELECT 'u' || g, 'u', 'u' || g || '@example.com' FROM generate_series(1, 2000) g;
             INSERT INTO teams (id, name, created_at, updated_at) SELECT 't' || g, 't', now(), now() FROM generate_series(1, 100) g;
             INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, api_key_id, created_at)
               SELECT 'ctx_' || g, 'u' || (g % 2000 + 1), CASE WHEN g % 3 = 0 THEN 't' || (g % 100 + 1) END,
                 CASE WHEN g % 5 = 0 THEN 10 ELSE -(g % 7 + 1) END,
                 CASE WHEN g % 5 = 0 THEN 'grant' ELSE 'usage' END,
                 'op_' || (g % 4), CASE WHEN g % 4 = 0 THEN 'key_' || (g % 4000) END,
                 timestamp '2025-01-01' + (g % 730) * interval '1 day' + (g % 86400) * interval '1 second'
               FROM generate_series(1, 200000) g;
             INSERT INTO credit_transactions (id, user_id, amount, type, created_at)
               SELECT 'refund_' || t.id, t.user_id, -t.amount, 'refund', t.created_at + interval '1 day'
               FROM credit_transactions t WHERE t.type = 'usage' AND substr(t.id, 5)::int % 11 = 0;
             ANALYZE credit_transactions;",
        )
        .await
        .unwrap();
    let query = UsageQuery::parse(Some("2025-01-01"), Some("2026-01-01"), Some("day,operation,api_key")).unwrap();
    let accounts = [
        (Account::user("u8").unwrap(), "credit_transactions_user_id_created_at_idx"),
        (Account::team("t8").unwrap(), "credit_transactions_team_id_created_at_idx"),
        (Account::api_key("key_8").unwrap(), "credit_transactions_api_key_id_created_at_idx"),
    ];
    for (account, index) in &accounts {
        let statement = usage::plan(account, &query);
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let plan = plan_of(&client, &statement, mode).await;
            assert!(!plan.contains("Seq Scan"), "{} ({mode}) scans a table:\n{plan}", account.kind.as_str());
            assert!(plan.contains(index), "{} ({mode}) does not use {index}:\n{plan}", account.kind.as_str());
            assert!(plan.contains("credit_transactions_pkey"), "refunds by primary key ({mode}):\n{plan}");
        }
        // And it answers: the same sums as a plain query of the ledger.
        let engine = Engine::new(Native(&client));
        let report = engine.usage(account, &query).await.unwrap();
        let column = match account.kind.as_str() {
            "user" => "user_id",
            "team" => "team_id",
            _ => "api_key_id",
        };
        let expected = scalar(
            &client,
            &format!(
                "SELECT -sum(u.amount + coalesce(r.amount, 0)) FROM credit_transactions u
                 LEFT JOIN credit_transactions r ON r.id = 'refund_' || u.id
                 WHERE u.type = 'usage' AND u.{column} = '{}' AND u.created_at >= '2025-01-01' AND u.created_at < '2026-01-01'",
                account.id
            ),
        )
        .await;
        let total: i64 = report.usage.iter().map(|row| row.amount).sum();
        assert_eq!(total.to_string(), expected, "{}", account.kind.as_str());
        assert!(!report.usage.is_empty());
    }
}
