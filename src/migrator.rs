//! Applies, rolls back and verifies the generated migrations, keeping drizzle's journal — over
//! any adapter that can run a statement and a batch (native, Worker, JS callback).
//!
//! Pending migrations run in one transaction under a table lock and are recorded exactly as
//! drizzle records them. Foreign keys are then validated, each in its own short transaction, so
//! the long scan never holds the lock that blocks writers. Finally the schema is verified.
//! The session must be one connection (a transaction spans several calls); Hyperdrive's
//! transaction pooling keeps a connection for the length of a transaction, which is enough.

use crate::core::error::CreditError;
use crate::engine::Engine;
use crate::schema::ddl::{self, Phase};
use crate::schema::history::migrations;
use crate::schema::journal;
use crate::schema::model::{Migration, SchemaState};
use crate::schema::plan::{self, AppliedMigration};
use crate::schema::verify::{self, Drift};
use crate::sql::executor::{BatchExecutor, Executor};
use crate::sql::failure::DbFailure;
use crate::sql::row::single;
use crate::sql::statement::Statement;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub applied: Vec<&'static str>,
    /// The database had the model's tables but an empty journal (`drizzle-kit push`, pasted SQL).
    pub adopted_existing_tables: Vec<String>,
    pub hash_mismatches: Vec<&'static str>,
    pub validated: Vec<String>,
    /// Key rows found in the seed's plaintext form and moved to hashed form (with the ledger and
    /// idempotency rows that copied their secrets).
    pub hashed_api_keys: i64,
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

async fn read_applied(client: &impl BatchExecutor) -> Result<Vec<AppliedMigration>, CreditError> {
    let rows = client.query(&Statement::new(journal::READ_APPLIED_SQL)).await.map_err(db)?;
    rows.iter()
        .map(|row| Ok(AppliedMigration { hash: row.owned("hash")?, created_at: row.int("created_at")? }))
        .collect()
}

async fn ensure_journal(client: &impl BatchExecutor) -> Result<(), CreditError> {
    // Two migrators creating the table at once can collide in the catalog; the loser retries
    // and finds it there.
    match client.batch(journal::JOURNAL_TABLE_SQL).await {
        Err(failure) if failure.is_unique_violation() => client.batch(journal::JOURNAL_TABLE_SQL).await.map_err(db),
        other => other.map_err(db),
    }
}

/// Runs `work` inside BEGIN/COMMIT, rolling back on any error.
async fn in_transaction<S: BatchExecutor, T>(
    client: &S,
    work: impl AsyncFnOnce(&S) -> Result<T, CreditError>,
) -> Result<T, CreditError> {
    client.batch("BEGIN").await.map_err(db)?;
    match work(client).await {
        Ok(value) => {
            client.batch("COMMIT").await.map_err(db)?;
            Ok(value)
        }
        Err(error) => {
            let _ = client.batch("ROLLBACK").await;
            Err(error)
        }
    }
}

async fn existing_tables(client: &impl BatchExecutor, state: &SchemaState) -> Result<Vec<String>, CreditError> {
    let statement = Statement::new(journal::EXISTING_TABLES_SQL).param(verify::introspect_param(state));
    let rows = client.query(&statement).await.map_err(db)?;
    rows.iter().map(|row| row.owned("name")).collect()
}

fn transaction_sql(migration: &Migration) -> Vec<String> {
    ddl::up(migration).into_iter().filter(|s| s.phase == Phase::Transaction).map(|s| s.sql).collect()
}

pub async fn migrate(client: &impl BatchExecutor, dry_run: bool) -> Result<MigrateReport, CreditError> {
    let all = migrations();
    let state = SchemaState::after(&all);
    if dry_run {
        let journal_exists =
            single("journal", &client.query(&Statement::new(journal::JOURNAL_EXISTS_SQL)).await.map_err(db)?)?
                .boolean("exists")?;
        let applied = if journal_exists { read_applied(client).await? } else { Vec::new() };
        let plan = plan::plan(&all, &applied);
        let existing = if applied.is_empty() { existing_tables(client, &state).await? } else { Vec::new() };
        return Ok(MigrateReport {
            applied: plan.pending.iter().map(|m| m.tag).collect(),
            adopted_existing_tables: existing,
            hash_mismatches: plan.hash_mismatches.iter().map(|m| m.tag).collect(),
            validated: Vec::new(),
            hashed_api_keys: 0,
            drift: Vec::new(),
            dry_run: true,
            sql: plan.pending.iter().map(|m| journal::up_file(m)).collect(),
        });
    }
    ensure_journal(client).await?;
    let (plan, adopted) = in_transaction(client, async |tx| {
        tx.batch(journal::LOCK_SQL).await.map_err(db)?;
        let applied = read_applied(tx).await?;
        let plan = plan::plan(&all, &applied);
        let adopted = if applied.is_empty() { existing_tables(tx, &state).await? } else { Vec::new() };
        for migration in &plan.pending {
            for sql in transaction_sql(migration) {
                tx.batch(&sql).await.map_err(|failure| {
                    CreditError::internal(format!(
                        "migration {} failed, nothing was applied: {}",
                        migration.tag,
                        db(failure)
                    ))
                })?;
            }
            let record = Statement::new(journal::RECORD_SQL).param(journal::hash(migration)).param(migration.when);
            tx.query(&record).await.map_err(db)?;
        }
        Ok((plan, adopted))
    })
    .await?;
    let validated = validate_foreign_keys(client, &state).await?;
    // Every migrate, not only the one that adds the columns: an older FLTR app may have written
    // key rows the seed's way since (API.md "API keys").
    let hashed = Engine::new(client).adopt_plaintext_keys().await?;
    let drift = verify_schema(client).await?;
    Ok(MigrateReport {
        applied: plan.pending.iter().map(|m| m.tag).collect(),
        adopted_existing_tables: adopted,
        hash_mismatches: plan.hash_mismatches.iter().map(|m| m.tag).collect(),
        validated,
        hashed_api_keys: hashed.keys,
        drift,
        dry_run: false,
        sql: Vec::new(),
    })
}

/// Validates every model foreign key still marked NOT VALID, each in its own transaction.
async fn validate_foreign_keys(client: &impl BatchExecutor, state: &SchemaState) -> Result<Vec<String>, CreditError> {
    let names = state.foreign_keys.iter().map(|fk| fk.name).collect::<Vec<_>>().join(",");
    let rows = client.query(&Statement::new(journal::UNVALIDATED_SQL).param(names)).await.map_err(db)?;
    let pending = rows
        .iter()
        .map(|row| Ok((row.owned("table_name")?, row.owned("name")?)))
        .collect::<Result<Vec<_>, CreditError>>()?;
    let mut validated = Vec::new();
    for (table, name) in pending {
        let sql = format!(
            "BEGIN;\nSET LOCAL lock_timeout = '{}';\nALTER TABLE \"{table}\" VALIDATE CONSTRAINT \"{name}\";\nCOMMIT;",
            ddl::LOCK_TIMEOUT
        );
        if let Err(failure) = client.batch(&sql).await {
            let _ = client.batch("ROLLBACK").await;
            return Err(CreditError::internal(format!(
                "constraint {name} could not be validated ({}); existing rows violate it — fix them and run migrate again",
                failure.message
            )));
        }
        validated.push(name);
    }
    Ok(validated)
}

pub async fn verify_schema(client: &impl Executor) -> Result<Vec<Drift>, CreditError> {
    let state = SchemaState::after(&migrations());
    let rows = client
        .query(&Statement::new(verify::INTROSPECT_SQL).param(verify::introspect_param(&state)))
        .await
        .map_err(db)?;
    let live = verify::decode(&rows)?;
    let mut drift = verify::compare(&state, &live);
    // Data drift: secrets at rest. Only asked when the column exists (else that is the drift).
    if !drift.iter().any(|d| d.object == verify::KEY_HASH_COLUMN || d.object == "api_key_credits") {
        let rows = client.query(&Statement::new(verify::PLAINTEXT_KEYS_SQL)).await.map_err(db)?;
        drift.extend(verify::plaintext_keys(single("plaintext keys", &rows)?.int("count")?));
    }
    Ok(drift)
}

pub async fn rollback(client: &impl BatchExecutor, target: &str) -> Result<RollbackReport, CreditError> {
    let all = migrations();
    ensure_journal(client).await?;
    let undone = in_transaction(client, async |tx| {
        tx.batch(journal::LOCK_SQL).await.map_err(db)?;
        let applied = read_applied(tx).await?;
        let undo = plan::rollback(&all, &applied, target)?;
        for migration in &undo {
            for statement in ddl::down(migration) {
                tx.batch(&statement.sql).await.map_err(db)?;
            }
            tx.query(&Statement::new(journal::FORGET_SQL).param(migration.when)).await.map_err(db)?;
        }
        Ok(undo.iter().map(|m| m.tag).collect())
    })
    .await?;
    Ok(RollbackReport { rolled_back: undone })
}

impl MigrateReport {
    /// What a person reads after `migrate`, the same in both CLIs.
    pub fn sentences(&self) -> String {
        let mut lines = Vec::new();
        if !self.adopted_existing_tables.is_empty() {
            lines.push(format!(
                "found existing tables with no drizzle journal ({}): adopting them; every statement is idempotent",
                self.adopted_existing_tables.join(", ")
            ));
        }
        for tag in &self.hash_mismatches {
            lines.push(format!("note: {tag} was recorded from a different file (hash differs); not re-applied"));
        }
        let verb = if self.dry_run { "would apply" } else { "applied" };
        lines.push(if self.applied.is_empty() {
            "no pending migrations".to_string()
        } else {
            format!("{verb} {}", self.applied.join(", "))
        });
        if !self.validated.is_empty() {
            lines.push(format!("validated {}", self.validated.join(", ")));
        }
        if self.hashed_api_keys > 0 {
            lines.push(format!(
                "hashed {} API key(s) stored in plaintext the seed's way; they keep working with the same secret",
                self.hashed_api_keys
            ));
        }
        lines.extend(self.sql.iter().cloned());
        lines.extend(self.drift.iter().map(|drift| format!("drift: {drift}")));
        lines.join("\n")
    }

    pub fn exit_code(&self) -> i32 {
        if self.drift.is_empty() {
            0
        } else {
            crate::exit::DRIFT
        }
    }
}

/// What a person reads after `verify`, the same in both CLIs.
pub fn drift_sentences(drift: &[Drift]) -> String {
    if drift.is_empty() {
        return "schema matches the model: no drift".to_string();
    }
    let lines: Vec<String> = drift.iter().map(|d| format!("  {d}")).collect();
    format!("{} difference(s) from the model:\n{}", drift.len(), lines.join("\n"))
}
