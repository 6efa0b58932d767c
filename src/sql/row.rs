//! A result row as every adapter hands it over: named columns, each text or NULL.
//!
//! Every statement of the core selects text columns only (`x::text`), so no driver's type mapping
//! (JS numbers, Date objects, Postgres binary formats) can change a value on its way here, and
//! decoding is a handful of typed reads — no JSON, no serde — that fail as `internal` when a
//! statement and its decoder disagree.

use crate::core::account::AccountKind;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    columns: Vec<(String, Option<String>)>,
}

/// A column value the statement writes as one of a fixed set of words (`status`, `kind`).
pub trait Word: Sized {
    fn from_word(word: &str) -> Option<Self>;
}

impl Row {
    pub fn new(columns: Vec<(String, Option<String>)>) -> Self {
        Row { columns }
    }

    /// A row from literal pairs (tests, and adapters that already hold `&str`s).
    pub fn of(pairs: &[(&str, Option<&str>)]) -> Self {
        Row { columns: pairs.iter().map(|(name, value)| (name.to_string(), value.map(str::to_string))).collect() }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    /// The column's value; a column the statement does not select is a bug, never NULL.
    pub fn opt_text(&self, name: &str) -> Result<Option<&str>, CreditError> {
        match self.columns.iter().find(|(column, _)| column == name) {
            Some((_, value)) => Ok(value.as_deref()),
            None => Err(broken(name, "is missing")),
        }
    }

    pub fn text(&self, name: &str) -> Result<&str, CreditError> {
        self.opt_text(name)?.ok_or_else(|| broken(name, "is NULL"))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, CreditError> {
        match self.opt_text(name)? {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| broken(name, "is not an integer")),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, CreditError> {
        self.opt_int(name)?.ok_or_else(|| broken(name, "is NULL"))
    }

    /// Postgres `boolean::text`: `true` / `false`.
    pub fn boolean(&self, name: &str) -> Result<bool, CreditError> {
        match self.text(name)? {
            "true" | "t" => Ok(true),
            "false" | "f" => Ok(false),
            _ => Err(broken(name, "is not a boolean")),
        }
    }

    /// A timestamp the statement wrote; unreadable is the statement's bug, not the caller's input.
    pub fn timestamp(&self, name: &str) -> Result<Timestamp, CreditError> {
        Timestamp::parse(self.text(name)?).map_err(|_| broken(name, "is not a timestamp"))
    }

    pub fn word<W: Word>(&self, name: &str) -> Result<W, CreditError> {
        W::from_word(self.text(name)?).ok_or_else(|| broken(name, "holds an unknown word"))
    }

    pub fn opt_owned(&self, name: &str) -> Result<Option<String>, CreditError> {
        Ok(self.opt_text(name)?.map(str::to_string))
    }

    pub fn owned(&self, name: &str) -> Result<String, CreditError> {
        self.text(name).map(str::to_string)
    }
}

impl Word for AccountKind {
    fn from_word(word: &str) -> Option<Self> {
        AccountKind::from_word(word)
    }
}

fn broken(column: &str, what: &str) -> CreditError {
    CreditError::internal(["result column ", column, " ", what].concat())
}

/// The one row an operation returns; any other count is a statement bug.
pub fn single<'r>(operation: &str, rows: &'r [Row]) -> Result<&'r Row, CreditError> {
    match rows {
        [row] => Ok(row),
        _ => {
            Err(CreditError::internal([operation, ": expected one result row, got ", &rows.len().to_string()].concat()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug, PartialEq)]
    enum Colour {
        Red,
    }

    impl Word for Colour {
        fn from_word(word: &str) -> Option<Self> {
            (word == "red").then_some(Colour::Red)
        }
    }

    #[test]
    fn typed_reads_fail_as_internal_never_as_defaults() {
        let row =
            Row::of(&[("n", Some("42")), ("none", None), ("b", Some("true")), ("c", Some("red")), ("x", Some("4x"))]);
        assert_eq!(row.int("n").unwrap(), 42);
        assert_eq!(row.opt_int("none").unwrap(), None);
        assert!(row.boolean("b").unwrap());
        assert_eq!(row.word::<Colour>("c").unwrap(), Colour::Red);
        for error in [
            row.int("none").unwrap_err(),
            row.int("x").unwrap_err(),
            row.text("absent").unwrap_err(),
            row.word::<Colour>("n").unwrap_err(),
            row.boolean("n").unwrap_err(),
        ] {
            assert_eq!(error.code(), "internal");
        }
        assert_eq!(single("op", &[]).unwrap_err().code(), "internal");
        assert_eq!(single("op", &[row.clone(), row]).unwrap_err().code(), "internal");
    }
}
