//! fltr-credits: FLTR's credit system as one crate.
//!
//! `core`, `schema` and `sql` are pure (no I/O, no clock, no randomness) and build for
//! `wasm32-unknown-unknown`; `adapters` carry their statements to Postgres, each behind a feature.

pub mod core;
pub mod engine;
pub mod migrator;
pub mod schema;
pub mod sql;

pub mod http;

pub mod adapters;
