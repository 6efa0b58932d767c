//! Empty: the tests are in tests/bindings.rs.
