#!/usr/bin/env bash
# The full test suite: the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for test
mkdir -p target
log=target/test-summary.log
: > "$log"

echo "== migrations/ in sync with the schema model"
cargo run --quiet --bin fltr-credits -- generate --check

echo "== squawk on the up migrations (exclusions and reasons in .squawk.toml)"
squawk --reporter gcc --assume-in-transaction migrations/*.sql

echo "== pure core builds for wasm32 with no I/O features"
cargo build --quiet --target wasm32-unknown-unknown --no-default-features --lib

echo "== cargo test (unit, golden, real Postgres, concurrency, CLI)"
cargo test --quiet 2>&1 | tee -a "$log"

# One closing line over every suite above: "N passed, N failed".
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
