//! One module per credit operation: `plan(…) -> Statement` and `decode(rows) -> outcome`.

pub mod seed;
