//! The schema model and everything generated from it: migration files, drizzle's journal, the
//! migration plan and drift verification. Pure: the native adapter carries the statements.

pub mod ddl;
pub mod drizzle;
pub mod history;
pub mod journal;
pub mod model;
pub mod plan;
pub mod verify;
