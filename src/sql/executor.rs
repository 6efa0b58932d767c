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
    match executor.query(statement).await {
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
