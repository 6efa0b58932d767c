//! Empty: the tests are in tests/node.rs and tests/browser.rs (shared: tests/common/bindings.rs).
