//! `GET /health`: is the database reachable, are the migrations applied, which version runs.
//!
//! One statement, read fresh: `clock_timestamp()` is volatile, so Hyperdrive never answers it
//! from its query cache (a cached "ok" could hide a database that went away a minute ago).

use crate::core::error::CreditError;
use crate::http::config::VERSION;
use crate::http::response::HttpResponse;
use crate::schema::history::migrations;
use crate::sql::executor::Executor;
use crate::sql::row::{single, Row};
use crate::sql::statement::Statement;
use serde_json::json;

/// The newest applied migration and which of the tables the engine uses exist. A missing
/// `drizzle` journal fails the statement with 3F000/42P01: the schema was never migrated.
pub const SQL: &str = r#"SELECT (SELECT max(created_at) FROM "drizzle"."__drizzle_migrations")::text AS latest,
  (SELECT count(*) FROM unnest(string_to_array($1::text, ',')) AS t(name)
    WHERE to_regclass(quote_ident('public') || '.' || quote_ident(t.name)) IS NOT NULL)::text AS tables_found,
  (SELECT count(*) FROM credit_unfulfilled_purchases)::text AS unfulfilled_purchases,
  clock_timestamp()::text AS read_at"#;

/// The tables every credit operation touches.
pub const TABLES: [&str; 7] = [
    "users",
    "sessions",
    "teams",
    "api_key_credits",
    "credit_transactions",
    "credit_idempotency_keys",
    "credit_unfulfilled_purchases",
];

struct Found {
    latest: Option<i64>,
    tables_found: i64,
    unfulfilled_purchases: i64,
}

fn found(rows: &[Row]) -> Result<Found, CreditError> {
    let row = single("health", rows)?;
    Ok(Found {
        latest: row.opt_int("latest")?,
        tables_found: row.int("tables_found")?,
        unfulfilled_purchases: row.int("unfulfilled_purchases")?,
    })
}

fn answer(status: u16, database: &str, schema: &str, detail: Option<String>) -> HttpResponse {
    let mut body = json!({
        "status": if status == 200 { "ok" } else { "error" },
        "database": database,
        "schema": schema,
        "version": VERSION,
    });
    if let (Some(detail), Some(object)) = (detail, body.as_object_mut()) {
        object.insert("message".into(), json!(detail));
    }
    HttpResponse::json(status, body).with_header("Cache-Control", "no-store")
}

pub async fn health<E: Executor>(executor: &E) -> HttpResponse {
    let expected = migrations().last().map(|migration| migration.when).unwrap_or(0);
    let statement = Statement::new(SQL).param(TABLES.join(","));
    let outcome = executor.query(&statement).await.map_err(|failure| failure.into_credit_error());
    match outcome.and_then(|rows| found(&rows)) {
        Ok(row) if row.tables_found == TABLES.len() as i64 && row.latest.is_some_and(|latest| latest >= expected) => {
            // Still 200: the service works; the count tells the operator that Stripe is retrying
            // purchases that need their attention (`reconcile` lists them).
            let mut response = answer(200, "ok", "ok", None);
            if let Some(object) = response.body.as_mut().and_then(|body| body.as_object_mut()) {
                object.insert("unfulfilled_purchases".into(), json!(row.unfulfilled_purchases));
            }
            response
        }
        Ok(row) if row.latest.is_some_and(|latest| latest >= expected) => answer(
            503,
            "ok",
            "missing",
            Some(format!("{} of {} tables exist; run migrate", row.tables_found, TABLES.len())),
        ),
        Ok(_) => answer(
            503,
            "ok",
            "pending",
            Some("migrations are pending; run `fltr-credits migrate` or POST /admin/migrate".into()),
        ),
        Err(CreditError::SchemaNotReady { .. }) => answer(
            503,
            "ok",
            "missing",
            Some("the database was never migrated; run `fltr-credits migrate` or POST /admin/migrate".into()),
        ),
        Err(error @ CreditError::DatabaseUnavailable { .. }) => {
            let mut response = answer(503, "unavailable", "unknown", Some("database unreachable".into()));
            response.log = error.detail().map(str::to_string);
            response
        }
        Err(other) => {
            let mut response =
                answer(503, "error", "unknown", Some(format!("database check failed ({})", other.code())));
            response.log = Some(other.detail().unwrap_or(&other.to_string()).to_string());
            response
        }
    }
}
