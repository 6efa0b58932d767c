#!/usr/bin/env bash
# Where the consume statement's cost goes (BENCHMARKS.md §1, issue 9): pgbench runs the minimal
# statement (limit.sql), the same plus a result row (limit_with_result.sql), fltr-credits' own
# consume statement (printed by `cargo run --example consume_sql`), and two hand-written variants
# that decide in the UPDATE's WHERE instead of a locked pre-read (update_first*.sql), on distinct
# keys. Rounds alternate the variants; each round starts from an empty ledger.
#   benches/statement_ablation/run.sh [CLIENTS=16] [SECONDS=4] [ROUNDS=6]
# FLTR_ABLATION_VARIANTS="limit ours …" picks the scripts (file names in this folder, `ours`, or
# `ours_keyed`: the same debit under a fresh idempotency key per transaction).
# FLTR_ABLATION_BASELINE=<commit> also builds that commit's `consume_sql` (in a git worktree) as
# `ours_baseline` and `ours_keyed_baseline`, to compare two versions of the statement in one run.
# The bench keys' name is both their `api_key` and their `key_hash`, so a statement that finds keys
# by either column debits the same rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
clients="${1:-16}"; seconds="${2:-4}"; rounds="${3:-6}"
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
db=fltr_ablation
here=benches/statement_ablation
psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
cargo run --quiet --release --bin fltr-credits -- migrate --database-url "$server/$db" >/dev/null
psql -q "$server/$db" >/dev/null <<'SQL'
INSERT INTO users (id, name, email) VALUES ('bench', 'bench', 'bench@example.com');
-- The key's name doubles as its key_hash, the column fltr-credits finds a presented key by.
INSERT INTO api_key_credits (api_key, key_hash, user_id, credits, created_at, updated_at)
  SELECT 'bench_key_' || lpad(i::text, 6, '0') || '_0000000', 'bench_key_' || lpad(i::text, 6, '0') || '_0000000',
    'bench', 2000000000, now(), now() FROM generate_series(0, 64) i;
SQL
ours=$(mktemp --suffix=.sql); ours_keyed=$(mktemp --suffix=.sql)
cargo run --quiet --release --example consume_sql > "$ours"
cargo run --quiet --release --example consume_sql -- --keyed > "$ours_keyed"
ours_baseline=$(mktemp --suffix=.sql); ours_keyed_baseline=$(mktemp --suffix=.sql)
if [ -n "${FLTR_ABLATION_BASELINE:-}" ]; then
  tree=$(mktemp -d)
  git worktree add --detach "$tree" "$FLTR_ABLATION_BASELINE" >/dev/null 2>&1
  (cd "$tree" && CARGO_TARGET_DIR=/tmp/fltr-ablation-baseline-target cargo run --quiet --release --example consume_sql) > "$ours_baseline"
  (cd "$tree" && CARGO_TARGET_DIR=/tmp/fltr-ablation-baseline-target cargo run --quiet --release --example consume_sql -- --keyed) > "$ours_keyed_baseline"
  git worktree remove --force "$tree"
fi
declare -A tps
variants=(${FLTR_ABLATION_VARIANTS:-limit limit_with_result ours ours_keyed update_first update_first_no_refusal_no_owner})
for round in $(seq 1 "$rounds"); do
  psql -q "$server/$db" -c "TRUNCATE credit_transactions, credit_idempotency_keys" -c "VACUUM ANALYZE api_key_credits" -c "CHECKPOINT" >/dev/null
  for variant in "${variants[@]}"; do
    script="$here/$variant.sql"; [ "$variant" = ours ] && script="$ours"; [ "$variant" = ours_keyed ] && script="$ours_keyed"
    [ "$variant" = ours_baseline ] && script="$ours_baseline"; [ "$variant" = ours_keyed_baseline ] && script="$ours_keyed_baseline"
    value=$(pgbench -n -M prepared -h 127.0.0.1 -U postgres -c "$clients" -j "$((clients < 4 ? clients : 4))" -T "$seconds" \
      -f "$script" "$db" 2>&1 | awk '/^tps/ {printf "%d", $3}')
    tps[$variant]="${tps[$variant]:-} $value"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
limit=$(echo "${tps[limit]}" | median)
echo "| statement ($clients clients, distinct keys) | tps per round | median | median / limit |"
echo "|---|---|---|---|"
for variant in "${variants[@]}"; do
  m=$(echo "${tps[$variant]}" | median)
  echo "| $variant |${tps[$variant]} | $m | $(awk -v m="$m" -v l="$limit" 'BEGIN {printf "%.2f", m / l}') |"
done
rm -f "$ours" "$ours_keyed" "$ours_baseline" "$ours_keyed_baseline"
psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
