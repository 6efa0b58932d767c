//! The native adapter: tokio-postgres, the migrator and the `fltr-credits` CLI.

pub mod cli;
pub mod clock;
pub mod database;
pub mod random;
