//! A statement as the core hands it to an adapter: SQL text plus text parameters.
//!
//! Every parameter travels as text and is cast in SQL (`$1::int`), and every statement selects
//! text columns only (`sql::row`). That keeps the contract with each adapter tiny — the same bytes
//! go through tokio-postgres, a Hyperdrive socket or a JS `query(text, params)` callback, and no
//! driver's type mapping (JS numbers, Date objects) can change a value.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<Option<String>>,
}

impl Statement {
    pub fn new(sql: &'static str) -> Self {
        Statement { sql, params: Vec::new() }
    }

    pub fn param(mut self, value: impl ToString) -> Self {
        self.params.push(Some(value.to_string()));
        self
    }

    pub fn optional(mut self, value: Option<impl ToString>) -> Self {
        self.params.push(value.map(|value| value.to_string()));
        self
    }
}
