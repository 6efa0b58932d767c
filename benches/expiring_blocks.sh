#!/usr/bin/env bash
# What expiring blocks cost a debit (BENCHMARKS.md §1, issue 12): pgbench runs the API-key unkeyed
# debit, 16 clients on distinct keys, in alternating rounds against the same run's limit:
#   limit               benches/statement_ablation/limit.sql, the minimal statement (the ceiling);
#   baseline_no_blocks  the consume statement built at $FLTR_EXPIRING_BASELINE (default f956567,
#                       the last commit before issue 12, in a git worktree), keys without blocks;
#   no_blocks           today's statement, keys whose block arrays are NULL (every balance that
#                       predates expiry: all credits in the one never-expiring block);
#   one_block           today's statement, keys with 1 live block (deadline a year ahead) holding
#                       all their credits;
#   twenty_blocks       today's statement, keys with 20 live blocks (distinct ids, deadlines every
#                       18 days over the next year, 100 000 000 credits each, 2 000 000 000 in all).
# Each variant debits its own 65 keys (the key prefix is swapped into its script), so no variant
# changes another's rows. Each round starts from an empty ledger; the block arrays are not reset
# (every debit rewrites them; VACUUM takes the old versions). Before timing, each variant's script
# runs once under psql and must debit: status 'ok', the key's credits down by 1, and on block keys
# its expiring_left changed.
#   benches/expiring_blocks.sh [CLIENTS=16] [SECONDS=4] [ROUNDS=6]
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-16}"; seconds="${2:-4}"; rounds="${3:-6}"
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
baseline="${FLTR_EXPIRING_BASELINE:-f956567}"
db=fltr_expiring_bench
variants=(limit baseline_no_blocks no_blocks one_block twenty_blocks)
# Each variant's key prefix, as long as limit.sql's `bench_key_`.
declare -A prefix=([limit]=bench_key_ [baseline_no_blocks]=bench_bas_ [no_blocks]=bench_nob_
  [one_block]=bench_one_ [twenty_blocks]=bench_twe_)
declare -A script
work=$(mktemp -d); tree=""
cleanup() {
  [ -n "$tree" ] && git worktree remove --force "$tree" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
cargo run --quiet --release --bin fltr-credits -- migrate --database-url "$server/$db" >/dev/null
# The key's name doubles as its key_hash, the column fltr-credits finds a presented key by.
keys() { # prefix, then the block columns' values (SQL over i, the key's number)
  echo "INSERT INTO api_key_credits (api_key, key_hash, user_id, credits, created_at, updated_at,
      expiring_ids, expiring_at, expiring_left)
    SELECT '$1' || lpad(i::text, 6, '0') || '_0000000', '$1' || lpad(i::text, 6, '0') || '_0000000',
      'bench', 2000000000, now(), now(), $2, $3, $4 FROM generate_series(0, 64) i;"
}
psql -q -v ON_ERROR_STOP=1 "$server/$db" >/dev/null <<SQL
INSERT INTO users (id, name, email) VALUES ('bench', 'bench', 'bench@example.com');
$(keys bench_key_ NULL NULL NULL)
$(keys bench_bas_ NULL NULL NULL)
$(keys bench_nob_ NULL NULL NULL)
$(keys bench_one_ "ARRAY['ctx_' || md5('one' || i)]" \
  "ARRAY[(now() AT TIME ZONE 'UTC') + interval '365 days']" "ARRAY[2000000000]")
$(keys bench_twe_ "ARRAY(SELECT 'ctx_' || md5('twenty' || i || '_' || j) FROM generate_series(1, 20) j ORDER BY j)" \
  "ARRAY(SELECT (now() AT TIME ZONE 'UTC') + j * interval '18 days' FROM generate_series(1, 20) j ORDER BY j)" \
  "array_fill(100000000, ARRAY[20])")
SQL

# Scripts: today's statement and the baseline's, each with the variant's key prefix.
cargo run --quiet --release --example consume_sql > "$work/ours.sql"
tree=$(mktemp -d -u)
git worktree add --detach "$tree" "$baseline" >/dev/null 2>&1
(cd "$tree" && CARGO_TARGET_DIR=/tmp/fltr-expiring-baseline-target cargo run --quiet --release --example consume_sql) \
  > "$work/baseline.sql"
git worktree remove --force "$tree"; tree=""
for variant in "${variants[@]}"; do
  source="$work/ours.sql"
  [ "$variant" = limit ] && source=benches/statement_ablation/limit.sql
  [ "$variant" = baseline_no_blocks ] && source="$work/baseline.sql"
  script[$variant]="$work/$variant.sql"
  sed "s/'bench_key_'/'${prefix[$variant]}'/g" "$source" > "${script[$variant]}"
  grep -q "'${prefix[$variant]}'" "${script[$variant]}" || { echo "$variant: no key prefix in its script" >&2; exit 1; }
done

# Each variant debits once (psql fills :client_id) before timing.
state() { # the key client 0 debits: credits and expiring_left
  psql -At "$server/$db" -c "SELECT credits || ' ' || coalesce(expiring_left::text, 'NULL')
    FROM api_key_credits WHERE key_hash = '${prefix[$1]}000000_0000000'"
}
for variant in "${variants[@]}"; do
  before=$(state "$variant")
  answer=$(psql -qAt -v ON_ERROR_STOP=1 -v client_id=0 "$server/$db" -f "${script[$variant]}" | head -1 | cut -d'|' -f1)
  after=$(state "$variant")
  [ "$variant" = limit ] || [ "$answer" = ok ] || { echo "$variant: debit answered '$answer'" >&2; exit 1; }
  [ "${after%% *}" -eq "$((${before%% *} - 1))" ] || { echo "$variant: credits $before -> $after" >&2; exit 1; }
  case "$variant" in one_block | twenty_blocks)
    [ "${after#* }" != "${before#* }" ] || { echo "$variant: expiring_left unchanged" >&2; exit 1; } ;;
  esac
  echo "checked $variant: ${answer:-no result row} | credits ${before%% *} -> ${after%% *} | expiring_left ${before#* } -> ${after#* }" \
    | cut -c1-200 >&2
done

declare -A tps
for round in $(seq 1 "$rounds"); do
  psql -q "$server/$db" -c "TRUNCATE credit_transactions" -c "VACUUM ANALYZE api_key_credits" -c "CHECKPOINT" >/dev/null
  for variant in "${variants[@]}"; do
    value=$(pgbench -n -M prepared -h 127.0.0.1 -U postgres -c "$clients" -j "$((clients < 4 ? clients : 4))" -T "$seconds" \
      -f "${script[$variant]}" "$db" 2>&1 | awk '/^tps/ {printf "%d", $3}')
    tps[$variant]="${tps[$variant]:-} $value"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
limit=$(echo "${tps[limit]}" | median)
base=$(echo "${tps[baseline_no_blocks]}" | median)
echo "| statement ($clients clients, distinct keys) | tps per round | median | median / limit | median / baseline |"
echo "|---|---|---|---|---|"
for variant in "${variants[@]}"; do
  m=$(echo "${tps[$variant]}" | median)
  echo "| $variant |${tps[$variant]} | $m | $(awk -v m="$m" -v l="$limit" 'BEGIN {printf "%.2f", m / l}') |" \
    "$(awk -v m="$m" -v b="$base" 'BEGIN {printf "%.2f", m / b}') |"
done
psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
