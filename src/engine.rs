//! Every credit operation as one call: plan the statement, carry it with the adapter's executor,
//! decode the rows. No I/O of its own and no clock: adapters pass `now`.

use crate::core::account::{Account, AccountKind};
use crate::core::api_key::{Entropy, KeyRef};
use crate::core::error::CreditError;
use crate::core::session::Credential;
use crate::core::time::Timestamp;
use crate::core::validate::Amount;
use crate::sql::executor::{run, Executor};
use crate::sql::ops::allocate::{self, AllocateRequest};
use crate::sql::ops::api_keys::adopt::{self, Adopted};
use crate::sql::ops::api_keys::create::{self, CreateRequest};
use crate::sql::ops::api_keys::manage::{self, KeyChanges};
use crate::sql::ops::api_keys::revoke::{self, Revoked, RevokedLeaked};
use crate::sql::ops::api_keys::view::{ApiKey, ApiKeyList};
use crate::sql::ops::balance::{self, Balance};
use crate::sql::ops::check;
use crate::sql::ops::consume::{self, ConsumeRequest, Payer};
use crate::sql::ops::grant::{self, CreditResult, GrantRequest};
use crate::sql::ops::holds;
use crate::sql::ops::holds::close::{Actor, CloseRequest, CloseResult};
use crate::sql::ops::holds::open::{HoldRequest, HoldResult};
use crate::sql::ops::holds::sweep::SweepReport;
use crate::sql::ops::holds::view::Hold;
use crate::sql::ops::payer::Named;
use crate::sql::ops::principal::{self, Principal};
use crate::sql::ops::prune::{self, PruneResult};
use crate::sql::ops::purchase::{self, PurchaseRequest};
use crate::sql::ops::reconcile::{self, ReconcileReport};
use crate::sql::ops::refund::{self, RefundResult, RefundScope};
use crate::sql::ops::transactions::{self, Cursor, TransactionPage};
use crate::sql::ops::usage::{self, UsageQuery, UsageReport};
use crate::sql::outcome::{ChargeOutcome, ChargeResult};
use crate::sql::row::Row;
use crate::sql::statement::Statement;

/// How often a `contended` debit runs before it is reported as `database_unavailable`.
const CONTENDED_ATTEMPTS: usize = 3;
/// How many settles a debit may ask for. Each closes every expired hold and expires every due
/// block of its account, and nothing makes an account due again but time passing (what goes back
/// to a block past its deadline expires in the statement that gives it back), so one is the rule
/// and a second means a hold or a block reached its deadline meanwhile.
const SETTLE_ROUNDS: usize = 4;

pub struct Engine<E> {
    pub executor: E,
}

impl<E: Executor> Engine<E> {
    pub fn new(executor: E) -> Self {
        Engine { executor }
    }

    /// Resolves a request's credential to a user or an API key (`unauthenticated` otherwise). A
    /// key row still in the seed's plaintext form is adopted at this first use, then found.
    pub async fn authenticate(&self, credential: &Credential, now: Timestamp) -> Result<Principal, CreditError> {
        let found = run(&self.executor, &principal::plan(credential, now), principal::decode).await;
        let secret = match credential {
            Credential::Bearer(secret) | Credential::ApiKey(secret) => secret,
            Credential::Session(_) => return found,
        };
        match found {
            Err(CreditError::Unauthenticated { .. }) if self.resolve(&KeyRef::secret(secret), now).await?.is_some() => {
                run(&self.executor, &principal::plan(credential, now), principal::decode).await
            }
            other => other,
        }
    }

    /// A presented secret the hashed lookup did not find: a key row written the seed's way
    /// (adopted now: hashed, its ledger and idempotency rows relabelled; found by its hash from
    /// now on), or a rotated-out secret in its grace. `None` for an unknown secret or anything else.
    async fn resolve(&self, key: &KeyRef, now: Timestamp) -> Result<Option<KeyRef>, CreditError> {
        match adopt::plan_resolve(key, now) {
            Some(statement) => run(&self.executor, &statement, |rows| adopt::decode_resolve(rows, key)).await,
            None => Ok(None),
        }
    }

    /// For a charge by key that found no key: the same payer as `resolve` found it (a secret), or
    /// by the same id once a plaintext row was adopted under it.
    async fn resolved_payer(&self, payer: &Payer, now: Timestamp) -> Result<Option<Payer>, CreditError> {
        match payer {
            Payer::ApiKey(KeyRef::Id(id)) => {
                let adopted = run(&self.executor, &adopt::plan_adopt_id(id), adopt::decode_adopt_id).await?;
                Ok(adopted.then(|| payer.clone()))
            }
            Payer::ApiKey(key) => Ok(self.resolve(key, now).await?.map(Payer::ApiKey)),
            _ => Ok(None),
        }
    }

    /// A debit. A key the debit did not find is resolved (`resolved_payer`: a seed-way row adopted,
    /// a rotated-out secret in its grace) and, if that names a key, charged as it was found.
    pub async fn consume(&self, request: &ConsumeRequest, now: Timestamp) -> Result<ChargeResult, CreditError> {
        let outcome = self.debit(&consume::plan(request, now), now).await?;
        if outcome == ChargeOutcome::NotFound {
            if let Some(payer) = self.resolved_payer(&request.payer, now).await? {
                let resolved = ConsumeRequest { payer, ..request.clone() };
                return consume::result(self.debit(&consume::plan(&resolved, now), now).await?, request);
            }
        }
        consume::result(outcome, request)
    }

    /// Reserves credits (API.md "Holds"): decided and refused exactly like a consume.
    pub async fn hold(&self, request: &HoldRequest, now: Timestamp) -> Result<HoldResult, CreditError> {
        let outcome = self.debit(&holds::open::plan(request, now), now).await?;
        if outcome == ChargeOutcome::NotFound {
            if let Some(payer) = self.resolved_payer(&request.payer, now).await? {
                let resolved = HoldRequest { payer, ..request.clone() };
                return holds::open::result(self.debit(&holds::open::plan(&resolved, now), now).await?, request);
            }
        }
        holds::open::result(outcome, request)
    }

    /// Captures or releases a hold. A retry under an idempotency key that found the hold closed
    /// may have waited on the first attempt's lock, reading the key's records from before that
    /// attempt committed: it runs once more, and finds its outcome.
    pub async fn close_hold(&self, request: &CloseRequest, now: Timestamp) -> Result<CloseResult, CreditError> {
        let statement = holds::close::plan(request, now)?;
        let closed = run(&self.executor, &statement, |rows| holds::close::decode(rows, request)).await;
        match closed {
            Err(CreditError::HoldClosed { .. }) if request.idempotency_key.is_some() => {
                run(&self.executor, &statement, |rows| holds::close::decode(rows, request)).await
            }
            other => other,
        }
    }

    pub async fn get_hold(&self, hold_id: &str, actor: &Actor, now: Timestamp) -> Result<Hold, CreditError> {
        run(&self.executor, &holds::view::plan(hold_id, actor, now)?, holds::view::decode).await
    }

    /// Settles every account with an expired hold or a due block (`holds::sweep`), a batch of
    /// accounts at a time, until a batch is short or `max_batches` ran.
    pub async fn sweep(&self, max_batches: usize, now: Timestamp) -> Result<SweepReport, CreditError> {
        let mut total = SweepReport::default();
        for _ in 0..max_batches {
            let due = run(&self.executor, &holds::sweep::plan(now), holds::sweep::decode).await?;
            let mut progress = false;
            for account in &due {
                let settled = run(&self.executor, &holds::settle::plan(account, now), holds::settle::decode).await?;
                total.expired_holds += settled.holds;
                total.expired_blocks += settled.blocks;
                if settled.holds + settled.blocks > 0 {
                    total.accounts += 1;
                    progress = true;
                }
            }
            if !progress || (due.len() as i64) < holds::sweep::BATCH {
                break;
            }
        }
        Ok(total)
    }

    /// One debit statement (a consume's or a hold's), see `settled`.
    async fn debit(&self, statement: &Statement, now: Timestamp) -> Result<ChargeOutcome, CreditError> {
        self.settled(now, || run(&self.executor, statement, |rows| ChargeOutcome::read("consume", rows))).await
    }

    /// Runs a debit (consume, hold, allocate) until it decides. A `contended` outcome (a refusal
    /// that found the row passing every check: a credit landed between the debit's check and the
    /// refusal's read; nothing was written) runs again; a `settle` outcome (the account has holds
    /// past their deadline nobody closed yet; nothing was written) closes them first. A few times
    /// at most: one extra round trip per expired hold, once, never on the hot path.
    async fn settled<F, Fut>(&self, now: Timestamp, attempt: F) -> Result<ChargeOutcome, CreditError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<ChargeOutcome, CreditError>>,
    {
        let (mut contended, mut settles) = (0, 0);
        loop {
            let outcome = attempt().await?;
            match &outcome {
                ChargeOutcome::Contended if contended + 1 < CONTENDED_ATTEMPTS => contended += 1,
                ChargeOutcome::Settle(account) if settles < SETTLE_ROUNDS => {
                    settles += 1;
                    run(&self.executor, &holds::settle::plan(account, now), holds::settle::decode).await?;
                }
                _ => return Ok(outcome),
            }
        }
    }

    /// Would a consume of `amount` succeed now? `Amount` is positive by construction: 0 is refused
    /// before any round trip, as for consume.
    pub async fn check(&self, payer: &Payer, amount: Amount, now: Timestamp) -> Result<ChargeResult, CreditError> {
        let checked = run(&self.executor, &check::plan(payer, amount, now), |rows| check::decode(rows, payer)).await;
        match checked {
            Err(CreditError::Unauthenticated { .. } | CreditError::NotFound { .. }) => {
                match self.resolved_payer(payer, now).await? {
                    Some(resolved) => {
                        run(&self.executor, &check::plan(&resolved, amount, now), |rows| check::decode(rows, payer))
                            .await
                    }
                    None => checked,
                }
            }
            other => other,
        }
    }

    /// A new key; its secret is in the answer, once.
    pub async fn create_key(&self, request: &CreateRequest, now: Timestamp) -> Result<ApiKey, CreditError> {
        let (statement, issued) = create::plan(request, now)?;
        run(&self.executor, &statement, |rows| create::decode(rows, &issued, now)).await
    }

    /// The keys a user sees: theirs and their current team's.
    pub async fn list_keys(&self, user_id: &str, now: Timestamp) -> Result<ApiKeyList, CreditError> {
        run(&self.executor, &manage::plan_list(user_id, now), |rows| manage::decode_list(rows, now)).await
    }

    /// `actor`: the signed-in user, `None` for the service.
    pub async fn update_key(
        &self,
        id: &str,
        actor: Option<&str>,
        changes: &KeyChanges,
        now: Timestamp,
    ) -> Result<ApiKey, CreditError> {
        let statement = manage::plan_update(id, actor, changes, now);
        self.run_adopting(Some(id), &statement, |rows| manage::decode_change(rows, None, now)).await
    }

    pub async fn rotate_key(
        &self,
        id: &str,
        actor: Option<&str>,
        grace_seconds: i64,
        entropy: &Entropy,
        now: Timestamp,
    ) -> Result<ApiKey, CreditError> {
        let (statement, issued) = manage::plan_rotate(id, actor, grace_seconds, entropy, now)?;
        self.run_adopting(Some(id), &statement, |rows| manage::decode_change(rows, Some(&issued), now)).await
    }

    pub async fn revoke_key(&self, id: &str, actor: Option<&str>, now: Timestamp) -> Result<Revoked, CreditError> {
        let statement = revoke::plan_revoke(id, actor, now);
        for _ in 0..CONTENDED_ATTEMPTS {
            if let Some(revoked) =
                self.run_adopting(Some(id), &statement, |rows| revoke::decode_revoke(rows, id)).await?
            {
                return Ok(revoked);
            }
        }
        Err(CreditError::database_unavailable("the key kept being revoked concurrently; nothing was written, retry"))
    }

    /// The account `named` names, by id: a key given by its secret is looked up by its hash (a
    /// row still in the seed's plaintext form is adopted on the way) and stands for its public id.
    pub async fn account_of(&self, named: Named, now: Timestamp) -> Result<Account, CreditError> {
        let secret = match named {
            Named::Account(account) => return Ok(account),
            Named::Key(KeyRef::Id(id)) => return Account::api_key(&id),
            Named::Key(KeyRef::Secret { secret, .. }) => secret,
            Named::Key(KeyRef::Rotated { .. }) => {
                return Err(CreditError::not_found("no live API key has that secret"))
            }
        };
        match self.authenticate(&Credential::ApiKey(secret), now).await {
            Ok(Principal::ApiKey { api_key, .. }) => Account::api_key(&api_key),
            Ok(Principal::User { .. }) | Err(CreditError::Unauthenticated { .. }) => {
                Err(CreditError::not_found("no live API key has that secret"))
            }
            Err(other) => Err(other),
        }
    }

    /// A lookup by a key's public id that found nothing runs once more if a row still in the
    /// seed's plaintext form turns out to be that key (a balance or listing shows such a row by
    /// the id it will be adopted under): it is adopted now.
    async fn run_adopting<T>(
        &self,
        id: Option<&str>,
        statement: &Statement,
        decode: impl Fn(&[Row]) -> Result<T, CreditError>,
    ) -> Result<T, CreditError> {
        let first = run(&self.executor, statement, &decode).await;
        match (&first, id) {
            (Err(CreditError::NotFound { .. }), Some(id))
                if run(&self.executor, &adopt::plan_adopt_id(id), adopt::decode_adopt_id).await? =>
            {
                run(&self.executor, statement, &decode).await
            }
            _ => first,
        }
    }

    fn key_id(account: &Account) -> Option<&str> {
        (account.kind == AccountKind::ApiKey).then_some(account.id.as_str())
    }

    /// Revokes every key one of `secrets` belongs to (rows still in plaintext form are adopted
    /// first, so the revocation's ledger rows carry ids, never a secret).
    pub async fn revoke_leaked(&self, secrets: &[String], now: Timestamp) -> Result<RevokedLeaked, CreditError> {
        run(&self.executor, &adopt::plan_all(), adopt::decode_all).await?;
        let hashes: Vec<String> = secrets.iter().map(|secret| crate::core::api_key::hash(secret)).collect();
        run(&self.executor, &revoke::plan_revoke_leaked(&hashes, now), revoke::decode_revoke_leaked).await
    }

    /// Moves every key row still in the seed's plaintext form to hashed form (`migrate` runs it).
    pub async fn adopt_plaintext_keys(&self) -> Result<Adopted, CreditError> {
        run(&self.executor, &adopt::plan_all(), adopt::decode_all).await
    }

    pub async fn grant(&self, request: &GrantRequest, now: Timestamp) -> Result<CreditResult, CreditError> {
        let statement = grant::plan(request, now);
        self.run_adopting(Self::key_id(&request.account), &statement, |rows| grant::decode(rows, request)).await
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
        let statement = allocate::plan(request, now);
        // A key not found may be a row still in the seed's plaintext form (`run_adopting`).
        let read = |rows: &[Row]| match ChargeOutcome::read("allocate", rows)? {
            ChargeOutcome::NotFound => Err(CreditError::not_found("no such account")),
            other => Ok(other),
        };
        let outcome = self.settled(now, || self.run_adopting(Some(&request.api_key), &statement, read)).await?;
        outcome.into_result(key, true)
    }

    pub async fn balance(&self, account: &Account, now: Timestamp) -> Result<Balance, CreditError> {
        let statement = balance::plan(account, now);
        self.run_adopting(Self::key_id(account), &statement, |rows| balance::decode(rows, account, now)).await
    }

    pub async fn transactions(
        &self,
        account: &Account,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TransactionPage, CreditError> {
        run(&self.executor, &transactions::plan(account, limit, cursor), |rows| transactions::decode(rows, limit)).await
    }

    /// Usage net of refunds over a range of UTC days, grouped (`sql::ops::usage` states the rules).
    pub async fn usage(&self, account: &Account, query: &UsageQuery) -> Result<UsageReport, CreditError> {
        run(&self.executor, &usage::plan(account, query), |rows| usage::decode(rows, query)).await
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
