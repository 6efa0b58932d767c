//! The Worker's HTTP API as a pure function: a request model in, a response model out.
//!
//! No I/O of its own: it is generic over `sql::executor::BatchExecutor` (an `Executor` that can also
//! run parameterless batches, for `/admin/migrate`), and the adapter passes the clock (`now`) and a
//! request id. The Worker adapter only converts `worker::Request`/`Response` and provides a
//! Hyperdrive executor; the native test suite drives the very same router with tokio-postgres.

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod body;
pub mod config;
pub mod cors;
pub mod credits;
pub mod error_body;
pub mod health;
pub mod holds;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod router;
pub mod status;
pub mod webhook;

pub use config::Config;
pub use request::HttpRequest;
pub use response::HttpResponse;
pub use router::handle;
