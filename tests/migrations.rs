//! Migrations against a real Postgres: fresh, repeated, partial, drizzle-recorded, push-style,
//! rolled back, drifted, and run concurrently.

mod common;

use common::{cli, scalar, TestDb};
use fltr_credits::migrator::{migrate, rollback, verify_schema};
use fltr_credits::schema::history::migrations;
use fltr_credits::schema::journal;

const SEED_TABLES_BY_HAND: &str = r#"
CREATE TABLE IF NOT EXISTS "api_key_credits" ("api_key" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "team_id" text,
  "credits" integer DEFAULT 0 NOT NULL, "daily_limit" integer, "monthly_limit" integer, "created_at" timestamp NOT NULL, "updated_at" timestamp NOT NULL);
CREATE TABLE IF NOT EXISTS "teams" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "credits" integer DEFAULT 0 NOT NULL,
  "owner_id" text, "created_at" timestamp NOT NULL, "updated_at" timestamp NOT NULL);
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "credits" integer DEFAULT 0 NOT NULL;
ALTER TABLE "api_key_credits" ADD CONSTRAINT "api_key_credits_user_id_users_id_fk"
    FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
"#;

async fn journal_rows(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    client
        .query("SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY created_at", &[])
        .await
        .expect("journal")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn expected_journal() -> Vec<(String, i64)> {
    migrations().iter().map(|m| (journal::hash(m), m.when)).collect()
}

#[tokio::test]
async fn fresh_apply_records_drizzles_journal_and_leaves_no_drift() {
    let db = TestDb::new("fresh").await;
    let client = db.client().await;
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert_eq!(report.applied.len(), migrations().len());
    assert!(report.adopted_existing_tables.is_empty());
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(journal_rows(&client).await, expected_journal());
    assert_eq!(scalar(&client, "SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'").await, "true");
}

#[tokio::test]
async fn applying_twice_applies_nothing_the_second_time() {
    let db = TestDb::migrated("twice").await;
    let client = db.client().await;
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(journal_rows(&client).await, expected_journal());
}

#[tokio::test]
async fn apply_after_half_of_0001_was_run_by_hand() {
    let db = TestDb::new("half").await;
    let client = db.client().await;
    // 0000 applied and recorded as drizzle does, then part of the seed's SQL pasted by hand.
    let first = &migrations()[0];
    client.batch_execute(&journal::up_file(first).replace("--> statement-breakpoint", "")).await.unwrap();
    client.batch_execute(journal::JOURNAL_TABLE_SQL).await.unwrap();
    client
        .execute(
            "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)",
            &[&journal::hash(first), &first.when],
        )
        .await
        .unwrap();
    client.batch_execute(SEED_TABLES_BY_HAND).await.unwrap();
    drop(client);
    let client = db.client().await;
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert_eq!(report.applied, migrations()[1..].iter().map(|m| m.tag).collect::<Vec<_>>());
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(journal_rows(&client).await, expected_journal());
}

#[tokio::test]
async fn a_push_style_database_with_an_empty_journal_is_adopted() {
    let db = TestDb::new("push").await;
    let client = db.client().await;
    for migration in &migrations()[..2] {
        client.batch_execute(&journal::up_file(migration).replace("--> statement-breakpoint", "")).await.unwrap();
    }
    client.execute("INSERT INTO users (id, name, email) VALUES ('u1', 'Ada', 'ada@example.com')", &[]).await.unwrap();
    let client = db.client().await;
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert!(report.adopted_existing_tables.contains(&"users".to_string()), "{:?}", report.adopted_existing_tables);
    assert_eq!(report.applied.len(), migrations().len());
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(scalar(&client, "SELECT count(*) FROM users").await, "1", "adoption keeps the data");
}

#[tokio::test]
async fn rollback_then_reapply_restores_the_same_schema() {
    let db = TestDb::migrated("rollback").await;
    let client = db.client().await;
    let report =
        rollback(&fltr_credits::adapters::native::database::Native(&client), "0000_nifty_bruce_banner").await.unwrap();
    assert_eq!(report.rolled_back, migrations()[1..].iter().rev().map(|m| m.tag).collect::<Vec<_>>());
    assert_eq!(scalar(&client, "SELECT to_regclass('public.teams')").await, "");
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'credits'"
        )
        .await,
        "0"
    );
    assert_eq!(journal_rows(&client).await.len(), 1);
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert_eq!(report.applied.len(), migrations().len() - 1);
    assert!(report.drift.is_empty(), "{:?}", report.drift);
}

#[tokio::test]
async fn verify_reports_a_dropped_column_a_changed_default_a_missing_foreign_key_and_functions() {
    let db = TestDb::migrated("drift").await;
    let client = db.client().await;
    assert!(verify_schema(&fltr_credits::adapters::native::database::Native(&client)).await.unwrap().is_empty());
    client
        .batch_execute(
            r#"ALTER TABLE "credit_transactions" DROP COLUMN "resource_id";
               ALTER TABLE "teams" ALTER COLUMN "credits" SET DEFAULT 10;
               ALTER TABLE "users" DROP CONSTRAINT "users_team_id_teams_id_fk";
               ALTER TABLE "users" ADD COLUMN "plugin_extra" text;
               DROP FUNCTION credit_blocks_left(integer[], integer);
               CREATE OR REPLACE FUNCTION credit_blocks_take(ids text[], deadlines timestamp[], lefts integer[], amount integer)
                 RETURNS jsonb LANGUAGE plpgsql IMMUTABLE STRICT AS $$ BEGIN RETURN '{}'::jsonb; END $$;"#,
        )
        .await
        .unwrap();
    let drift = verify_schema(&fltr_credits::adapters::native::database::Native(&client)).await.unwrap();
    let found: Vec<(&str, &str)> = drift.iter().map(|d| (d.kind, d.object.as_str())).collect();
    assert!(found.contains(&("missing_column", "credit_transactions.resource_id")), "{found:?}");
    assert!(found.contains(&("wrong_default", "teams.credits")), "{found:?}");
    assert!(found.contains(&("missing_constraint", "users_team_id_teams_id_fk")), "{found:?}");
    assert!(found.contains(&("missing_function", "credit_blocks_left(lefts integer[], amount integer)")), "{found:?}");
    assert!(found.iter().any(|(kind, object)| *kind == "wrong_function" && object.starts_with("credit_blocks_take(")));
    assert_eq!(drift.len(), 5, "a plugin's extra column is not drift: {found:?}");
    let (code, stdout, _) = cli(&["verify", "--json", "--database-url", &db.url], &[]);
    assert_eq!(code, 8, "drift exits 8");
    let body: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["drift"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDb::new("race").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let client = fltr_credits::adapters::native::database::connect(&url).await.unwrap();
            migrate(&fltr_credits::adapters::native::database::Native(&client), false)
                .await
                .map(|report| report.applied.len())
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.unwrap().expect("every migrator succeeds");
    }
    assert_eq!(applied, migrations().len(), "each migration applied by exactly one migrator");
    assert_eq!(journal_rows(&db.client().await).await, expected_journal());
}

#[tokio::test]
async fn seed_credits_grants_once_with_a_ledger_row() {
    let db = TestDb::migrated("seed").await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO users (id, name, email) VALUES ('u1', 'A', 'a@x'), ('u2', 'B', 'b@x');
             INSERT INTO users (id, name, email, credits) VALUES ('u3', 'C', 'c@x', 7);",
        )
        .await
        .unwrap();
    let (code, stdout, stderr) = cli(&["seed-credits", "--amount", "100", "--json", "--database-url", &db.url], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["granted_users"], 2);
    let (code, stdout, _) = cli(&["seed-credits", "--amount", "100"], &[("DATABASE_URL", &db.url)]);
    assert_eq!(code, 0);
    assert!(stdout.contains("to 0 user(s)"), "{stdout}");
    assert_eq!(
        scalar(&client, "SELECT string_agg(id || '=' || credits, ',' ORDER BY id) FROM users").await,
        "u1=100,u2=100,u3=7"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM credit_transactions WHERE type = 'grant' AND amount = 100").await,
        "2"
    );
}

#[tokio::test]
async fn cli_failures_are_one_line_with_a_stable_exit_code() {
    let (code, stdout, stderr) = cli(&["verify", "--json", "--database-url", "postgres://postgres@127.0.0.1:1/x"], &[]);
    assert_eq!(code, 6, "{stdout}{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["error"]["code"], "database_unavailable");
    let (code, _, stderr) = cli(&["verify", "--database-url", "not a url"], &[]);
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    let (code, _, stderr) = cli(&["verify"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    let (code, _, _) = cli(&["seed-credits", "--amount", "-5", "--database-url", "postgres://x@127.0.0.1:1/x"], &[]);
    assert_eq!(code, 2, "invalid amount is rejected before connecting");

    let db = TestDb::new("cli_errors").await;
    let (code, stdout, _) = cli(&["seed-credits", "--amount", "5", "--json", "--database-url", &db.url], &[]);
    assert_eq!(code, 7, "{stdout}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["error"]["code"], "schema_not_ready");

    let client = db.client().await;
    let role = format!("fltr_nopriv_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; REVOKE ALL ON SCHEMA public FROM PUBLIC;"
        ))
        .await
        .unwrap();
    let url = format!("{}/{}", common::server_url().replace("postgres@", &format!("{role}@")), db.name);
    let (code, stdout, stderr) = cli(&["migrate", "--json", "--database-url", &url], &[]);
    client.batch_execute(&format!("REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}")).await.unwrap();
    drop(client);
    let admin =
        fltr_credits::adapters::native::database::connect(&format!("{}/postgres", common::server_url())).await.unwrap();
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name)).await;
    let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["error"]["code"], "forbidden");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let db = TestDb::new("dry").await;
    let (code, stdout, stderr) = cli(&["migrate", "--dry-run", "--database-url", &db.url], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("would apply 0000_nifty_bruce_banner"), "{stdout}");
    assert!(stdout.contains("CREATE TABLE IF NOT EXISTS \"users\""));
    let client = db.client().await;
    assert_eq!(scalar(&client, "SELECT to_regclass('drizzle.__drizzle_migrations')").await, "");
    assert_eq!(scalar(&client, "SELECT to_regclass('public.users')").await, "");
}
