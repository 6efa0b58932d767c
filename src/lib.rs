//! fltr-credits: FLTR's credit system as one crate.
//!
//! `core`, `schema` and `sql` are pure (no I/O, no clock, no randomness) and build for
//! `wasm32-unknown-unknown`; `adapters` carry their statements to Postgres, each behind a feature.

// No panics on input paths: an `unwrap` or `expect` outside tests must say why it cannot fail.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod core;
pub mod engine;
pub mod exit;
pub mod migrator;
pub mod schema;
pub mod sql;

pub mod http;

pub mod adapters;
