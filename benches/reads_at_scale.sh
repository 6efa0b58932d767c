#!/usr/bin/env bash
# Balance reads at scale (BENCHMARKS.md §4): `fltr-credits balance --user` on a database holding
# 100 000 other users' API keys, against the same read on a database with none, for this tree's CLI
# and a baseline CLI (default: commit 631927d, before the indexed statements and migration 0003),
# side by side in one hyperfine run.
#   benches/reads_at_scale.sh [BASELINE_CLI]
# Without BASELINE_CLI, builds 631927d into /tmp/fltr-baseline (a git worktree; a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }

baseline="${1:-}"
if [ -z "$baseline" ]; then
  [ -d /tmp/fltr-baseline ] || git worktree add -f /tmp/fltr-baseline 631927d >/dev/null
  (cd /tmp/fltr-baseline && CARGO_TARGET_DIR=/tmp/fltr-baseline-target cargo build --release --quiet --bin fltr-credits)
  baseline=/tmp/fltr-baseline-target/release/fltr-credits
fi
cargo build --release --quiet --bin fltr-credits
current="$PWD/target/release/fltr-credits"

psql_admin() { psql -q -v ON_ERROR_STOP=1 "$server/postgres" -c "$1" >/dev/null; }
fill() { # database, cli that migrates it, number of other users' keys
  psql_admin "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
  psql_admin "CREATE DATABASE $1"
  "$2" migrate --database-url "$server/$1" >/dev/null
  psql -q -v ON_ERROR_STOP=1 "$server/$1" >/dev/null <<SQL
INSERT INTO users (id, name, email) VALUES ('u1', 'u1', 'u1@example.com');
INSERT INTO api_key_credits (api_key, user_id, created_at, updated_at) VALUES ('fltr_bench_own_key_0001', 'u1', now(), now());
INSERT INTO users (id, name, email) SELECT 'bulk_' || g, 'b', 'bulk_' || g || '@example.com' FROM generate_series(1, 1000) g WHERE $3 > 0;
INSERT INTO api_key_credits (api_key, user_id, created_at, updated_at)
  SELECT 'fltr_bulk_key_' || g, 'bulk_' || (g % 1000 + 1), now(), now() FROM generate_series(1, $3) g;
ANALYZE;
SQL
}
# The baseline migrates its own schema (0000–0002, as deployed before); this tree adds 0003.
fill fltr_bench_reads_base_empty "$baseline" 0
fill fltr_bench_reads_base_100k "$baseline" 100000
fill fltr_bench_reads_empty "$current" 0
fill fltr_bench_reads_100k "$current" 100000

hyperfine --warmup 5 --runs 60 -N --export-markdown target/reads_at_scale.md \
  -n "baseline, no other keys" "$baseline balance --user u1 --json --database-url $server/fltr_bench_reads_base_empty" \
  -n "baseline, 100 000 other keys" "$baseline balance --user u1 --json --database-url $server/fltr_bench_reads_base_100k" \
  -n "this tree, no other keys" "$current balance --user u1 --json --database-url $server/fltr_bench_reads_empty" \
  -n "this tree, 100 000 other keys" "$current balance --user u1 --json --database-url $server/fltr_bench_reads_100k"
cat target/reads_at_scale.md
for db in fltr_bench_reads_base_empty fltr_bench_reads_base_100k fltr_bench_reads_empty fltr_bench_reads_100k; do
  psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done
