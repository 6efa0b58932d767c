//! Postgres through a Hyperdrive binding, with tokio-postgres over the Worker socket.
//!
//! Hyperdrive pools in transaction mode and caches reads, which shapes everything here:
//! - the simple query protocol, parameters written in as escaped literals (`sql::inline`): no
//!   named prepared statements (they do not survive transaction pooling), and none of
//!   tokio-postgres' extended-protocol type machinery in the wasm (≈ 22 KB gzip, BENCHMARKS §3);
//! - no session state: no `SET`, no advisory locks (the migrator uses a table lock inside its
//!   transaction instead);
//! - reads that must be fresh carry a volatile function (the core's balance and principal
//!   statements, the health check);
//! - every statement runs in a transaction that first sets `lock_timeout` and `statement_timeout`
//!   (`BEGIN; SET LOCAL …`, the statement, a deadline guard and `COMMIT` in one message: one
//!   round trip), so Postgres abandons a blocked statement before this Worker stops waiting
//!   (sql::timeouts). A Worker timer alone would answer 503 while the statement went on to
//!   commit once a lock was freed. After a server error the message's transaction is left
//!   aborted, so the executor sends `ROLLBACK` before the connection carries anything else.
//!
//! One connection per request, opened on the first statement (preflights and refused requests
//! never connect), closed by `close()` before the response leaves.

use crate::adapters::postgres::failure;
use crate::adapters::worker::environment;
use crate::adapters::worker::timeout::within;
use crate::sql::executor::BatchExecutor;
use crate::sql::executor::Executor;
use crate::sql::failure::DbFailure;
use crate::sql::inline::inline;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use crate::sql::timeouts::Timeouts;
use futures_channel::oneshot;
use futures_core::Stream;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use worker::Env;

/// Below Hyperdrive's 60 s limit: migrations (`/admin/migrate`) set their own SET LOCAL limits.
pub const BATCH_TIMEOUT: Duration = Duration::from_secs(55);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ABANDONED_CLOSE_WAIT: Duration = Duration::from_secs(1);

struct Open {
    client: Rc<Client>,
    /// Fires when the connection task has finished.
    closed: oneshot::Receiver<()>,
}

pub struct Database {
    binding: Result<worker::Hyperdrive, String>,
    open: RefCell<Option<Open>>,
    timeouts: Timeouts,
    begin: String,
    /// A statement's answer did not come in time: close without waiting on the connection.
    abandoned: Cell<bool>,
}

impl Database {
    pub fn new(env: &Env, binding: &str, timeouts: Timeouts) -> Self {
        let binding =
            env.hyperdrive(binding).map_err(|error| format!("Hyperdrive binding {binding} is not configured: {error}"));
        Database {
            binding,
            open: RefCell::new(None),
            timeouts,
            begin: timeouts.begin_sql(),
            abandoned: Cell::new(false),
        }
    }

    async fn client(&self) -> Result<Rc<Client>, DbFailure> {
        if let Some(open) = self.open.borrow().as_ref() {
            return Ok(open.client.clone());
        }
        let binding = self.binding.as_ref().map_err(|message| DbFailure::connection(message.clone()))?;
        // From the binding's fields rather than by parsing its connection string: tokio-postgres'
        // URL parser is ~3 KB gzip of the Worker (BENCHMARKS.md §3) for values the binding has.
        let mut config = tokio_postgres::Config::new();
        config.user(binding.user()).password(binding.password()).dbname(binding.database());
        let socket = binding.connect().map_err(|error| DbFailure::connection(format!("Hyperdrive socket: {error}")))?;
        let (client, connection) = within(CONNECT_TIMEOUT, config.connect_raw(socket, NoTls))
            .await
            .ok_or_else(|| DbFailure::connection("connecting through Hyperdrive timed out"))?
            .map_err(failure)?;
        let (done, closed) = oneshot::channel();
        wasm_bindgen_futures::spawn_local(async move {
            // Ends when the client is dropped (Terminate sent) or the socket fails; a dead
            // connection shows up as the next statement's error.
            let _ = connection.await;
            let _ = done.send(());
        });
        let client = Rc::new(client);
        *self.open.borrow_mut() = Some(Open { client: client.clone(), closed });
        Ok(client)
    }

    /// Drops the client and waits for the connection task to end (briefly when a statement was
    /// abandoned: its answers may never come, and the response must not wait for them).
    pub async fn close(self) {
        let wait = if self.abandoned.get() { ABANDONED_CLOSE_WAIT } else { CONNECT_TIMEOUT };
        if let Some(Open { client, closed }) = self.open.into_inner() {
            drop(client);
            let _ = within(wait, closed).await;
        }
    }
}

/// Aborts the transaction (division by zero, 22012) when the Worker's own deadline, less a margin
/// for COMMIT and the answer's way back, has passed by the server's clock: time spent queued in a
/// pool before BEGIN is not covered by `statement_timeout`, and a statement that finished late
/// must not commit after the Worker has answered 503. Completed by `'<deadline>'::timestamp)::int`.
const DEADLINE_GUARD_SQL: &str = "SELECT 1 / ((clock_timestamp() AT TIME ZONE 'UTC') <";
/// Room left after the guard for COMMIT and the answer before the Worker stops waiting.
const COMMIT_MARGIN_MS: u32 = 5_000;

impl Executor for Database {
    /// `BEGIN; SET LOCAL …; SET LOCAL …`, the statement, the deadline guard and `COMMIT`, as one
    /// simple-protocol message (parameters written in as literals, `sql::inline`): one round trip.
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        let sql = inline(statement)?;
        let client = self.client().await?;
        let wait_ms = self.timeouts.client_deadline_ms();
        let commit_by =
            environment::now().plus_millis(i64::from(wait_ms.saturating_sub(COMMIT_MARGIN_MS))).to_sql_literal();
        let message = format!("{};\n{sql};\n{DEADLINE_GUARD_SQL} '{commit_by}'::timestamp)::int;\nCOMMIT", self.begin);
        let mut progress = Progress::default();
        let outcome = within(Duration::from_millis(u64::from(wait_ms)), progress.run(&client, &message)).await;
        let Some(outcome) = outcome else {
            self.abandoned.set(true);
            return Err(DbFailure::connection(
                "no answer within the client deadline; the server abandoned the statement before it",
            ));
        };
        match outcome {
            Ok(()) => Ok(progress.rows),
            Err(error) => {
                let deadline = error.as_db_error().is_some_and(|db| db.code() == &SqlState::DIVISION_BY_ZERO);
                let server_error = error.as_db_error().is_some();
                let completed = progress.completed;
                let failure = failure(error);
                if server_error {
                    // The message's BEGIN left the transaction open and aborted: end it, so the
                    // connection can carry the next statement (an idempotency replay, say).
                    let _ = within(CONNECT_TIMEOUT, client.batch_execute("ROLLBACK")).await;
                }
                Err(if deadline {
                    DbFailure {
                        sqlstate: Some("57014".into()),
                        message: "the statement finished after the Worker's deadline; rolled back before COMMIT".into(),
                    }
                } else if !server_error && completed >= STATEMENT_DONE {
                    // The statement ran and the connection broke after: it may have committed. Not
                    // "nothing was written" (503): the client must retry with its idempotency key.
                    DbFailure {
                        sqlstate: Some("XX000".into()),
                        message: format!(
                            "outcome unknown: the connection failed after the statement ({})",
                            failure.message
                        ),
                    }
                } else {
                    failure
                })
            }
        }
    }
}

/// Command completions before the statement's rows: BEGIN and the two SET LOCALs.
const STATEMENT_STARTS: usize = 3;
/// Completions once the statement itself has completed.
const STATEMENT_DONE: usize = STATEMENT_STARTS + 1;

/// What a simple-protocol message has answered so far: how many of its commands completed, and
/// the statement's rows (those between its start and its completion), by column name.
#[derive(Default)]
struct Progress {
    completed: usize,
    rows: Vec<Row>,
}

impl Progress {
    async fn run(&mut self, client: &Client, message: &str) -> Result<(), tokio_postgres::Error> {
        let stream = client.simple_query_raw(message).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            match item? {
                SimpleQueryMessage::CommandComplete(_) => self.completed += 1,
                SimpleQueryMessage::Row(row) if self.completed == STATEMENT_STARTS => {
                    let columns = row
                        .columns()
                        .iter()
                        .enumerate()
                        .map(|(index, column)| (column.name().to_string(), row.get(index).map(str::to_string)))
                        .collect();
                    self.rows.push(Row::new(columns));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl BatchExecutor for Database {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        let client = self.client().await?;
        within(BATCH_TIMEOUT, client.batch_execute(sql))
            .await
            .ok_or_else(|| DbFailure::connection("batch exceeded 55 s (Hyperdrive allows 60 s)"))?
            .map_err(failure)
    }
}
