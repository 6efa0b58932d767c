//! Opening a hold: the debit statement of `consume` with the effect `hold` (`held_credits` grows
//! instead of `credits` shrinking, a `credit_holds` row instead of a ledger row), so a hold is
//! decided exactly like a consume — `available`, both windows, membership — and refused the same way.

use crate::core::account::AccountRef;
use crate::core::error::CreditError;
use crate::core::idempotency::request_hash;
use crate::core::time::Timestamp;
use crate::core::validate::{Amount, Operation};
use crate::core::window::Period;
use crate::sql::ops::consume::{API_KEY_HOLD, HOLD_USER_SQL};
use crate::sql::ops::payer::Payer;
use crate::sql::outcome::{ChargeOutcome, Limits};
use crate::sql::statement::Statement;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub payer: Payer,
    pub amount: Amount,
    pub operation: Operation,
    pub resource_id: Option<String>,
    /// JSON object text, validated by `validate::metadata`; copied onto the capture's ledger row.
    pub metadata: Option<String>,
    /// Validated by `hold::ttl_seconds`.
    pub ttl_seconds: i64,
    pub idempotency_key: Option<String>,
}

/// API.md: 201 `{"ok", "hold_id", "amount", "expires_at", "charged", "balance", "available", "limits"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldResult {
    pub ok: bool,
    pub hold_id: String,
    pub replayed: bool,
    pub charged: AccountRef,
    pub amount: i64,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub expires_at: Timestamp,
    pub balance: i64,
    pub available: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl HoldRequest {
    fn fingerprint(&self) -> String {
        request_hash(&[
            "hold",
            &self.amount.get().to_string(),
            self.operation.as_str(),
            self.resource_id.as_deref().unwrap_or(""),
            self.metadata.as_deref().unwrap_or(""),
            &self.ttl_seconds.to_string(),
        ])
    }

    /// Holds keep their idempotency records apart from consumes on the same account: a space
    /// cannot occur in a caller's key (`validate::idempotency_key`), so no consume key can be
    /// spelled like a hold's record.
    fn stored_key(&self) -> Option<String> {
        self.idempotency_key.as_deref().map(|key| ["hold ", key].concat())
    }
}

pub fn plan(request: &HoldRequest, now: Timestamp) -> Statement {
    let expires_at = now.plus_millis(request.ttl_seconds * 1000).to_sql_literal();
    let stored_key = request.stored_key();
    let common = |sql: &'static str, id: &str| {
        Statement::new(sql)
            .param(id)
            .param(request.amount.get())
            .param(request.operation.as_str())
            .optional(request.resource_id.as_deref())
            .optional(request.metadata.as_deref())
    };
    let windows = |statement: Statement| {
        statement.param(Period::Daily.start(now).to_sql_literal()).param(Period::Monthly.start(now).to_sql_literal())
    };
    let pool = |id: &str, kind: &str| {
        common(HOLD_USER_SQL, id)
            .optional(stored_key.as_deref())
            .param(request.fingerprint())
            .param(now.to_sql_literal())
            .param(kind)
            .param(expires_at.as_str())
    };
    match &request.payer {
        Payer::ApiKey(key) => {
            let (unkeyed, keyed, value) = API_KEY_HOLD.pick(key);
            match stored_key.as_deref() {
                None => windows(common(unkeyed, value).param(now.to_sql_literal())).param(expires_at.as_str()),
                Some(stored) => windows(common(keyed, value).param(now.to_sql_literal()))
                    .param(stored)
                    .param(request.fingerprint())
                    .param(expires_at.as_str()),
            }
        }
        Payer::User(id) => pool(id, "user"),
        Payer::Session(token) => pool(token, "session"),
        Payer::Team(id) => pool(id, "team"),
    }
}

/// The contract's answer for an outcome read by `ChargeOutcome::read("hold", …)`; its
/// `transaction_id` is the hold's id.
pub fn result(outcome: ChargeOutcome, request: &HoldRequest) -> Result<HoldResult, CreditError> {
    let expires = match &outcome {
        ChargeOutcome::Charged { facts, .. } | ChargeOutcome::Replayed { facts, .. } => facts.expires_at,
        _ => None,
    };
    let charged = outcome
        .into_result(request.idempotency_key.as_deref(), true)
        .map_err(|error| request.payer.named_missing(error))?;
    let (Some(hold_id), Some(expires_at)) = (charged.transaction_id, expires) else {
        return Err(CreditError::internal("a hold that was written reported no id or deadline"));
    };
    Ok(HoldResult {
        ok: true,
        hold_id,
        replayed: charged.replayed,
        charged: charged.charged,
        amount: charged.amount,
        expires_at,
        balance: charged.balance,
        available: charged.available,
        limits: charged.limits,
    })
}
