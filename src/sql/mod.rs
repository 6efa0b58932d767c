//! Operations as single parameterized statements plus decoders of their rows. Pure.

pub mod executor;
pub mod failure;
pub mod idempotency;
pub mod inline;
pub mod ops;
pub mod outcome;
pub mod row;
pub mod statement;
pub mod timeouts;

pub use statement::Statement;
