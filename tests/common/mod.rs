//! Shared test support: a throwaway database per test on the real Postgres, dropped afterwards.
#![allow(dead_code)]

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
        let name = format!(
            "fltr_test_{}_{}_{}",
            label,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
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
        let mut client = db.client().await;
        let report = fltr_credits::adapters::native::migrator::migrate(&mut client, false).await.expect("migrate");
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
