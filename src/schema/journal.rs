//! drizzle's migration folder: `NNNN_tag.sql` files, `meta/_journal.json`, and the hash drizzle
//! records in `drizzle.__drizzle_migrations` (SHA-256 of the whole file, lowercase hex — pinned
//! because drizzle computes exactly that; a different hasher would make both tools disagree).

use crate::schema::ddl;
use crate::schema::model::Migration;

pub const JOURNAL_PATH: &str = "meta/_journal.json";

/// One generated file, relative to the migrations folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: String,
    pub contents: String,
}

pub use crate::core::digest::sha256_hex;

pub fn up_file(migration: &Migration) -> String {
    ddl::render_file(&ddl::up(migration))
}

pub fn down_file(migration: &Migration) -> String {
    ddl::render_file(&ddl::down(migration))
}

/// The hash drizzle records for this migration.
pub fn hash(migration: &Migration) -> String {
    sha256_hex(up_file(migration).as_bytes())
}

/// `meta/_journal.json` exactly as drizzle-kit writes it: two-space JSON, no trailing newline.
pub fn journal(migrations: &[Migration]) -> String {
    let entries: Vec<String> = migrations
        .iter()
        .enumerate()
        .map(|(idx, migration)| {
            format!(
                "    {{\n      \"idx\": {idx},\n      \"version\": \"7\",\n      \"when\": {},\n      \"tag\": \"{}\",\n      \"breakpoints\": true\n    }}",
                migration.when, migration.tag
            )
        })
        .collect();
    format!(
        "{{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n{}\n  ]\n}}",
        entries.join(",\n")
    )
}

/// Every file of the migrations folder: up files, `down/` files and the journal.
pub fn files(migrations: &[Migration]) -> Vec<GeneratedFile> {
    let mut files = Vec::new();
    for migration in migrations {
        files.push(GeneratedFile { path: format!("{}.sql", migration.tag), contents: up_file(migration) });
        files.push(GeneratedFile { path: format!("down/{}.sql", migration.tag), contents: down_file(migration) });
    }
    files.push(GeneratedFile { path: JOURNAL_PATH.to_string(), contents: journal(migrations) });
    files
}

/// drizzle's own DDL for its journal (drizzle-orm `pg-core/dialect.ts`), made safe to repeat.
pub const JOURNAL_TABLE_SQL: &str = "CREATE SCHEMA IF NOT EXISTS \"drizzle\";\nCREATE TABLE IF NOT EXISTS \"drizzle\".\"__drizzle_migrations\" (\n\tid SERIAL PRIMARY KEY,\n\thash text NOT NULL,\n\tcreated_at bigint\n);";

/// Serialises migrators for the rest of the transaction. A table lock, not an advisory lock:
/// it is transaction-scoped and survives Hyperdrive's transaction pooling.
pub const LOCK_SQL: &str = "LOCK TABLE \"drizzle\".\"__drizzle_migrations\" IN SHARE ROW EXCLUSIVE MODE";

pub const READ_APPLIED_SQL: &str =
    "SELECT hash, created_at::text AS created_at FROM \"drizzle\".\"__drizzle_migrations\" ORDER BY created_at";

pub const RECORD_SQL: &str = "INSERT INTO \"drizzle\".\"__drizzle_migrations\" (\"hash\", \"created_at\") VALUES ($1::text, $2::bigint) RETURNING id::text AS id";

pub const FORGET_SQL: &str =
    "DELETE FROM \"drizzle\".\"__drizzle_migrations\" WHERE created_at = $1::bigint RETURNING id::text AS id";

/// Whether the journal table exists (read-only; for `--dry-run`).
pub const JOURNAL_EXISTS_SQL: &str =
    "SELECT (to_regclass('\"drizzle\".\"__drizzle_migrations\"') IS NOT NULL)::text AS exists";

/// Whether any of the model's tables already exist (a `push`-style or hand-made database).
pub const EXISTING_TABLES_SQL: &str = "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY(string_to_array($1::text, ',')) ORDER BY table_name";

/// The model's foreign keys still marked NOT VALID (`$1`: comma-separated constraint names).
pub const UNVALIDATED_SQL: &str = "SELECT rel.relname::text AS table_name, con.conname::text AS name FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = rel.relnamespace WHERE ns.nspname = 'public' AND con.contype = 'f' AND NOT con.convalidated AND con.conname = ANY(string_to_array($1::text, ','))";
