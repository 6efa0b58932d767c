//! The schema as drizzle-orm tables: `npm/drizzle.ts`, generated from the model by the same
//! `generate` step that writes `migrations/`, and compiled by `npm/build.sh` into the package's
//! `fltr-credits/drizzle` export (`drizzle.js` + `drizzle.d.ts`).
//!
//! One `pgTable` per table the migrations create (Better Auth's, the seed's and the engine's), in
//! the state the last migration leaves: the same column names and order, types, defaults,
//! nullability, primary and unique keys, named foreign keys with their actions, and indexes — so
//! `drizzle-kit generate` on these tables writes the schema our migrations build
//! (tests/npm/drizzle.test.mjs). Property names are the columns' camelCase, as Better Auth's own
//! drizzle schema names them (`emailVerified`, `userId`), so its drizzle adapter takes these tables.
//! The model's functions (migration 0006) are not tables: drizzle has no place for them, and
//! drizzle-kit neither creates nor drops functions.

use crate::core::digest::sha256_hex;
use crate::schema::journal::GeneratedFile;
use crate::schema::model::{
    Column, DefaultValue, ForeignKey, Index, KeyConstraint, Migration, SchemaState, SqlType, Table,
};
use serde_json::{json, Map, Value};

/// The generated TypeScript source, relative to the npm package's folder (`npm/`).
pub const DRIZZLE_PATH: &str = "drizzle.ts";

/// drizzle-orm/pg-core's column builder for a type, and whether it is an array of it.
fn builder(sql_type: SqlType) -> (&'static str, bool) {
    match sql_type {
        SqlType::Text => ("text", false),
        SqlType::Integer => ("integer", false),
        SqlType::Bigint => ("bigint", false),
        SqlType::Boolean => ("boolean", false),
        SqlType::Timestamp => ("timestamp", false),
        SqlType::Jsonb => ("jsonb", false),
        SqlType::TextArray => ("text", true),
        SqlType::IntegerArray => ("integer", true),
        SqlType::TimestampArray => ("timestamp", true),
    }
}

/// `email_verified` -> `emailVerified`, `api_key_credits` -> `apiKeyCredits`.
pub fn camel_case(name: &str) -> String {
    let mut result = String::with_capacity(name.len());
    let mut upper_next = false;
    for character in name.chars() {
        if character == '_' {
            upper_next = !result.is_empty();
        } else if upper_next {
            result.extend(character.to_uppercase());
            upper_next = false;
        } else {
            result.push(character);
        }
    }
    result
}

/// A single-quoted JavaScript string literal.
fn js_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for character in text.chars() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            '\n' => quoted.push_str("\\n"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

/// `emailVerified: boolean('email_verified').default(false).notNull()`.
fn column_line(column: &Column) -> String {
    let (function, array) = builder(column.sql_type);
    let mut text = match column.sql_type {
        // bigint needs a mode; numbers, as the rest of the package returns them.
        SqlType::Bigint => format!("{function}({}, {{ mode: 'number' }})", js_string(column.name)),
        _ => format!("{function}({})", js_string(column.name)),
    };
    if array {
        text.push_str(".array()");
    }
    if column.primary_key {
        text.push_str(".primaryKey()");
    }
    match column.default {
        Some(DefaultValue::Integer(value)) => text.push_str(&format!(".default({value})")),
        Some(DefaultValue::Boolean(value)) => text.push_str(&format!(".default({value})")),
        Some(DefaultValue::Now) => text.push_str(".defaultNow()"),
        None => {}
    }
    // primaryKey() implies NOT NULL, as the inline PRIMARY KEY does in the DDL.
    if column.not_null && !column.primary_key {
        text.push_str(".notNull()");
    }
    format!("{}: {text}", camel_case(column.name))
}

fn columns_of(names: &[&str]) -> String {
    names.iter().map(|name| format!("table.{}", camel_case(name))).collect::<Vec<_>>().join(", ")
}

fn key_line(key: &KeyConstraint) -> String {
    if key.primary {
        format!("primaryKey({{ name: {}, columns: [{}] }})", js_string(key.name), columns_of(key.columns))
    } else {
        format!("unique({}).on({})", js_string(key.name), columns_of(key.columns))
    }
}

fn foreign_key_line(fk: &ForeignKey) -> String {
    let foreign = camel_case(fk.foreign_table);
    let foreign_columns =
        fk.foreign_columns.iter().map(|name| format!("{foreign}.{}", camel_case(name))).collect::<Vec<_>>().join(", ");
    format!(
        "foreignKey({{ name: {}, columns: [{}], foreignColumns: [{foreign_columns}] }}).onDelete({}).onUpdate({})",
        js_string(fk.name),
        columns_of(fk.columns),
        js_string(fk.on_delete.ddl()),
        js_string(fk.on_update.ddl())
    )
}

fn index_line(index: &Index) -> String {
    let function = if index.unique { "uniqueIndex" } else { "index" };
    format!("{function}({}).on({})", js_string(index.name), columns_of(index.columns))
}

/// One `export const … = pgTable(…)`. The extra-config callback's return type is written out so
/// TypeScript need not look into it to type the table: the callbacks of `users` and `teams` name
/// each other (the seed's two foreign keys between them), which would otherwise be a circular
/// inference. drizzle calls the callbacks lazily, after every table exists.
fn table_block(table: &Table, state: &SchemaState) -> String {
    let columns: Vec<String> = table.columns.iter().map(|column| format!("  {},", column_line(column))).collect();
    let mut extras: Vec<String> = table.keys.iter().map(key_line).collect();
    extras.extend(state.foreign_keys.iter().filter(|fk| fk.table == table.name).map(foreign_key_line));
    extras.extend(state.indexes.iter().filter(|index| index.table == table.name).map(index_line));
    let mut text = format!(
        "export const {} = pgTable({}, {{\n{}\n}}",
        camel_case(table.name),
        js_string(table.name),
        columns.join("\n")
    );
    if !extras.is_empty() {
        let lines: Vec<String> = extras.iter().map(|line| format!("  {line},")).collect();
        text.push_str(&format!(", (table): PgTableExtraConfigValue[] => [\n{}\n]", lines.join("\n")));
    }
    text.push_str(");");
    text
}

/// The pg-core names the file uses, sorted, for its one import.
fn imports(state: &SchemaState) -> Vec<&'static str> {
    let mut names = vec!["pgTable"];
    for table in &state.tables {
        names.extend(table.columns.iter().map(|column| builder(column.sql_type).0));
        names.extend(table.keys.iter().map(|key| if key.primary { "primaryKey" } else { "unique" }));
    }
    if !state.foreign_keys.is_empty() {
        names.push("foreignKey");
    }
    names.extend(state.indexes.iter().map(|index| if index.unique { "uniqueIndex" } else { "index" }));
    names.sort_unstable();
    names.dedup();
    names
}

/// `npm/drizzle.ts` for the state the migrations leave: LF only, one trailing newline.
pub fn schema_file(state: &SchemaState) -> String {
    let mut text = String::from(
        "// Generated by `fltr-credits generate` from the schema model (src/schema/history.rs): do not edit.\n\
         // drizzle-orm tables for every table fltr-credits' migrations create, as the last migration leaves\n\
         // them. Import them from 'fltr-credits/drizzle' and pass them to drizzle(); keep running\n\
         // `fltr-credits migrate` (not drizzle-kit) for these tables.\n",
    );
    text.push_str(&format!(
        "import {{ {}, type PgTableExtraConfigValue }} from 'drizzle-orm/pg-core';\n",
        imports(state).join(", ")
    ));
    for table in &state.tables {
        text.push('\n');
        text.push_str(&table_block(table, state));
        text.push('\n');
    }
    text
}

/// A drizzle-kit snapshot id for a migration: UUID-shaped, derived from its tag, so `generate` is
/// deterministic (drizzle-kit only compares ids to chain `prevId`s).
fn snapshot_id(tag: &str) -> String {
    let hex = sha256_hex(format!("fltr-credits drizzle-kit snapshot {tag}").as_bytes());
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// drizzle-kit's first `prevId`.
const FIRST_PREVIOUS_ID: &str = "00000000-0000-0000-0000-000000000000";

fn snapshot_column(column: &Column) -> Value {
    let mut value = json!({
        "name": column.name,
        "type": column.sql_type.ddl(),
        "primaryKey": column.primary_key,
        "notNull": column.not_null,
    });
    if let Some(default) = column.default {
        value["default"] = match default {
            DefaultValue::Integer(number) => json!(number),
            DefaultValue::Boolean(flag) => json!(flag),
            DefaultValue::Now => json!("now()"),
        };
    }
    value
}

fn snapshot_table(table: &Table, state: &SchemaState) -> Value {
    let mut columns = Map::new();
    for column in &table.columns {
        columns.insert(column.name.to_string(), snapshot_column(column));
    }
    let mut indexes = Map::new();
    for index in state.indexes.iter().filter(|index| index.table == table.name) {
        let index_columns: Vec<Value> = index
            .columns
            .iter()
            .map(|name| json!({ "expression": name, "isExpression": false, "asc": true, "nulls": "last" }))
            .collect();
        indexes.insert(
            index.name.to_string(),
            json!({ "name": index.name, "columns": index_columns, "isUnique": index.unique, "concurrently": false, "method": "btree", "with": {} }),
        );
    }
    let mut foreign_keys = Map::new();
    for fk in state.foreign_keys.iter().filter(|fk| fk.table == table.name) {
        foreign_keys.insert(
            fk.name.to_string(),
            json!({
                "name": fk.name, "tableFrom": fk.table, "tableTo": fk.foreign_table, "columnsFrom": fk.columns,
                "columnsTo": fk.foreign_columns, "onDelete": fk.on_delete.ddl(), "onUpdate": fk.on_update.ddl(),
            }),
        );
    }
    let (mut primary_keys, mut unique_keys) = (Map::new(), Map::new());
    for key in &table.keys {
        if key.primary {
            primary_keys.insert(key.name.to_string(), json!({ "name": key.name, "columns": key.columns }));
        } else {
            unique_keys.insert(
                key.name.to_string(),
                json!({ "name": key.name, "nullsNotDistinct": false, "columns": key.columns }),
            );
        }
    }
    json!({
        "name": table.name, "schema": "", "columns": columns, "indexes": indexes, "foreignKeys": foreign_keys,
        "compositePrimaryKeys": primary_keys, "uniqueConstraints": unique_keys, "policies": {},
        "checkConstraints": {}, "isRLSEnabled": false,
    })
}

/// A drizzle-kit version-7 snapshot of a schema state (what drizzle-kit writes to
/// `meta/NNNN_snapshot.json` beside each migration), two-space JSON without a trailing newline.
pub fn snapshot(state: &SchemaState, id: &str, previous_id: &str) -> String {
    let mut tables = Map::new();
    for table in &state.tables {
        tables.insert(format!("public.{}", table.name), snapshot_table(table, state));
    }
    let value = json!({
        "id": id, "prevId": previous_id, "version": "7", "dialect": "postgresql", "tables": tables,
        "enums": {}, "schemas": {}, "sequences": {}, "roles": {}, "policies": {}, "views": {},
        "_meta": { "columns": {}, "schemas": {}, "tables": {} },
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// `meta/NNNN_snapshot.json` for every migration, each the state after it, chained by `prevId`
/// as drizzle-kit chains them: `drizzle-kit generate` on `fltr-credits/drizzle` against the
/// migrations folder then compares with the last one and finds nothing to generate.
pub fn snapshot_files(migrations: &[Migration]) -> Vec<GeneratedFile> {
    let mut previous_id = FIRST_PREVIOUS_ID.to_string();
    let mut files = Vec::with_capacity(migrations.len());
    for (count, migration) in migrations.iter().enumerate() {
        let id = snapshot_id(migration.tag);
        let state = SchemaState::after(&migrations[..=count]);
        let prefix = migration.tag.get(..4).unwrap_or(migration.tag);
        files.push(GeneratedFile {
            path: format!("meta/{prefix}_snapshot.json"),
            contents: snapshot(&state, &id, &previous_id),
        });
        previous_id = id;
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::history::migrations;
    use crate::schema::model::{ReferentialAction, SchemaState};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn current() -> String {
        schema_file(&SchemaState::after(&migrations()))
    }

    #[test]
    fn camel_case_follows_better_auths_field_names() {
        assert_eq!(camel_case("email_verified"), "emailVerified");
        assert_eq!(camel_case("access_token_expires_at"), "accessTokenExpiresAt");
        assert_eq!(camel_case("api_key_credits"), "apiKeyCredits");
        assert_eq!(camel_case("id"), "id");
        assert_eq!(camel_case("_leading"), "leading");
    }

    #[test]
    fn every_table_the_migrations_create_is_exported_once_and_nothing_else() {
        let text = current();
        let state = SchemaState::after(&migrations());
        assert_eq!(text.matches("= pgTable(").count(), state.tables.len());
        for table in &state.tables {
            let head = format!("export const {} = pgTable('{}', {{", camel_case(table.name), table.name);
            assert_eq!(text.matches(&head).count(), 1, "{head}");
        }
        assert!(
            !text.contains("credit_blocks_left") && !text.contains("credit_blocks_take"),
            "functions are not tables"
        );
    }

    #[test]
    fn columns_carry_type_default_nullability_and_key() {
        let text = current();
        for expected in [
            "  id: text('id').primaryKey(),\n",
            "  emailVerified: boolean('email_verified').default(false).notNull(),\n",
            "  image: text('image'),\n",
            "  createdAt: timestamp('created_at').defaultNow().notNull(),\n",
            "  credits: integer('credits').default(0).notNull(),\n",
            "  dailyLimit: integer('daily_limit'),\n",
            "  attempts: integer('attempts').default(1).notNull(),\n",
            "  expiringIds: text('expiring_ids').array(),\n",
            "  expiringAt: timestamp('expiring_at').array(),\n",
            "  expiringLeft: integer('expiring_left').array(),\n",
            "  expiringTake: jsonb('expiring_take'),\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?}");
        }
    }

    #[test]
    fn users_columns_keep_the_order_the_migrations_add_them_in() {
        let text = current();
        let start = text.find("export const users = ").unwrap();
        let block = &text[start..start + text[start..].find("\n}").unwrap()];
        let found: Vec<&str> = block.lines().skip(1).map(|line| line.trim().split(':').next().unwrap()).collect();
        let users = SchemaState::after(&migrations()).table("users").unwrap().clone();
        let expected: Vec<String> = users.columns.iter().map(|column| camel_case(column.name)).collect();
        assert_eq!(found, expected);
        assert_eq!(found[..3], ["id", "name", "email"]);
        assert_eq!(found[7..10], ["credits", "totalCreditsPurchased", "teamId"]);
    }

    #[test]
    fn keys_foreign_keys_and_indexes_keep_their_names_and_actions() {
        let text = current();
        for expected in [
            "unique('users_email_unique').on(table.email)",
            "primaryKey({ name: 'credit_idempotency_keys_pk', columns: [table.accountKind, table.accountId, table.idempotencyKey] })",
            "foreignKey({ name: 'credit_transactions_team_id_teams_id_fk', columns: [table.teamId], foreignColumns: [teams.id] }).onDelete('set null').onUpdate('no action')",
            "foreignKey({ name: 'users_team_id_teams_id_fk', columns: [table.teamId], foreignColumns: [teams.id] }).onDelete('no action').onUpdate('no action')",
            "foreignKey({ name: 'teams_owner_id_users_id_fk', columns: [table.ownerId], foreignColumns: [users.id] }).onDelete('cascade').onUpdate('no action')",
            "index('sessions_userId_idx').on(table.userId)",
            "index('credit_transactions_user_id_created_at_idx').on(table.userId, table.createdAt, table.id)",
            "uniqueIndex('api_key_credits_key_hash_idx').on(table.keyHash)",
        ] {
            assert!(text.contains(expected), "missing {expected}");
        }
        let state = SchemaState::after(&migrations());
        assert_eq!(text.matches("foreignKey({ name:").count(), state.foreign_keys.len());
        assert_eq!(text.matches("ndex('").count(), state.indexes.len());
    }

    #[test]
    fn the_import_names_exactly_the_builders_used() {
        let text = current();
        let import = text.lines().find(|line| line.starts_with("import ")).unwrap();
        assert_eq!(
            import,
            "import { boolean, foreignKey, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uniqueIndex, type PgTableExtraConfigValue } from 'drizzle-orm/pg-core';"
        );
    }

    #[test]
    fn the_file_is_lf_only_with_one_trailing_newline_and_stable() {
        let text = current();
        assert!(!text.contains('\r'));
        assert!(text.ends_with(");\n") && !text.ends_with("\n\n"));
        assert_eq!(text, current(), "deterministic");
    }

    #[test]
    fn a_bigint_gets_a_mode_and_strings_are_escaped() {
        let column = Column::new("big_one", SqlType::Bigint).not_null();
        assert_eq!(column_line(&column), "bigOne: bigint('big_one', { mode: 'number' }).notNull()");
        assert_eq!(js_string("it's \\ odd"), "'it\\'s \\\\ odd'");
        let fk = ForeignKey {
            name: "a_b_fk",
            table: "a",
            columns: &["b_id", "c_id"],
            foreign_table: "b_things",
            foreign_columns: &["id", "c_id"],
            on_delete: ReferentialAction::Cascade,
            on_update: ReferentialAction::SetNull,
        };
        assert_eq!(
            foreign_key_line(&fk),
            "foreignKey({ name: 'a_b_fk', columns: [table.bId, table.cId], foreignColumns: [bThings.id, bThings.cId] }).onDelete('cascade').onUpdate('set null')"
        );
    }

    #[test]
    fn snapshots_chain_one_per_migration_each_the_state_after_it() {
        let all = migrations();
        let files = snapshot_files(&all);
        assert_eq!(files.len(), all.len());
        let mut previous = FIRST_PREVIOUS_ID.to_string();
        for (count, file) in files.iter().enumerate() {
            assert_eq!(file.path, format!("meta/{count:04}_snapshot.json"));
            assert!(!file.contents.ends_with('\n'));
            let value: Value = serde_json::from_str(&file.contents).unwrap();
            assert_eq!(value["version"], "7");
            assert_eq!(value["dialect"], "postgresql");
            assert_eq!(value["prevId"], previous.as_str());
            assert_eq!(value["tables"].as_object().unwrap().len(), SchemaState::after(&all[..=count]).tables.len());
            previous = value["id"].as_str().unwrap().to_string();
            assert_eq!(previous.len(), 36);
        }
        let last: Value = serde_json::from_str(&files.last().unwrap().contents).unwrap();
        let users = &last["tables"]["public.users"];
        assert_eq!(
            users["columns"]["credits"],
            json!({ "name": "credits", "type": "integer", "primaryKey": false, "notNull": true, "default": 0 })
        );
        assert_eq!(users["columns"]["email_verified"]["default"], json!(false));
        assert_eq!(users["columns"]["created_at"]["default"], "now()");
        assert_eq!(users["columns"]["expiring_at"]["type"], "timestamp[]");
        assert_eq!(users["uniqueConstraints"]["users_email_unique"]["columns"], json!(["email"]));
        assert_eq!(users["foreignKeys"]["users_team_id_teams_id_fk"]["onDelete"], "no action");
        let keys =
            &last["tables"]["public.credit_idempotency_keys"]["compositePrimaryKeys"]["credit_idempotency_keys_pk"];
        assert_eq!(keys["columns"], json!(["account_kind", "account_id", "idempotency_key"]));
        let index = &last["tables"]["public.api_key_credits"]["indexes"]["api_key_credits_key_hash_idx"];
        assert_eq!(index["isUnique"], true);
        assert_eq!(index["columns"][0]["expression"], "key_hash");
    }
}
