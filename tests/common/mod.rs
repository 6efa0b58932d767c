//! Shared test support: a throwaway database per test on the real Postgres, dropped afterwards.
#![allow(dead_code)]

pub mod expiring;
pub mod holds;
pub mod http;

use fltr_credits::adapters::native::database;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::Client;

/// Server URL without a database; override with FLTR_TEST_PG.
pub fn server_url() -> String {
    std::env::var("FLTR_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(label: &str) -> TestDb {
        let name = format!("fltr_test_{}_{}_{}", label, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let admin = database::connect(&format!("{}/postgres", server_url())).await.expect("test Postgres reachable");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\"")).await.expect("drop old database");
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("create database");
        TestDb { url: format!("{}/{name}", server_url()), name }
    }

    pub async fn client(&self) -> Client {
        database::connect(&self.url).await.expect("connect to test database")
    }

    /// A database with every migration applied.
    pub async fn migrated(label: &str) -> TestDb {
        let db = TestDb::new(label).await;
        let client = db.client().await;
        let report = fltr_credits::migrator::migrate(&fltr_credits::adapters::native::database::Native(&client), false)
            .await
            .expect("migrate");
        assert!(report.drift.is_empty(), "fresh migration has drift: {:?}", report.drift);
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = format!("{}/postgres", server_url());
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a private thread and runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(admin) = database::connect(&url).await {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// Runs the CLI binary; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fltr-credits"));
    command.args(args).env_remove("DATABASE_URL").env_remove("AUTH_DATABASE_URL");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run fltr-credits");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub async fn scalar(client: &Client, sql: &str) -> String {
    let row = client.query_one(&format!("SELECT ({sql})::text"), &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.get::<_, Option<String>>(0).unwrap_or_default()
}

pub use fltr_credits::adapters::native::database::Native;
use fltr_credits::core::account::Account;
use fltr_credits::core::validate::Amount;
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::grant::GrantRequest;

pub use fltr_credits::adapters::native::clock::now;

/// Inserts a user (and optionally their team membership) with a zero balance.
pub async fn user(client: &Client, id: &str, team: Option<&str>) {
    client
        .execute(
            "INSERT INTO users (id, name, email, team_id) VALUES ($1, $1, $1 || '@example.com', $2)",
            &[&id, &team],
        )
        .await
        .expect("insert user");
}

pub async fn team(client: &Client, id: &str, owner: Option<&str>) {
    client
        .execute(
            "INSERT INTO teams (id, name, owner_id, created_at, updated_at) VALUES ($1, $1, $2, now(), now())",
            &[&id, &owner],
        )
        .await
        .expect("insert team");
}

/// The public id of a key the tests made from a secret (as adoption derives it).
pub fn key_id(secret: &str) -> String {
    fltr_credits::core::api_key::legacy_id(secret)
}

/// Inserts a key in hashed form (id and hash, never the secret), as `create` or an adoption
/// leaves it; `legacy_api_key` writes one the seed's way.
pub async fn api_key(
    client: &Client,
    key: &str,
    owner: &str,
    team: Option<&str>,
    daily: Option<i32>,
    monthly: Option<i32>,
) {
    let (id, hash, start) = (key_id(key), fltr_credits::core::api_key::hash(key), &key[..9.min(key.len())]);
    client
        .execute(
            "INSERT INTO api_key_credits (api_key, key_hash, start, user_id, team_id, daily_limit, monthly_limit, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())",
            &[&id, &hash, &start, &owner, &team, &daily, &monthly],
        )
        .await
        .expect("insert api key");
}

/// A key row written the seed's way: the secret itself in `api_key`.
pub async fn legacy_api_key(client: &Client, key: &str, owner: &str, team: Option<&str>) {
    client
        .execute(
            "INSERT INTO api_key_credits (api_key, user_id, team_id, created_at, updated_at) VALUES ($1, $2, $3, now(), now())",
            &[&key, &owner, &team],
        )
        .await
        .expect("insert api key");
}

/// Funds an account through the engine, so its ledger matches.
pub async fn fund(client: &Client, account: Account, amount: i64) {
    let engine = Engine::new(Native(client));
    let request = GrantRequest {
        account,
        amount: Amount::new(amount).unwrap(),
        operation: None,
        metadata: None,
        idempotency_key: None,
        expires_at: None,
    };
    engine.grant(&request, now()).await.expect("grant");
}

pub async fn reconcile_drift(client: &Client) -> usize {
    Engine::new(Native(client)).reconcile(false, now()).await.expect("reconcile").drift.len()
}
