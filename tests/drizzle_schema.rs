//! The committed npm/drizzle.ts (the package's `fltr-credits/drizzle`) and the drizzle-kit
//! snapshots in migrations/meta are exactly what the schema model generates;
//! tests/npm/drizzle.test.mjs proves them against drizzle-kit and Postgres.

use fltr_credits::schema::{drizzle, history::migrations, model::SchemaState};

#[test]
fn npm_drizzle_ts_is_in_sync_with_the_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("npm").join(drizzle::DRIZZLE_PATH);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == drizzle::schema_file(&SchemaState::after(&migrations())),
        "npm/drizzle.ts differs from the model; run `fltr-credits generate`"
    );
}

#[test]
fn drizzle_kit_snapshots_are_in_sync_with_the_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for file in drizzle::snapshot_files(&migrations()) {
        let on_disk = std::fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        assert!(
            on_disk == file.contents,
            "migrations/{} differs from the model; run `fltr-credits generate`",
            file.path
        );
    }
}
