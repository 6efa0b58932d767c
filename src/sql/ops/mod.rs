//! One module per credit operation: `plan*(…) -> Statement` and `decode*(rows) -> outcome`.

pub mod allocate;
pub mod balance;
pub mod consume;
pub mod grant;
pub mod principal;
pub mod prune;
pub mod purchase;
pub mod reconcile;
pub mod refund;
pub mod seed;
pub mod transactions;
