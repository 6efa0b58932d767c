#!/usr/bin/env bash
# Long CLI work on 1 000 000 ledger rows (BENCHMARKS.md §6): `reconcile`, `migrate` with nothing to
# do and `sweep` with nothing due, each the whole CLI process, by hyperfine; and `reconcile` on a
# pseudo-terminal (util-linux `script`) with its progress line against the same with `--json`.
# The database is tests/cli_progress.rs's: 10 000 users with 100 credits each, ledgered by 100 rows
# of 1 (reconcile is clean), vacuumed and analyzed.
#   benches/long_cli.sh
set -euo pipefail
cd "$(dirname "$0")/.."
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }
command -v script >/dev/null || { echo "script is needed (util-linux)" >&2; exit 1; }

cargo build --release --quiet --bin fltr-credits
cli="$PWD/target/release/fltr-credits"
db=fltr_bench_long_cli
url="$server/$db"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$server/postgres" -c "$1" >/dev/null; }
psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)"
psql_admin "CREATE DATABASE $db"
"$cli" migrate --database-url "$url" >/dev/null
start=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
INSERT INTO users (id, name, email, credits)
  SELECT 'u' || g, 'u' || g, 'u' || g || '@example.com', 100 FROM generate_series(1, 10000) g;
SET session_replication_role = replica; -- the rows name existing users: skip a million FK checks
INSERT INTO credit_transactions (id, user_id, amount, type, operation, created_at)
  SELECT 'ctx_bulk_' || g, 'u' || (g % 10000 + 1), 1, 'grant', 'bulk', now() at time zone 'utc'
  FROM generate_series(1, 1000000) g;
SET session_replication_role = DEFAULT;
VACUUM ANALYZE;
SQL
echo "filled (1 000 000 ledger rows, vacuumed, analyzed) in $(echo "$(date +%s.%N) - $start" | bc) s"
psql -At "$url" -c "SELECT pg_size_pretty(pg_total_relation_size('credit_transactions'))" | sed 's/^/credit_transactions: /'

hyperfine --warmup 2 --runs "${FLTR_BENCH_RUNS:-20}" -N --export-markdown target/long_cli.md \
  -n "reconcile --json" "$cli reconcile --json --database-url $url" \
  -n "migrate --json, nothing to do" "$cli migrate --json --database-url $url" \
  -n "sweep --json, nothing due" "$cli sweep --json --database-url $url" \
  -n "reconcile on a terminal, progress drawn" "script -qfec '$cli reconcile --database-url $url' /dev/null" \
  -n "reconcile --json on a terminal, no progress" "script -qfec '$cli reconcile --json --database-url $url' /dev/null"
cat target/long_cli.md

# A sweep with work: 1 000 users with one hold each past its deadline (tests/cli_progress.rs's
# holds), settled one account per statement.
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
INSERT INTO credit_holds (id, account_kind, account_id, user_id, opened_by, amount, state, operation, expires_at, created_at)
  SELECT 'hold_bulk_' || g, 'user', 'u' || g, 'u' || g, 'u' || g, 1, 'active', 'bulk',
    (now() at time zone 'utc') - interval '1 hour', (now() at time zone 'utc') - interval '2 hours'
  FROM generate_series(1, 1000) g;
UPDATE users SET held_credits = 1 WHERE id IN (SELECT account_id FROM credit_holds);
SQL
start=$(date +%s.%N)
"$cli" sweep --json --database-url "$url"
echo "sweep of 1 000 accounts due: $(echo "$(date +%s.%N) - $start" | bc) s"
psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)"
