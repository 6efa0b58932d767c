//! Lends a session to the engine: `Engine` owns its executor, the router only borrows the
//! adapter's connection for one request.

use crate::migrator::Session;
use crate::sql::executor::Executor;
use crate::sql::failure::DbFailure;
use crate::sql::statement::Statement;

pub struct Shared<'a, S>(pub &'a S);

impl<S: Executor> Executor for Shared<'_, S> {
    async fn query(&self, statement: &Statement) -> Result<Vec<String>, DbFailure> {
        self.0.query(statement).await
    }
}

impl<S: Session> Session for Shared<'_, S> {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        self.0.batch(sql).await
    }
}
