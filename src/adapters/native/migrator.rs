//! Applies, rolls back and verifies the generated migrations, keeping drizzle's journal.
//!
//! Pending migrations run in one transaction under a table lock and are recorded exactly as
//! drizzle records them. Foreign keys are then validated, each in its own short transaction, so
//! the long scan never holds the lock that blocks writers. Finally the schema is verified.

use crate::adapters::native::database::{execute_batch, run};
use crate::core::error::CreditError;
use crate::schema::ddl::{self, Phase};
use crate::schema::fltr::migrations;
use crate::schema::journal::{self, JournalRow};
use crate::schema::model::{Migration, SchemaState};
use crate::schema::plan::{self, AppliedMigration};
use crate::schema::verify::{self, Drift};
use crate::sql::failure::DbFailure;
use crate::sql::statement::Statement;
use serde::Serialize;
use tokio_postgres::{Client, GenericClient};

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub applied: Vec<&'static str>,
    /// The database had the model's tables but an empty journal (`drizzle-kit push`, pasted SQL).
    pub adopted_existing_tables: Vec<String>,
    pub hash_mismatches: Vec<&'static str>,
    pub validated: Vec<String>,
    pub drift: Vec<Drift>,
    pub dry_run: bool,
    /// For `--dry-run`: the SQL that would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub rolled_back: Vec<&'static str>,
}

fn db(failure: DbFailure) -> CreditError {
    failure.into_credit_error()
}

async fn single_text(client: &impl GenericClient, statement: Statement) -> Result<String, CreditError> {
    let rows = run(client, &statement).await.map_err(db)?;
    rows.into_iter().next().ok_or_else(|| CreditError::internal("expected one row"))
}

async fn read_applied(client: &impl GenericClient) -> Result<Vec<AppliedMigration>, CreditError> {
    let text = single_text(client, Statement::new(journal::READ_APPLIED_SQL)).await?;
    let rows: Vec<JournalRow> = serde_json::from_str(&text).map_err(|error| CreditError::internal(format!("journal: {error}")))?;
    Ok(rows.into_iter().map(|row| AppliedMigration { hash: row.hash, created_at: row.created_at }).collect())
}

async fn ensure_journal(client: &Client) -> Result<(), CreditError> {
    // Two migrators creating the table at once can collide in the catalog; the loser retries
    // and finds it there.
    match execute_batch(client, journal::JOURNAL_TABLE_SQL).await {
        Err(failure) if failure.is_unique_violation() => execute_batch(client, journal::JOURNAL_TABLE_SQL).await.map_err(db),
        other => other.map_err(db),
    }
}

async fn existing_tables(client: &impl GenericClient, state: &SchemaState) -> Result<Vec<String>, CreditError> {
    let text = single_text(client, Statement::new(journal::EXISTING_TABLES_SQL).param(verify::introspect_param(state))).await?;
    serde_json::from_str(&text).map_err(|error| CreditError::internal(format!("existing tables: {error}")))
}

fn transaction_sql(migration: &Migration) -> Vec<String> {
    ddl::up(migration).into_iter().filter(|s| s.phase == Phase::Transaction).map(|s| s.sql).collect()
}

pub async fn migrate(client: &mut Client, dry_run: bool) -> Result<MigrateReport, CreditError> {
    let all = migrations();
    let state = SchemaState::after(&all);
    if dry_run {
        let journal_exists = single_text(client, Statement::new(journal::JOURNAL_EXISTS_SQL)).await? == "true";
        let applied = if journal_exists { read_applied(client).await? } else { Vec::new() };
        let plan = plan::plan(&all, &applied);
        let existing = if applied.is_empty() { existing_tables(client, &state).await? } else { Vec::new() };
        return Ok(MigrateReport {
            applied: plan.pending.iter().map(|m| m.tag).collect(),
            adopted_existing_tables: existing,
            hash_mismatches: plan.hash_mismatches.iter().map(|m| m.tag).collect(),
            validated: Vec::new(),
            drift: Vec::new(),
            dry_run: true,
            sql: plan.pending.iter().map(|m| journal::up_file(m)).collect(),
        });
    }
    ensure_journal(client).await?;
    let transaction = client.transaction().await.map_err(|e| db(crate::adapters::native::database::failure(e)))?;
    execute_batch(&transaction, journal::LOCK_SQL).await.map_err(db)?;
    let applied = read_applied(&transaction).await?;
    let plan = plan::plan(&all, &applied);
    let adopted = if applied.is_empty() { existing_tables(&transaction, &state).await? } else { Vec::new() };
    for migration in &plan.pending {
        for sql in transaction_sql(migration) {
            execute_batch(&transaction, &sql).await.map_err(|failure| {
                CreditError::internal(format!("migration {} failed, nothing was applied: {}", migration.tag, db(failure)))
            })?;
        }
        let record = Statement::new(journal::RECORD_SQL).param(journal::hash(migration)).param(migration.when);
        run(&transaction, &record).await.map_err(db)?;
    }
    transaction.commit().await.map_err(|e| db(crate::adapters::native::database::failure(e)))?;
    let validated = validate_foreign_keys(client, &state).await?;
    let drift = verify_schema(client).await?;
    Ok(MigrateReport {
        applied: plan.pending.iter().map(|m| m.tag).collect(),
        adopted_existing_tables: adopted,
        hash_mismatches: plan.hash_mismatches.iter().map(|m| m.tag).collect(),
        validated,
        drift,
        dry_run: false,
        sql: Vec::new(),
    })
}

/// Validates every model foreign key still marked NOT VALID, each in its own transaction.
async fn validate_foreign_keys(client: &mut Client, state: &SchemaState) -> Result<Vec<String>, CreditError> {
    let names = state.foreign_keys.iter().map(|fk| fk.name).collect::<Vec<_>>().join(",");
    let text = single_text(client, Statement::new(journal::UNVALIDATED_SQL).param(names)).await?;
    let pending: Vec<(String, String)> = serde_json::from_str(&text).map_err(|error| CreditError::internal(format!("{error}")))?;
    let mut validated = Vec::new();
    for (table, name) in pending {
        let sql = format!(
            "BEGIN;\nSET LOCAL lock_timeout = '{}';\nALTER TABLE \"{table}\" VALIDATE CONSTRAINT \"{name}\";\nCOMMIT;",
            ddl::LOCK_TIMEOUT
        );
        if let Err(failure) = execute_batch(client, &sql).await {
            let _ = execute_batch(client, "ROLLBACK").await;
            return Err(CreditError::internal(format!(
                "constraint {name} could not be validated ({}); existing rows violate it — fix them and run migrate again",
                failure.message
            )));
        }
        validated.push(name);
    }
    Ok(validated)
}

pub async fn verify_schema(client: &Client) -> Result<Vec<Drift>, CreditError> {
    let state = SchemaState::after(&migrations());
    let rows = run(client, &Statement::new(verify::INTROSPECT_SQL).param(verify::introspect_param(&state))).await.map_err(db)?;
    let live = verify::decode(&rows)?;
    Ok(verify::compare(&state, &live))
}

pub async fn rollback(client: &mut Client, target: &str) -> Result<RollbackReport, CreditError> {
    let all = migrations();
    ensure_journal(client).await?;
    let transaction = client.transaction().await.map_err(|e| db(crate::adapters::native::database::failure(e)))?;
    execute_batch(&transaction, journal::LOCK_SQL).await.map_err(db)?;
    let applied = read_applied(&transaction).await?;
    let undo = plan::rollback(&all, &applied, target)?;
    for migration in &undo {
        for statement in ddl::down(migration) {
            execute_batch(&transaction, &statement.sql).await.map_err(db)?;
        }
        run(&transaction, &Statement::new(journal::FORGET_SQL).param(migration.when)).await.map_err(db)?;
    }
    transaction.commit().await.map_err(|e| db(crate::adapters::native::database::failure(e)))?;
    Ok(RollbackReport { rolled_back: undo.iter().map(|m| m.tag).collect() })
}
