//! drizzle-orm's real migrator and fltr-credits agree on what is applied, both ways.
//! Needs `npm ci` at the repository root (scripts/setup.sh does it).

mod common;

use common::{scalar, TestDb};
use fltr_credits::migrator::migrate;
use fltr_credits::schema::history::migrations;
use fltr_credits::schema::journal;

fn drizzle_migrate(url: &str, folder: &std::path::Path) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drizzle/migrate.mjs");
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/drizzle-orm").exists(),
        "run `npm ci` at the repository root (scripts/setup.sh does)"
    );
    let output = std::process::Command::new("node").arg(&script).arg(url).arg(folder).output().expect("node");
    assert!(output.status.success(), "drizzle migrate failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("drizzle journal JSON")
}

/// A migrations folder holding only the first `count` migrations, as an app at that release had it.
fn folder_with_first(count: usize) -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    let all = migrations();
    for file in journal::files(&all[..count]) {
        let path = dir.path.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, file.contents).unwrap();
    }
    dir
}

mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Self {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("fltr-drizzle-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[tokio::test]
async fn after_drizzle_recorded_0000_fltr_credits_applies_the_rest() {
    let db = TestDb::new("drizzle_first").await;
    let folder = folder_with_first(1);
    let recorded = drizzle_migrate(&db.url, &folder.path);
    assert_eq!(recorded[0]["hash"], journal::hash(&migrations()[0]), "drizzle hashes the file as we do");
    let client = db.client().await;
    let report = migrate(&fltr_credits::adapters::native::database::Native(&client), false).await.unwrap();
    assert_eq!(report.applied, migrations()[1..].iter().map(|m| m.tag).collect::<Vec<_>>());
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert!(report.hash_mismatches.is_empty());
}

#[tokio::test]
async fn after_fltr_credits_migrated_drizzle_finds_nothing_to_do() {
    let db = TestDb::migrated("drizzle_after").await;
    let folder = folder_with_first(migrations().len());
    let recorded = drizzle_migrate(&db.url, &folder.path);
    assert_eq!(recorded.as_array().unwrap().len(), migrations().len(), "drizzle applied nothing more");
}

#[tokio::test]
async fn drizzle_alone_applies_every_file_and_the_schema_verifies() {
    let db = TestDb::new("drizzle_only").await;
    let folder = folder_with_first(migrations().len());
    drizzle_migrate(&db.url, &folder.path);
    let client = db.client().await;
    let drift = fltr_credits::migrator::verify_schema(&fltr_credits::adapters::native::database::Native(&client))
        .await
        .unwrap();
    assert!(drift.is_empty(), "drizzle ran the same statements: {drift:?}");
    assert_eq!(scalar(&client, "SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'").await, "true");
    let client = db.client().await;
    assert!(migrate(&fltr_credits::adapters::native::database::Native(&client), false)
        .await
        .unwrap()
        .applied
        .is_empty());
}
