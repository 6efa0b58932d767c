#!/usr/bin/env bash
# Runs fltr-credits locally: the README's run command.
# Uses $DATABASE_URL when set; otherwise an embedded PGlite (real Postgres compiled to wasm) kept in
# .fltr/pglite and served on 127.0.0.1:${FLTR_PGLITE_PORT:-54329}. Applies the migrations, then serves.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for run
cargo build --quiet --release --bin fltr-credits
cli=target/release/fltr-credits

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  port="${FLTR_PGLITE_PORT:-54329}"
  mkdir -p .fltr
  echo "[run] no DATABASE_URL: starting embedded PGlite on 127.0.0.1:${port} (data in .fltr/pglite)"
  node_modules/.bin/pglite-server -d .fltr/pglite -p "$port" > .fltr/pglite.log 2>&1 &
  pids+=($!)
  export DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"
  for _ in $(seq 1 60); do grep -q listening .fltr/pglite.log 2>/dev/null && break; sleep 0.5; done
fi

"$cli" migrate
exec_serve() {
  echo "[run] database ready at ${DATABASE_URL}; Ctrl-C stops it"
  wait
}
exec_serve
