#!/usr/bin/env bash
# Runs the Worker benchmark twice — Hyperdrive binding straight at Postgres (a new backend per
# request, as local `wrangler dev` does), then through a transaction-pooling pgbouncer (what
# production Hyperdrive does: pooled origin connections) — next to the direct engine each time.
# Results: BENCHMARKS.md §2. Usage: benches/worker_bench.sh [seconds per level, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup-worker.sh
cargo build --quiet --bin fltr-credits
cargo build --quiet --release --example worker_direct
[ -f build/index.js ] || { echo "build the Worker first (scripts/test-worker.sh)" >&2; exit 1; }

echo "== Hyperdrive -> Postgres (no pool)"
node benches/worker_load.mjs --seconds "$seconds"

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  dir=$(mktemp -d); chmod 755 "$dir"
  printf '"postgres" "postgres"\n' > "$dir/userlist.txt"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${FLTR_BENCH_PGBOUNCER_PORT:-6432}
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,application_name
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  chown -R postgres "$dir" 2>/dev/null || true
  # pgbouncer refuses to run as root.
  if [ "$(id -u)" = 0 ]; then pgbouncer_cmd=(/usr/sbin/pgbouncer -u postgres); else pgbouncer_cmd=(pgbouncer); fi
  "${pgbouncer_cmd[@]}" -d "$dir/pgbouncer.ini"
  trap 'kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; rm -rf "$dir"' EXIT
  sleep 1
  echo "== Hyperdrive -> pgbouncer (transaction pooling, like production Hyperdrive) -> Postgres"
  node benches/worker_load.mjs --seconds "$seconds" --via "postgres://postgres:postgres@127.0.0.1:${FLTR_BENCH_PGBOUNCER_PORT:-6432}/{database}"
else
  echo "(pgbouncer not installed: apt-get install pgbouncer for the pooled run)"
fi
