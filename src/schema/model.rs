//! The schema as data. All SQL (up, down, verification) is generated from these values, so the
//! migration files, the verifier and the engine's statements cannot disagree about a name.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Integer,
    Bigint,
    Boolean,
    /// `timestamp` without time zone holding UTC, as Better Auth and the seed use.
    Timestamp,
    Jsonb,
    TextArray,
    IntegerArray,
    TimestampArray,
}

impl SqlType {
    pub fn ddl(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Integer => "integer",
            SqlType::Bigint => "bigint",
            SqlType::Boolean => "boolean",
            SqlType::Timestamp => "timestamp",
            SqlType::Jsonb => "jsonb",
            SqlType::TextArray => "text[]",
            SqlType::IntegerArray => "integer[]",
            SqlType::TimestampArray => "timestamp[]",
        }
    }

    /// The name `information_schema.columns.data_type` reports.
    pub fn catalog_name(self) -> &'static str {
        match self {
            SqlType::Timestamp => "timestamp without time zone",
            SqlType::TextArray | SqlType::IntegerArray | SqlType::TimestampArray => "ARRAY",
            other => other.ddl(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    Integer(i64),
    Boolean(bool),
    Now,
}

impl DefaultValue {
    /// Both the DDL text and what `information_schema.columns.column_default` reports back.
    pub fn sql(self) -> String {
        match self {
            DefaultValue::Integer(value) => value.to_string(),
            DefaultValue::Boolean(value) => value.to_string(),
            DefaultValue::Now => "now()".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub sql_type: SqlType,
    pub not_null: bool,
    pub default: Option<DefaultValue>,
    /// A single-column primary key, rendered inline as drizzle-kit does.
    pub primary_key: bool,
}

impl Column {
    pub const fn new(name: &'static str, sql_type: SqlType) -> Self {
        Column { name, sql_type, not_null: false, default: None, primary_key: false }
    }
    pub const fn not_null(self) -> Self {
        Column { not_null: true, ..self }
    }
    pub const fn primary_key(self) -> Self {
        Column { primary_key: true, not_null: true, ..self }
    }
    pub const fn default(self, value: DefaultValue) -> Self {
        Column { default: Some(value), ..self }
    }
}

/// A named UNIQUE or composite PRIMARY KEY constraint declared inside CREATE TABLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyConstraint {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub primary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferentialAction {
    Cascade,
    SetNull,
    NoAction,
}

impl ReferentialAction {
    /// drizzle-kit's spelling in DDL.
    pub fn ddl(self) -> &'static str {
        match self {
            ReferentialAction::Cascade => "cascade",
            ReferentialAction::SetNull => "set null",
            ReferentialAction::NoAction => "no action",
        }
    }

    /// `pg_constraint.confdeltype` / `confupdtype`.
    pub fn catalog_code(self) -> &'static str {
        match self {
            ReferentialAction::Cascade => "c",
            ReferentialAction::SetNull => "n",
            ReferentialAction::NoAction => "a",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub foreign_table: &'static str,
    pub foreign_columns: &'static [&'static str],
    pub on_delete: ReferentialAction,
    pub on_update: ReferentialAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub unique: bool,
}

impl Index {
    pub const fn new(name: &'static str, table: &'static str, columns: &'static [&'static str]) -> Self {
        Index { name, table, columns, unique: false }
    }
    pub const fn unique(self) -> Self {
        Index { unique: true, ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<Column>,
    pub keys: Vec<KeyConstraint>,
}

/// One step of a migration. The order inside a migration is the order of its statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateTable(Table),
    AddColumn {
        table: &'static str,
        column: Column,
    },
    AddForeignKey(ForeignKey),
    CreateIndex(Index),
    /// A PL/pgSQL function (`CREATE OR REPLACE`: idempotent, no table lock), for arithmetic a hot
    /// statement would otherwise do in subqueries it pays for on every row.
    CreateFunction(Function),
    /// A data step: one idempotent statement that moves existing rows to the new shape (it must
    /// find nothing to do when run again). It has no down: what it rewrote cannot be restored.
    Data {
        name: &'static str,
        sql: &'static str,
    },
}

/// A function the migrations create: `IMMUTABLE STRICT PARALLEL SAFE` PL/pgSQL (STRICT: a NULL
/// argument answers NULL without a call, so callers pay nothing on rows the function has nothing
/// to do for). `body` is the source between the dollar quotes, as `pg_proc.prosrc` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    /// The parameter list, e.g. `lefts integer[], amount integer`.
    pub parameters: &'static str,
    /// `pg_get_function_identity_arguments`' spelling, e.g. `lefts integer[], amount integer`.
    pub identity: &'static str,
    pub returns: &'static str,
    pub body: &'static str,
}

/// A migration as drizzle names it: `tag` is the file stem, `when` the journal's millisecond stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub tag: &'static str,
    pub when: i64,
    pub changes: Vec<Change>,
}

impl Migration {
    pub fn index(&self) -> usize {
        self.tag.get(..4).and_then(|prefix| prefix.parse().ok()).unwrap_or(usize::MAX)
    }

    pub fn foreign_keys(&self) -> impl Iterator<Item = &ForeignKey> {
        self.changes.iter().filter_map(|change| match change {
            Change::AddForeignKey(fk) => Some(fk),
            _ => None,
        })
    }
}

/// The state a database reaches after a list of migrations: what `verify` expects to find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaState {
    pub tables: Vec<Table>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<Index>,
    pub functions: Vec<Function>,
}

impl SchemaState {
    pub fn after(migrations: &[Migration]) -> Self {
        let mut state = SchemaState::default();
        for change in migrations.iter().flat_map(|migration| &migration.changes) {
            match change {
                Change::CreateTable(table) => state.tables.push(table.clone()),
                Change::AddColumn { table, column } => {
                    if let Some(target) = state.tables.iter_mut().find(|t| t.name == *table) {
                        target.columns.push(*column);
                    }
                }
                Change::AddForeignKey(fk) => state.foreign_keys.push(*fk),
                Change::CreateIndex(index) => state.indexes.push(*index),
                Change::CreateFunction(function) => state.functions.push(*function),
                Change::Data { .. } => {}
            }
        }
        state
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|table| table.name == name)
    }
}
