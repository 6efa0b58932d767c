//! The pure core: no I/O, no clock, no randomness. Everything here builds for wasm32 and natively.

pub mod account;
pub mod api_key;
pub mod database_url;
pub mod digest;
pub mod error;
pub mod expiring;
pub mod hold;
pub mod idempotency;
pub mod percent;
pub mod session;
pub mod stripe;
pub mod time;
pub mod time_serde;
pub mod validate;
pub mod window;

pub use account::{Account, AccountKind};
pub use error::CreditError;
pub use time::Timestamp;
