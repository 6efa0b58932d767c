//! `transactions`: an account's ledger, newest first, by keyset pagination on (created_at, id) —
//! stable under concurrent inserts, and served by the `*_created_at_idx` indexes of 0002.

use crate::core::account::{public_key_id, Account};
use crate::core::digest::hex;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use serde::Serialize;
use serde_json::Value;

pub const PAGE_SIZE_MAX: u32 = 100;
pub const PAGE_SIZE_DEFAULT: u32 = 50;

pub const SQL: &str = r#"SELECT t.id, t.amount::text AS amount, t.type, t.operation, t.resource_id, t.api_key_id, t.user_id,
  t.team_id, to_char(t.created_at, 'YYYY-MM-DD HH24:MI:SS.US') AS created_at, t.metadata
FROM credit_transactions t
WHERE (($1::text = 'user' AND t.user_id = $2::text)
    OR ($1::text = 'team' AND t.team_id = $2::text)
    OR ($1::text = 'api_key' AND t.api_key_id = $2::text))
  AND ($4::timestamp IS NULL OR (t.created_at, t.id) < ($4::timestamp, $5::text))
ORDER BY t.created_at DESC, t.id DESC
LIMIT $3::int"#;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction {
    pub id: String,
    pub amount: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub operation: Option<String>,
    pub resource_id: Option<String>,
    /// The key's public id.
    pub api_key_id: Option<String>,
    pub user_id: String,
    pub team_id: Option<String>,
    pub created_at: String,
    /// Parsed when it is JSON (ours always is), else the stored text.
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    pub next_cursor: Option<String>,
}

/// An opaque cursor: hex of `<created_at micros>:<id>` of the last row returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Timestamp,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex(format!("{}:{}", self.created_at.0, self.id).as_bytes())
    }

    pub fn decode(text: &str) -> Result<Self, CreditError> {
        let invalid = || CreditError::invalid_request("cursor is not one this API returned");
        if !text.len().is_multiple_of(2) || text.len() > 1024 {
            return Err(invalid());
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .filter(|pair| pair.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        let plain = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = plain.split_once(':').ok_or_else(invalid)?;
        // Bounded: a forged cursor must not reach Postgres as an out-of-range timestamp or an
        // id with a NUL byte (either would fail the statement, a 500 instead of this 400).
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        if !(0..=CURSOR_MICROS_MAX).contains(&micros) || crate::core::validate::identifier("cursor", id).is_err() {
            return Err(invalid());
        }
        Ok(Cursor { created_at: Timestamp(micros), id: id.to_string() })
    }
}

/// 9999-12-31T23:59:59.999999Z, the last instant a `timestamp` literal of ours can name.
const CURSOR_MICROS_MAX: i64 = 253_402_300_799_999_999;

/// Page size: default 50, at most 100; 0 or more than 100 is invalid.
pub fn page_size(requested: Option<i64>) -> Result<u32, CreditError> {
    match requested {
        None => Ok(PAGE_SIZE_DEFAULT),
        Some(n) if (1..=i64::from(PAGE_SIZE_MAX)).contains(&n) => Ok(n as u32),
        Some(n) => Err(CreditError::invalid_request(format!("limit must be between 1 and {PAGE_SIZE_MAX}, got {n}"))),
    }
}

/// Asks for one row more than the page, to know whether a next page exists.
pub fn plan(account: &Account, limit: u32, cursor: Option<&Cursor>) -> Statement {
    Statement::new(SQL)
        .param(account.kind.as_str())
        .param(&account.id)
        .param(limit + 1)
        .optional(cursor.map(|c| c.created_at.to_sql_literal()))
        .optional(cursor.map(|c| c.id.clone()))
}

pub fn decode(rows: &[Row], limit: u32) -> Result<TransactionPage, CreditError> {
    let page = &rows[..rows.len().min(limit as usize)];
    let next_cursor = match (rows.len() > page.len(), page.last()) {
        (true, Some(last)) => {
            Some(Cursor { created_at: last.timestamp("created_at")?, id: last.owned("id")? }.encode())
        }
        _ => None,
    };
    let transactions = page
        .iter()
        .map(|row| {
            Ok(Transaction {
                id: row.owned("id")?,
                amount: row.int("amount")?,
                kind: row.owned("type")?,
                operation: row.opt_owned("operation")?,
                resource_id: row.opt_owned("resource_id")?,
                api_key_id: row.opt_text("api_key_id")?.map(public_key_id),
                user_id: row.owned("user_id")?,
                team_id: row.opt_owned("team_id")?,
                created_at: row.timestamp("created_at")?.to_rfc3339(),
                metadata: row
                    .opt_text("metadata")?
                    .map(|text| serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))),
            })
        })
        .collect::<Result<Vec<_>, CreditError>>()?;
    Ok(TransactionPage { transactions, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor { created_at: Timestamp(1_764_000_000_123_456), id: "ctx_ab:c".into() };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let forged = |plain: &str| plain.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for plain in ["9223372036854775807:ctx_1", "-1:ctx_1", "1764000000000000:ctx\u{0}1", "1764000000000000:"] {
            assert_eq!(Cursor::decode(&forged(plain)).unwrap_err().code(), "invalid_request", "{plain}");
        }
        for bad in ["zz", "abc", "00", &"ab".repeat(600)] {
            assert_eq!(Cursor::decode(bad).unwrap_err().code(), "invalid_request");
        }
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(100)).unwrap(), 100);
        assert!(page_size(Some(0)).is_err() && page_size(Some(101)).is_err());
    }
}
