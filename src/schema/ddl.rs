//! SQL text for the model, in drizzle-kit's formatting, made idempotent and lock-conscious.
//!
//! Every up statement can run again after any partial application: tables and columns use
//! `IF NOT EXISTS`, constraints are added inside a `duplicate_object` guard (Postgres has no
//! `ADD CONSTRAINT IF NOT EXISTS`). Foreign keys are added `NOT VALID` (a brief lock, no scan) and
//! validated by separate statements, which the native migrator runs after the commit.

use crate::schema::model::{Change, Column, ForeignKey, Index, KeyConstraint, Migration, Table};

/// drizzle's statement separator.
pub const BREAKPOINT: &str = "--> statement-breakpoint";
pub const LOCK_TIMEOUT: &str = "5s";
pub const STATEMENT_TIMEOUT: &str = "60s";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Runs inside the migration transaction.
    Transaction,
    /// `VALIDATE CONSTRAINT`: scans the table under a weaker lock; run after the commit.
    Validate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlStatement {
    pub sql: String,
    pub phase: Phase,
}

fn quote_list(names: &[&str]) -> String {
    names.iter().map(|name| format!("\"{name}\"")).collect::<Vec<_>>().join(",")
}

fn column_ddl(column: &Column) -> String {
    let mut text = format!("\"{}\" {}", column.name, column.sql_type.ddl());
    if column.primary_key {
        text.push_str(" PRIMARY KEY");
    }
    if let Some(default) = column.default {
        text.push_str(&format!(" DEFAULT {}", default.sql()));
    }
    if column.not_null {
        text.push_str(" NOT NULL");
    }
    text
}

fn key_ddl(key: &KeyConstraint) -> String {
    let kind = if key.primary { "PRIMARY KEY" } else { "UNIQUE" };
    format!("CONSTRAINT \"{}\" {kind}({})", key.name, quote_list(key.columns))
}

fn create_table(table: &Table) -> String {
    let mut lines: Vec<String> = table.columns.iter().map(|column| format!("\t{}", column_ddl(column))).collect();
    lines.extend(table.keys.iter().map(|key| format!("\t{}", key_ddl(key))));
    format!("CREATE TABLE IF NOT EXISTS \"{}\" (\n{}\n);", table.name, lines.join(",\n"))
}

pub fn foreign_key_clause(fk: &ForeignKey) -> String {
    format!(
        "FOREIGN KEY ({}) REFERENCES \"public\".\"{}\"({}) ON DELETE {} ON UPDATE {}",
        quote_list(fk.columns),
        fk.foreign_table,
        quote_list(fk.foreign_columns),
        fk.on_delete.ddl(),
        fk.on_update.ddl()
    )
}

fn add_foreign_key(fk: &ForeignKey) -> String {
    format!(
        "DO $$ BEGIN\n\tALTER TABLE \"{}\" ADD CONSTRAINT \"{}\" {} NOT VALID;\nEXCEPTION\n\tWHEN duplicate_object THEN null;\nEND $$;",
        fk.table,
        fk.name,
        foreign_key_clause(fk)
    )
}

fn create_index(index: &Index) -> String {
    format!(
        "CREATE {}INDEX IF NOT EXISTS \"{}\" ON \"{}\" USING btree ({});",
        if index.unique { "UNIQUE " } else { "" },
        index.name,
        index.table,
        quote_list(index.columns)
    )
}

fn change_up(change: &Change) -> String {
    match change {
        Change::CreateTable(table) => create_table(table),
        Change::AddColumn { table, column } => {
            format!("ALTER TABLE \"{table}\" ADD COLUMN IF NOT EXISTS {};", column_ddl(column))
        }
        Change::AddForeignKey(fk) => add_foreign_key(fk),
        Change::CreateIndex(index) => create_index(index),
        Change::CreateFunction(function) => format!(
            "CREATE OR REPLACE FUNCTION \"{}\"({}) RETURNS {} LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn${}$fn$;",
            function.name, function.parameters, function.returns, function.body
        ),
        Change::Data { sql, .. } => format!("{};", sql.trim_end().trim_end_matches(';')),
    }
}

fn change_down(change: &Change) -> Option<String> {
    Some(match change {
        Change::CreateTable(table) => format!("DROP TABLE IF EXISTS \"{}\" CASCADE;", table.name),
        Change::AddColumn { table, column } => {
            format!("ALTER TABLE \"{table}\" DROP COLUMN IF EXISTS \"{}\";", column.name)
        }
        Change::AddForeignKey(fk) => {
            format!("ALTER TABLE IF EXISTS \"{}\" DROP CONSTRAINT IF EXISTS \"{}\";", fk.table, fk.name)
        }
        Change::CreateIndex(index) => format!("DROP INDEX IF EXISTS \"{}\";", index.name),
        Change::CreateFunction(function) => {
            format!("DROP FUNCTION IF EXISTS \"{}\"({});", function.name, function.identity)
        }
        Change::Data { .. } => return None,
    })
}

fn timeouts() -> Vec<DdlStatement> {
    [
        format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';"),
        format!("SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}';"),
    ]
    .into_iter()
    .map(|sql| DdlStatement { sql, phase: Phase::Transaction })
    .collect()
}

/// The up statements of one migration, in order.
pub fn up(migration: &Migration) -> Vec<DdlStatement> {
    let mut statements = timeouts();
    statements.extend(
        migration.changes.iter().map(|change| DdlStatement { sql: change_up(change), phase: Phase::Transaction }),
    );
    statements.extend(migration.foreign_keys().map(|fk| DdlStatement {
        sql: format!("ALTER TABLE \"{}\" VALIDATE CONSTRAINT \"{}\";", fk.table, fk.name),
        phase: Phase::Validate,
    }));
    statements
}

/// The down statements of one migration: its changes undone in reverse order.
pub fn down(migration: &Migration) -> Vec<DdlStatement> {
    let mut statements = timeouts();
    statements.extend(
        migration
            .changes
            .iter()
            .rev()
            .filter_map(change_down)
            .map(|sql| DdlStatement { sql, phase: Phase::Transaction }),
    );
    statements
}

/// A file in drizzle's format: statements joined by breakpoints, LF only, no trailing newline.
pub fn render_file(statements: &[DdlStatement]) -> String {
    statements.iter().map(|statement| statement.sql.as_str()).collect::<Vec<_>>().join(&format!("\n{BREAKPOINT}\n"))
}

/// Splits a file as drizzle's migrator does, trimming the whitespace around each piece.
pub fn split_file(text: &str) -> Vec<&str> {
    text.split(BREAKPOINT).map(str::trim).filter(|piece| !piece.is_empty()).collect()
}
