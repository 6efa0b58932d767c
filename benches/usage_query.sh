#!/usr/bin/env bash
# What `usage` costs (BENCHMARKS.md §6, issue 13): the one statement of src/sql/ops/usage.rs,
# prepared with text parameters as every adapter sends them and run under the generic plan
# Postgres caches, on a ledger of 200 000 rows (2 000 users, 100 teams, 4 000 keys, 80 % usage, one
# usage in eleven refunded) plus one busy user with 50 000 usage rows over 2025 (one in twenty
# refunded). Prints the plan of a year for the busy user, then the median of 9 runs of: a year and
# the last 30 days, grouped by day and operation.
#   benches/usage_query.sh
set -euo pipefail
cd "$(dirname "$0")/.."
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
database="fltr_bench_usage_$$"
psql "$server/postgres" -qc "CREATE DATABASE $database"
trap 'psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"' EXIT
cargo run --quiet --bin fltr-credits -- migrate --database-url "$server/$database" > /dev/null
sql=$(python3 -c "import sys; s=open('src/sql/ops/usage.rs').read(); print(s.split('pub const SQL: &str = r#\"')[1].split('\"#;')[0])")
psql "$server/$database" -q <<SQL
INSERT INTO users (id, name, email) SELECT 'u' || g, 'u', 'u' || g || '@example.com' FROM generate_series(1, 2000) g;
INSERT INTO teams (id, name, created_at, updated_at) SELECT 't' || g, 't', now(), now() FROM generate_series(1, 100) g;
INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, api_key_id, created_at)
  SELECT 'ctx_' || g, 'u' || (g % 2000 + 1), CASE WHEN g % 3 = 0 THEN 't' || (g % 100 + 1) END,
    CASE WHEN g % 5 = 0 THEN 10 ELSE -(g % 7 + 1) END, CASE WHEN g % 5 = 0 THEN 'grant' ELSE 'usage' END,
    'op_' || (g % 4), CASE WHEN g % 4 = 0 THEN 'key_' || (g % 4000) END,
    timestamp '2025-01-01' + (g % 730) * interval '1 day' + (g % 86400) * interval '1 second'
  FROM generate_series(1, 200000) g;
INSERT INTO credit_transactions (id, user_id, amount, type, created_at)
  SELECT 'refund_' || t.id, t.user_id, -t.amount, 'refund', t.created_at + interval '1 day'
  FROM credit_transactions t WHERE t.type = 'usage' AND substr(t.id, 5)::int % 11 = 0;
INSERT INTO credit_transactions (id, user_id, amount, type, operation, created_at)
  SELECT 'big_' || g, 'u1', -(g % 9 + 1), 'usage', 'op_' || (g % 5), timestamp '2025-01-01' + (g % 365) * interval '1 day' + (g % 86400) * interval '1 second'
  FROM generate_series(1, 50000) g;
INSERT INTO credit_transactions (id, user_id, amount, type, created_at)
  SELECT 'refund_big_' || g, 'u1', g % 9 + 1, 'refund', timestamp '2025-06-01' FROM generate_series(1, 50000, 20) g;
VACUUM ANALYZE credit_transactions;
SQL
median() {
  local from=$1 to=$2
  for _ in 1 2 3 4 5 6 7 8 9; do
    psql "$server/$database" -X -q <<SQL | grep -o 'Execution Time: [0-9.]*' | awk '{print $3}'
SET plan_cache_mode = force_generic_plan;
PREPARE usage_plan (text, text, text, text, text, text, text, text) AS $sql;
EXPLAIN (ANALYZE, SUMMARY ON, COSTS OFF) EXECUTE usage_plan ('user', 'u1', '$from', '$to', 'true', 'true', 'false', '10001');
SQL
  done | sort -n | sed -n 5p
}
psql "$server/$database" -X -q <<SQL
SET plan_cache_mode = force_generic_plan;
PREPARE usage_plan (text, text, text, text, text, text, text, text) AS $sql;
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE usage_plan ('user', 'u1', '2025-01-01', '2026-01-01', 'true', 'true', 'false', '10001');
SQL
echo "a year (50 000 usage rows), median of 9: $(median 2025-01-01 2026-01-01) ms"
echo "30 days (~4 100 usage rows), median of 9: $(median 2025-12-02 2026-01-01) ms"
