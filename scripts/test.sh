#!/usr/bin/env bash
# The full test suite: the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for test

echo "== migrations/ in sync with the schema model"
cargo run --quiet --bin fltr-credits -- generate --check

echo "== squawk on the up migrations (exclusions and reasons in .squawk.toml)"
squawk --reporter gcc --assume-in-transaction migrations/*.sql

echo "== pure core builds for wasm32 with no I/O features"
cargo build --quiet --target wasm32-unknown-unknown --no-default-features --lib

echo "== cargo test (unit, golden, real Postgres)"
cargo test --quiet 2>&1 | tee target/cargo-test.log
