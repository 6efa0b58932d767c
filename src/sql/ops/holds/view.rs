//! One hold as its maker (or the service) sees it: API.md `GET /api/v1/credits/holds/{hold_id}`.
//! An active hold past its deadline reads `expired` at once, whether or not the sweep has run.

use crate::core::account::{Account, AccountRef};
use crate::core::error::CreditError;
use crate::core::hold::HoldState;
use crate::core::time::Timestamp;
use crate::sql::ops::holds::close::{hold_of_actor, Actor};
use crate::sql::row::{single, Row, Word};
use crate::sql::statement::Statement;
use serde::Serialize;

/// `clock_timestamp()` keeps Hyperdrive from answering from its cache.
pub const SQL: &str = concat!(
    r#"SELECT h.id, CASE WHEN h.state = 'active' AND h.expires_at <= $4::timestamp THEN 'expired' ELSE h.state END AS state,
  h.account_kind, h.account_id, h.amount::text AS amount, h.captured::text AS captured, h.operation, h.resource_id,
  h.transaction_id, h.expires_at::text AS expires_at, h.created_at::text AS created_at, h.closed_at::text AS closed_at,
  clock_timestamp()::text AS read_at
FROM credit_holds h WHERE h.id = $1::text AND "#,
    hold_of_actor!("$2", "$3")
);

impl Word for HoldState {
    fn from_word(word: &str) -> Option<Self> {
        HoldState::from_word(word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub hold_id: String,
    pub state: HoldState,
    pub amount: i64,
    /// What a capture took (0 for a release or a capture of 0); null while active or once expired.
    pub captured: Option<i64>,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub expires_at: Timestamp,
    pub charged: AccountRef,
    pub operation: String,
    pub resource_id: Option<String>,
    /// The capture's usage row, when it wrote one.
    pub transaction_id: Option<String>,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339_option")]
    pub closed_at: Option<Timestamp>,
}

pub fn plan(hold_id: &str, actor: &Actor, now: Timestamp) -> Result<Statement, CreditError> {
    crate::core::hold::hold_id(hold_id)?;
    let (kind, id) = actor.parts();
    Ok(Statement::new(SQL).param(hold_id).param(kind).param(id).param(now.to_sql_literal()))
}

pub fn decode(rows: &[Row]) -> Result<Hold, CreditError> {
    if rows.is_empty() {
        return Err(CreditError::not_found("no such hold"));
    }
    let row = single("hold", rows)?;
    let charged = Account { kind: row.word("account_kind")?, id: row.owned("account_id")? };
    Ok(Hold {
        hold_id: row.owned("id")?,
        state: row.word("state")?,
        amount: row.int("amount")?,
        captured: row.opt_int("captured")?,
        expires_at: row.timestamp("expires_at")?,
        charged: AccountRef::public(charged.kind, &charged.id),
        operation: row.owned("operation")?,
        resource_id: row.opt_owned("resource_id")?,
        transaction_id: row.opt_owned("transaction_id")?,
        created_at: row.timestamp("created_at")?,
        closed_at: match row.opt_text("closed_at")? {
            Some(_) => Some(row.timestamp("closed_at")?),
            None => None,
        },
    })
}
