#!/usr/bin/env bash
# The Worker's end-to-end suite: builds the Worker once (worker-build, release), then node's test
# runner starts it under `wrangler dev` (workerd) against a throwaway Postgres database per test
# file, reached through the Hyperdrive binding. Exits non-zero on any failure.
# (The router's native tests, tests/http_api.rs, run with `cargo test`.)
# Needs PostgreSQL on 127.0.0.1:5432 with trust auth, or FLTR_TEST_PG=postgres://user@host:port.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup-worker.sh

server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
if ! node -e "const c=new (require('pg').Client)({connectionString:process.argv[1]+'/postgres'});c.connect().then(()=>c.end()).catch(e=>{console.error(e.message);process.exit(1)})" "$server"; then
  echo "[test-worker] Postgres is not reachable at $server (start it, or set FLTR_TEST_PG)" >&2
  exit 1
fi

echo "== fltr-credits CLI (migrates each test database)"
cargo build --quiet --bin fltr-credits

echo "== Worker build (worker-build --release, target/worker)"
scripts/build-worker.sh

echo "== Worker e2e (node --test, wrangler dev + Hyperdrive + Postgres)"
FLTR_CLI="$PWD/target/debug/fltr-credits" node --test --test-concurrency=1 --test-reporter=spec tests/worker/
