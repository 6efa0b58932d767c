//! The binding tests in Chromium (`wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver`).
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
include!("common/bindings.rs");
