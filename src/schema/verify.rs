//! Schema drift: one introspection statement reads the live catalog as JSON, and a pure
//! comparison lists every difference from the model. Extra columns (Better Auth plugins add
//! some) and extra tables are not drift.

use crate::core::error::CreditError;
use crate::schema::model::{SchemaState, Table};
use crate::sql::row::Row;
use serde::Serialize;

/// Reads columns, constraints and non-constraint indexes of the given tables (`$1`: a
/// comma-separated list of table names) in the `public` schema, one row each, told apart by
/// `part`; column lists are comma-joined in key order.
pub const INTROSPECT_SQL: &str = r#"WITH wanted AS (SELECT unnest(string_to_array($1::text, ',')) AS name)
SELECT 'column' AS part, c.table_name::text AS "table", c.column_name::text AS name, c.data_type::text AS type,
  (c.is_nullable = 'YES')::text AS nullable, c.column_default::text AS "default", NULL AS columns,
  NULL AS foreign_table, NULL AS foreign_columns, NULL AS on_delete, NULL AS on_update, NULL AS validated
FROM information_schema.columns c
WHERE c.table_schema = 'public' AND c.table_name IN (SELECT name FROM wanted)
UNION ALL
SELECT 'constraint', rel.relname::text, con.conname::text, con.contype::text, NULL, NULL,
  (SELECT string_agg(att.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.num),
  frel.relname::text,
  (SELECT string_agg(att.attname, ',' ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute att ON att.attrelid = con.confrelid AND att.attnum = k.num),
  con.confdeltype::text, con.confupdtype::text, con.convalidated::text
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
LEFT JOIN pg_class frel ON frel.oid = con.confrelid
WHERE ns.nspname = 'public' AND rel.relname IN (SELECT name FROM wanted) AND con.contype IN ('p', 'u', 'f')
UNION ALL
SELECT 'index', tbl.relname::text, idx.relname::text, NULL, NULL, NULL,
  (SELECT string_agg(att.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.num),
  NULL, NULL, NULL, NULL, NULL
FROM pg_index i
JOIN pg_class idx ON idx.oid = i.indexrelid
JOIN pg_class tbl ON tbl.oid = i.indrelid
JOIN pg_namespace ns ON ns.oid = tbl.relnamespace
WHERE ns.nspname = 'public' AND tbl.relname IN (SELECT name FROM wanted)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
UNION ALL
SELECT 'function', NULL, p.proname::text, pg_get_function_identity_arguments(p.oid), NULL, p.prosrc, NULL, NULL, NULL,
  NULL, NULL, NULL
FROM pg_proc p
JOIN pg_namespace ns ON ns.oid = p.pronamespace
WHERE ns.nspname = 'public' AND p.proname IN (SELECT name FROM wanted)"#;

#[derive(Debug, Clone)]
pub struct LiveColumn {
    pub table: String,
    pub column: String,
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LiveConstraint {
    pub table: String,
    pub name: String,
    pub kind: String,
    pub columns: Option<Vec<String>>,
    pub foreign_table: Option<String>,
    pub foreign_columns: Option<Vec<String>>,
    pub on_delete: String,
    pub on_update: String,
    pub validated: bool,
}

#[derive(Debug, Clone)]
pub struct LiveIndex {
    pub table: String,
    pub name: String,
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct LiveSchema {
    pub columns: Vec<LiveColumn>,
    pub constraints: Vec<LiveConstraint>,
    pub indexes: Vec<LiveIndex>,
    pub functions: Vec<LiveFunction>,
}

#[derive(Debug, Clone)]
pub struct LiveFunction {
    pub name: String,
    pub identity: String,
    pub body: String,
}

/// `table.column` of the hash every key is found by: its absence is already drift.
pub const KEY_HASH_COLUMN: &str = "api_key_credits.key_hash";

/// Key rows still holding their secret in plaintext (written the seed's way since the last
/// `migrate`, and not used since).
pub const PLAINTEXT_KEYS_SQL: &str = "SELECT count(*)::text AS count FROM api_key_credits WHERE key_hash IS NULL";

/// Plaintext secrets at rest are drift: `migrate` (or each key's next use) hashes them.
pub fn plaintext_keys(count: i64) -> Option<Drift> {
    (count > 0).then(|| {
        drift(
            "plaintext_api_keys",
            "api_key_credits.api_key",
            "no secret at rest (hashed keys only)",
            format!("{count} key row(s) holding a plaintext secret; run migrate to hash them"),
        )
    })
}

/// One difference between the database and the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Stable kind: missing_table, missing_column, wrong_type, wrong_nullability, wrong_default,
    /// missing_constraint, wrong_constraint, constraint_not_validated, missing_index, wrong_index,
    /// plaintext_api_keys.
    pub kind: &'static str,
    /// The object, as `table`, `table.column` or the constraint/index name.
    pub object: String,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: expected {}, found {}", self.kind, self.object, self.expected, self.found)
    }
}

/// `$1` for [`INTROSPECT_SQL`].
pub fn introspect_param(state: &SchemaState) -> String {
    state
        .tables
        .iter()
        .map(|table| table.name)
        .chain(state.functions.iter().map(|f| f.name))
        .collect::<Vec<_>>()
        .join(",")
}

fn list(row: &Row, name: &str) -> Result<Option<Vec<String>>, CreditError> {
    Ok(row.opt_text(name)?.map(|text| text.split(',').map(str::to_string).collect()))
}

pub fn decode(rows: &[Row]) -> Result<LiveSchema, CreditError> {
    let mut live =
        LiveSchema { columns: Vec::new(), constraints: Vec::new(), indexes: Vec::new(), functions: Vec::new() };
    for row in rows {
        match row.text("part")? {
            "column" => live.columns.push(LiveColumn {
                table: row.owned("table")?,
                column: row.owned("name")?,
                data_type: row.owned("type")?,
                nullable: row.boolean("nullable")?,
                default: row.opt_owned("default")?,
            }),
            "constraint" => live.constraints.push(LiveConstraint {
                table: row.owned("table")?,
                name: row.owned("name")?,
                kind: row.owned("type")?,
                columns: list(row, "columns")?,
                foreign_table: row.opt_owned("foreign_table")?,
                foreign_columns: list(row, "foreign_columns")?,
                on_delete: row.owned("on_delete")?,
                on_update: row.owned("on_update")?,
                validated: row.boolean("validated")?,
            }),
            "function" => live.functions.push(LiveFunction {
                name: row.owned("name")?,
                identity: row.owned("type")?,
                body: row.owned("default")?,
            }),
            "index" => live.indexes.push(LiveIndex {
                table: row.owned("table")?,
                name: row.owned("name")?,
                columns: list(row, "columns")?,
            }),
            _ => return Err(CreditError::internal("introspection: unknown row part")),
        }
    }
    Ok(live)
}

fn drift(
    kind: &'static str,
    object: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Drift {
    Drift { kind, object: object.into(), expected: expected.into(), found: found.into() }
}

fn compare_table(table: &Table, live: &LiveSchema, out: &mut Vec<Drift>) {
    let live_columns: Vec<&LiveColumn> = live.columns.iter().filter(|c| c.table == table.name).collect();
    if live_columns.is_empty() {
        out.push(drift("missing_table", table.name, "table", "nothing"));
        return;
    }
    for column in &table.columns {
        let object = format!("{}.{}", table.name, column.name);
        let Some(found) = live_columns.iter().find(|c| c.column == column.name) else {
            out.push(drift("missing_column", object, column.sql_type.ddl(), "nothing"));
            continue;
        };
        if found.data_type != column.sql_type.catalog_name() {
            out.push(drift("wrong_type", object.clone(), column.sql_type.catalog_name(), &found.data_type));
        }
        if found.nullable == column.not_null {
            let describe = |nullable: bool| if nullable { "nullable" } else { "not null" };
            out.push(drift("wrong_nullability", object.clone(), describe(!column.not_null), describe(found.nullable)));
        }
        let expected_default = column.default.map(|default| default.sql());
        if found.default != expected_default {
            let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "no default".into());
            out.push(drift("wrong_default", object, show(&expected_default), show(&found.default)));
        }
    }
    let primary: Vec<&str> = table.columns.iter().filter(|c| c.primary_key).map(|c| c.name).collect();
    let mut keys: Vec<(String, Vec<&str>, &str)> = Vec::new();
    if !primary.is_empty() {
        keys.push((format!("{}_pkey", table.name), primary, "p"));
    }
    keys.extend(
        table.keys.iter().map(|key| (key.name.to_string(), key.columns.to_vec(), if key.primary { "p" } else { "u" })),
    );
    for (name, columns, kind) in keys {
        // Postgres names an inline primary key `<table>_pkey`; a database made elsewhere may
        // name it differently, so a primary key is matched by kind, a unique by name.
        let found = live
            .constraints
            .iter()
            .find(|c| c.table == table.name && c.kind == kind && (kind == "p" || c.name == name));
        let expected = columns.join(",");
        match found {
            None => out.push(drift("missing_constraint", name, format!("{kind} ({expected})"), "nothing")),
            Some(found) if found.columns.clone().unwrap_or_default().join(",") != expected => {
                out.push(drift("wrong_constraint", name, expected, found.columns.clone().unwrap_or_default().join(",")))
            }
            Some(_) => {}
        }
    }
}

/// Every difference between `live` and `state`, in model order.
pub fn compare(state: &SchemaState, live: &LiveSchema) -> Vec<Drift> {
    let mut out = Vec::new();
    for function in &state.functions {
        let object = format!("{}({})", function.name, function.identity);
        match live.functions.iter().find(|f| f.name == function.name && f.identity == function.identity) {
            None => out.push(drift("missing_function", object, "function", "nothing")),
            Some(found) if found.body != function.body => {
                out.push(drift("wrong_function", object, "the body migrations write", "another body"))
            }
            Some(_) => {}
        }
    }
    for table in &state.tables {
        compare_table(table, live, &mut out);
    }
    for fk in &state.foreign_keys {
        let expected = format!(
            "({}) -> {}({}) on delete {} on update {}",
            fk.columns.join(","),
            fk.foreign_table,
            fk.foreign_columns.join(","),
            fk.on_delete.ddl(),
            fk.on_update.ddl()
        );
        let Some(found) = live.constraints.iter().find(|c| c.name == fk.name && c.table == fk.table && c.kind == "f")
        else {
            out.push(drift("missing_constraint", fk.name, expected, "nothing"));
            continue;
        };
        let same = found.columns.clone().unwrap_or_default() == fk.columns
            && found.foreign_table.as_deref() == Some(fk.foreign_table)
            && found.foreign_columns.clone().unwrap_or_default() == fk.foreign_columns
            && found.on_delete == fk.on_delete.catalog_code()
            && found.on_update == fk.on_update.catalog_code();
        if !same {
            let found_text = format!(
                "({}) -> {}({}) on delete {} on update {}",
                found.columns.clone().unwrap_or_default().join(","),
                found.foreign_table.clone().unwrap_or_default(),
                found.foreign_columns.clone().unwrap_or_default().join(","),
                action_name(&found.on_delete),
                action_name(&found.on_update)
            );
            out.push(drift("wrong_constraint", fk.name, expected, found_text));
        } else if !found.validated {
            out.push(drift("constraint_not_validated", fk.name, "validated", "NOT VALID"));
        }
    }
    for index in &state.indexes {
        let expected = index.columns.join(",");
        match live.indexes.iter().find(|i| i.name == index.name && i.table == index.table) {
            None => out.push(drift("missing_index", index.name, format!("{} ({expected})", index.table), "nothing")),
            Some(found) if found.columns.clone().unwrap_or_default().join(",") != expected => out.push(drift(
                "wrong_index",
                index.name,
                expected,
                found.columns.clone().unwrap_or_default().join(","),
            )),
            Some(_) => {}
        }
    }
    out
}

fn action_name(code: &str) -> &'static str {
    match code {
        "c" => "cascade",
        "n" => "set null",
        "a" => "no action",
        "r" => "restrict",
        "d" => "set default",
        _ => "unknown",
    }
}
