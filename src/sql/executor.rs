//! The one thing an adapter implements: carry a statement, return its rows (text columns).

use crate::core::error::CreditError;
use crate::sql::failure::{DbFailure, IN_FAILED_TRANSACTION};
use crate::sql::row::Row;
use crate::sql::statement::Statement;

#[allow(async_fn_in_trait)]
pub trait Executor {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure>;
}

/// Runs an operation's statement and decodes its rows.
pub async fn run<E: Executor, T>(
    executor: &E,
    statement: &Statement,
    decode: impl FnOnce(&[Row]) -> Result<T, CreditError>,
) -> Result<T, CreditError> {
    decode(&fetch(executor, statement).await?)
}

/// The rows of one operation's statement.
///
/// A unique violation means an identical request (same idempotency key, same refund, same
/// payment) committed first and this statement was rolled back whole; running it once more
/// returns that request's outcome as a replay. Still one round trip in the common case.
///
/// Generic over the executor only, not over what is decoded: one copy of this future per
/// adapter instead of one per operation (the wasm modules' size, BENCHMARKS.md §2–3).
pub async fn fetch<E: Executor>(executor: &E, statement: &Statement) -> Result<Vec<Row>, CreditError> {
    let mut first = executor.query(statement).await;
    // A deadlock victim was rolled back whole, and the lock cycle is gone once it has: run it once
    // more rather than answer 503 for a conflict the server already resolved. (Inside the caller's
    // own transaction the rerun fails as aborted, 25P02, and the caller gets the 503.) Every
    // statement takes its locks in one order (users, keys, holds, teams), but foreign-key checks
    // lock the rows a ledger row names at the end of a statement, and a tuple lock queues behind
    // a waiter, so rare cycles remain possible under contention.
    for _ in 0..DEADLOCK_RERUNS {
        match &first {
            Err(failure) if failure.is_deadlock() => first = executor.query(statement).await,
            _ => break,
        }
    }
    match first {
        Ok(rows) => Ok(rows),
        Err(failure) if failure.is_unique_violation() => match executor.query(statement).await {
            Ok(rows) => Ok(rows),
            // Inside the caller's own transaction (npm package, a pg Client after BEGIN) the
            // violation aborted that transaction, so the replay cannot be read here: the caller
            // must roll back and retry, which then gets the winner's outcome.
            Err(retry) if retry.sqlstate.as_deref() == Some(IN_FAILED_TRANSACTION) => {
                Err(CreditError::IdempotencyConflict { key: String::new() })
            }
            Err(retry) => Err(retry.into_credit_error()),
        },
        Err(failure) => Err(failure.into_credit_error()),
    }
}

/// How often a statement chosen as a deadlock's victim runs again.
const DEADLOCK_RERUNS: usize = 2;

/// An executor is also usable through a shared reference.
impl<E: Executor> Executor for &E {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        (**self).query(statement).await
    }
}

/// An executor that can also run parameterless SQL batches (DDL, BEGIN/COMMIT) on one connection:
/// what the migrator and `/admin/migrate` need beyond single statements.
#[allow(async_fn_in_trait)]
pub trait BatchExecutor: Executor {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure>;
}

/// A batch executor is also usable through a shared reference (the router lends the adapter's
/// connection to the engine for one request).
impl<E: BatchExecutor> BatchExecutor for &E {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        (**self).batch(sql).await
    }
}
