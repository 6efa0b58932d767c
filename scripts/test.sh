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

echo "== rustfmt (rustfmt.toml) and clippy, warnings denied, on every feature set that builds"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --no-default-features --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet --no-default-features --features worker --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet --no-default-features --features js --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet --no-default-features --features js-admin --target wasm32-unknown-unknown -- -D warnings

# Every suite runs even when an earlier one fails, so the closing line counts them all; a suite
# that exits non-zero without reporting a failed test counts as one failure.
broken=()
suite() { # name log command...
  local name=$1 file=$2
  shift 2
  "$@" 2>&1 | tee -a "$file" || broken+=("$name")
}

echo "== cargo test (unit, real Postgres, concurrency, adversarial, CLI)"
suite cargo "$log" cargo test --quiet

echo "== the pure modules' unit tests on wasm32 (wasm-bindgen-test-runner in Node)"
suite cargo-wasm32 "$log" env CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$HOME/.cargo/bin/wasm-bindgen-test-runner" \
  cargo test --target wasm32-unknown-unknown --no-default-features --lib

echo "== Cloudflare Worker end to end (wrangler dev, Hyperdrive, better-auth, stripe)"
worker_log=target/test-worker.log
: > "$worker_log"
suite worker "$worker_log" scripts/test-worker.sh

echo "== npm package (wasm-pack node + Chromium, Node API and CLI, next build + Playwright)"
npm_log=target/test-npm.log
: > "$npm_log"
suite npm "$npm_log" scripts/test-npm.sh

echo "== schemathesis against openapi.json (wrangler dev; session, API key, service and admin credentials)"
schemathesis_log=target/test-schemathesis.log
: > "$schemathesis_log"
suite schemathesis "$schemathesis_log" scripts/test-schemathesis.sh

# One closing line over every suite above: "N passed, N failed".
sum() { awk '{s+=$1} END {print s+0}'; }
cargo_passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{print $4}' | sum)
cargo_failed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{print $6}' | sum)
worker_passed=$(grep -oE '^ℹ pass [0-9]+' "$worker_log" | awk '{print $3}' | sum)
worker_failed=$(grep -oE '^ℹ fail [0-9]+' "$worker_log" | awk '{print $3}' | sum)
npm_passed=$(grep -oE '^npm test summary: [0-9]+ passed' "$npm_log" | awk '{print $4}' | sum)
npm_failed=$(grep -oE '^npm test summary: [0-9]+ passed, [0-9]+ failed' "$npm_log" | awk '{print $6}' | sum)
schemathesis_passed=$(grep -oE '^schemathesis summary: [0-9]+ passed' "$schemathesis_log" | awk '{print $3}' | sum)
schemathesis_failed=$(grep -oE '^schemathesis summary: [0-9]+ passed, [0-9]+ failed' "$schemathesis_log" | awk '{print $5}' | sum)
echo "suites: cargo ${cargo_passed}/${cargo_failed}, worker ${worker_passed}/${worker_failed}, npm ${npm_passed}/${npm_failed}, schemathesis ${schemathesis_passed}/${schemathesis_failed} (passed/failed)"
passed=$((cargo_passed + worker_passed + npm_passed + schemathesis_passed))
failed=$((cargo_failed + worker_failed + npm_failed + schemathesis_failed))
for name in "${broken[@]}"; do
  counted="${name%%-*}_failed"
  if [ "${!counted}" -eq 0 ]; then failed=$((failed + 1)); fi
  echo "suite ${name} exited non-zero"
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
