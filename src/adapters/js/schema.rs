//! The migrations, from the same generator as the native CLI and `migrations/`.

use crate::adapters::js::convert::{error_value, to_js};
use crate::core::error::CreditError;
use crate::schema::history::migrations as all_migrations;
use crate::schema::{journal, plan};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[derive(Serialize)]
struct MigrationFile {
    tag: &'static str,
    when: i64,
    /// What drizzle records in `drizzle.__drizzle_migrations.hash`.
    hash: String,
    up: String,
    down: String,
}

/// Every migration: `{ tag, when, hash, up, down }`, oldest first (drizzle-kit's files exactly).
#[wasm_bindgen(unchecked_return_type = "MigrationFile[]")]
pub fn migrations() -> Result<JsValue, JsValue> {
    let files: Vec<MigrationFile> = all_migrations()
        .iter()
        .map(|m| MigrationFile {
            tag: m.tag,
            when: m.when,
            hash: journal::hash(m),
            up: journal::up_file(m),
            down: journal::down_file(m),
        })
        .collect();
    to_js(&files)
}

/// The SQL `fltr-credits sql up|down [--to TAG]` prints.
pub fn sql_text(direction: &str, to: Option<&str>) -> Result<String, CreditError> {
    let all = all_migrations();
    let files: Vec<String> = match direction {
        "up" => plan::up_to(&all, to)?.into_iter().map(journal::up_file).collect(),
        "down" => {
            let everything: Vec<_> =
                all.iter().map(|m| plan::AppliedMigration { hash: journal::hash(m), created_at: m.when }).collect();
            plan::rollback(&all, &everything, to.unwrap_or("none"))?.into_iter().map(journal::down_file).collect()
        }
        other => {
            return Err(CreditError::invalid_request(format!("direction must be \"up\" or \"down\", got {other:?}")))
        }
    };
    Ok(files.join("\n--> statement-breakpoint\n"))
}

/// `migrationSql('up')`: every up migration (the seed's "Direct SQL Execution"); `'up', '0001'`
/// stops after 0001; `'down', '0000'` undoes everything after 0000 (default: everything).
#[wasm_bindgen(js_name = migrationSql)]
pub fn migration_sql(
    #[wasm_bindgen(unchecked_param_type = "'up' | 'down'")] direction: &str,
    to: Option<String>,
) -> Result<String, JsValue> {
    sql_text(direction, to.as_deref()).map_err(|error| error_value(&error))
}
