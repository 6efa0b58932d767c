//! tokio-postgres carrying the core's statements.

pub use crate::adapters::postgres::failure;
use crate::core::error::CreditError;
use crate::sql::failure::DbFailure;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use crate::sql::timeouts;
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, NoTls};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects and spawns the connection task. Errors are one clear sentence with a stable code.
pub async fn connect(url: &str) -> Result<Client, CreditError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| CreditError::invalid_request(format!("database URL is not a valid Postgres URL: {error}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("fltr-credits");
    }
    // The server gives up on a blocked or runaway statement by itself (sql::timeouts); an
    // `options` in the URL is the operator's choice and wins.
    if config.get_options().is_none() {
        config.options(timeouts::OPERATOR.startup_options());
    }
    let (client, connection) = config.connect(NoTls).await.map_err(|error| failure(error).into_credit_error())?;
    tokio::spawn(async move {
        // The client reports a dead connection on its next call; nothing to do here.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs one statement (`query_typed`: no named prepared statement) and returns its rows.
pub async fn run(client: &impl GenericClient, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
    let params: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> = statement
        .params
        .iter()
        .map(|param| (param as &(dyn tokio_postgres::types::ToSql + Sync), Type::TEXT))
        .collect();
    let rows = client.query_typed(statement.sql, &params).await.map_err(failure)?;
    text_rows(&rows)
}

/// Every row, by column name (each statement of the core selects text columns only; any other
/// column type is `internal`).
fn text_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, DbFailure> {
    rows.iter()
        .map(|row| {
            let columns = row
                .columns()
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    let value = row.try_get::<_, Option<String>>(index).map_err(|error| DbFailure {
                        sqlstate: Some("XX000".into()),
                        message: format!("result column {} is not text: {error}", column.name()),
                    })?;
                    Ok((column.name().to_string(), value))
                })
                .collect::<Result<Vec<_>, DbFailure>>()?;
            Ok(Row::new(columns))
        })
        .collect()
}

/// Runs DDL or other statements with no parameters and no result, via the simple protocol.
pub async fn execute_batch(client: &impl GenericClient, sql: &str) -> Result<(), DbFailure> {
    client.batch_execute(sql).await.map_err(failure)
}

/// A connection that prepares each statement once. Statement texts are `'static`, so the
/// address identifies them; repeated operations then skip parsing and planning (Postgres may
/// settle on a generic plan). If a plan goes stale after DDL, the entry is dropped and the
/// statement runs unprepared.
pub struct Connection {
    pub client: Client,
    prepared: tokio::sync::Mutex<std::collections::HashMap<usize, tokio_postgres::Statement>>,
}

impl Connection {
    pub async fn open(url: &str) -> Result<Connection, CreditError> {
        Ok(Connection { client: connect(url).await?, prepared: Default::default() })
    }

    async fn prepared(&self, statement: &Statement) -> Result<tokio_postgres::Statement, DbFailure> {
        let key = statement.sql.as_ptr() as usize;
        if let Some(found) = self.prepared.lock().await.get(&key) {
            return Ok(found.clone());
        }
        let types = vec![Type::TEXT; statement.params.len()];
        let prepared = self.client.prepare_typed(statement.sql, &types).await.map_err(failure)?;
        self.prepared.lock().await.insert(key, prepared.clone());
        Ok(prepared)
    }
}

impl crate::sql::executor::Executor for Connection {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        let prepared = self.prepared(statement).await?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            statement.params.iter().map(|param| param as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        match self.client.query(&prepared, &params).await {
            Ok(rows) => text_rows(&rows),
            Err(error) => {
                let failure = failure(error);
                // 0A000: "cached plan must not change result type" after DDL.
                if failure.sqlstate.as_deref() == Some("0A000") {
                    self.prepared.lock().await.remove(&(statement.sql.as_ptr() as usize));
                    return run(&self.client, statement).await;
                }
                Err(failure)
            }
        }
    }
}

impl crate::sql::executor::BatchExecutor for Connection {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        execute_batch(&self.client, sql).await
    }
}

/// The native executor: any tokio-postgres client or transaction.
pub struct Native<'a, C: GenericClient + Sync>(pub &'a C);

impl<C: GenericClient + Sync> crate::sql::executor::Executor for Native<'_, C> {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        run(self.0, statement).await
    }
}

impl<C: GenericClient + Sync> crate::sql::executor::BatchExecutor for Native<'_, C> {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        execute_batch(self.0, sql).await
    }
}
