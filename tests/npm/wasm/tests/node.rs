//! The binding tests in Node (`wasm-pack test --node`).
include!("common/bindings.rs");
