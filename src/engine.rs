//! Every credit operation as one call: plan the statement, carry it with the adapter's executor,
//! decode the rows. No I/O of its own and no clock: adapters pass `now`.

use crate::core::account::Account;
use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::sql::executor::{run, Executor};
use crate::sql::ops::allocate::{self, AllocateRequest};
use crate::sql::ops::balance::{self, Balance};
use crate::sql::ops::check;
use crate::sql::ops::consume::{self, ConsumeRequest, Payer};
use crate::sql::ops::grant::{self, CreditResult, GrantRequest};
use crate::sql::ops::principal::{self, Principal};
use crate::sql::ops::prune::{self, PruneResult};
use crate::sql::ops::purchase::{self, PurchaseRequest};
use crate::sql::ops::reconcile::{self, ReconcileReport};
use crate::sql::ops::refund::{self, RefundResult, RefundScope};
use crate::sql::ops::transactions::{self, Cursor, TransactionPage};
use crate::sql::outcome::{ChargeOutcome, ChargeResult};

/// How often a `contended` debit runs before it is reported as `database_unavailable`.
const CONTENDED_ATTEMPTS: usize = 3;

pub struct Engine<E> {
    pub executor: E,
}

impl<E: Executor> Engine<E> {
    pub fn new(executor: E) -> Self {
        Engine { executor }
    }

    /// Resolves a request's credential to a user or an API key (`unauthenticated` otherwise).
    pub async fn authenticate(&self, credential: &Credential, now: Timestamp) -> Result<Principal, CreditError> {
        run(&self.executor, &principal::plan(credential, now), principal::decode).await
    }

    /// A debit. A `contended` outcome (a refusal that found the row passing every check: a credit
    /// landed between the debit's check and the refusal's read; nothing was written) is run again,
    /// a few times at most.
    pub async fn consume(&self, request: &ConsumeRequest, now: Timestamp) -> Result<ChargeResult, CreditError> {
        let statement = consume::plan(request, now);
        let mut outcome = ChargeOutcome::Contended;
        for _ in 0..CONTENDED_ATTEMPTS {
            outcome = run(&self.executor, &statement, |rows| ChargeOutcome::read("consume", rows)).await?;
            if outcome != ChargeOutcome::Contended {
                break;
            }
        }
        consume::result(outcome, request)
    }

    /// Would a consume of `amount` succeed now? `Amount` is positive by construction: 0 is refused
    /// before any round trip, as for consume.
    pub async fn check(&self, payer: &Payer, amount: Amount, now: Timestamp) -> Result<ChargeResult, CreditError> {
        run(&self.executor, &check::plan(payer, amount, now), |rows| check::decode(rows, payer)).await
    }

    pub async fn grant(&self, request: &GrantRequest, now: Timestamp) -> Result<CreditResult, CreditError> {
        let key = request.idempotency_key.as_deref();
        run(&self.executor, &grant::plan(request, now), |rows| grant::decode(rows, key)).await
    }

    pub async fn purchase(&self, request: &PurchaseRequest, now: Timestamp) -> Result<CreditResult, CreditError> {
        run(&self.executor, &purchase::plan(request, now), |rows| purchase::decode(rows, &request.payment_id)).await
    }

    /// Records a verified purchase that could not be handed to `purchase` (see `purchase.rs`).
    pub async fn record_unfulfilled_purchase(
        &self,
        payment_id: &str,
        event_id: &str,
        user_id: Option<&str>,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), CreditError> {
        run(&self.executor, &purchase::plan_record_unfulfilled(payment_id, event_id, user_id, reason, now), |_| Ok(()))
            .await
    }

    pub async fn refund(
        &self,
        transaction_id: &str,
        scope: &RefundScope,
        now: Timestamp,
    ) -> Result<RefundResult, CreditError> {
        run(&self.executor, &refund::plan(transaction_id, scope, now)?, refund::decode).await
    }

    pub async fn allocate(&self, request: &AllocateRequest, now: Timestamp) -> Result<ChargeResult, CreditError> {
        let key = request.idempotency_key.as_deref();
        run(&self.executor, &allocate::plan(request, now), |rows| allocate::decode(rows, key)).await
    }

    pub async fn balance(&self, account: &Account, now: Timestamp) -> Result<Balance, CreditError> {
        run(&self.executor, &balance::plan(account, now), |rows| balance::decode(rows, account, now)).await
    }

    pub async fn transactions(
        &self,
        account: &Account,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TransactionPage, CreditError> {
        run(&self.executor, &transactions::plan(account, limit, cursor), |rows| transactions::decode(rows, limit)).await
    }

    pub async fn reconcile(&self, adopt: bool, now: Timestamp) -> Result<ReconcileReport, CreditError> {
        run(&self.executor, &reconcile::plan(adopt, now), reconcile::decode).await
    }

    pub async fn prune_idempotency_keys(
        &self,
        retention_hours: i64,
        now: Timestamp,
    ) -> Result<PruneResult, CreditError> {
        run(&self.executor, &prune::plan(retention_hours, now)?, prune::decode).await
    }
}
