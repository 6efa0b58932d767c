#!/usr/bin/env bash
# schemathesis (property-based API tests, default checks) against openapi.json and the built
# Worker under `wrangler dev` + Hyperdrive + a throwaway Postgres database. One run per credential:
#   session  Better Auth session (Authorization: Bearer <token>)  end-user routes and holds, refund, release and admin (403)
#   apikey   API key (x-api-key)                                  end-user routes and holds, allocate and release (403)
#   service  Authorization: Bearer <SERVICE_TOKEN>                 refund, allocate, holds (release too), acting for a named account
#   admin    Authorization: Bearer <ADMIN_TOKEN>                   /admin/* (sweep included)
#   public   no credential                                        /health, Stripe webhooks (signed)
# The user and the key are granted 1,000,000 credits each first, so consumes succeed.
# Assumes the Worker was built by scripts/test-worker.sh (build/index.js; built here if missing).
# Prints "schemathesis summary: N passed, M failed" (one per operation and run); exits non-zero
# on any failure. FLTR_SX_EXAMPLES (examples per operation), FLTR_SX_SEED override the defaults.
# Needs PostgreSQL on 127.0.0.1:5432 with trust auth, or FLTR_TEST_PG=postgres://user@host:port.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${FLTR_SX_EXAMPLES:-40}"
SEED="${FLTR_SX_SEED:-20261125}"
out=target/schemathesis
rm -rf "$out"
mkdir -p "$out"

if [ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null || true)" != "$SCHEMATHESIS_VERSION" ]; then
  echo "[test-schemathesis] installing schemathesis $SCHEMATHESIS_VERSION"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

scripts/setup-worker.sh
server="${FLTR_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
if ! node -e "const c=new (require('pg').Client)({connectionString:process.argv[1]+'/postgres'});c.connect().then(()=>c.end()).catch(e=>{console.error(e.message);process.exit(1)})" "$server"; then
  echo "[test-schemathesis] Postgres is not reachable at $server (start it, or set FLTR_TEST_PG)" >&2
  exit 1
fi
cargo build --quiet --bin fltr-credits
if [ ! -f build/index.js ]; then
  echo "== Worker build (build/index.js is missing)"
  scripts/build-worker.sh
fi

echo "== Worker under wrangler dev for schemathesis"
started=$(date +%s)
FLTR_CLI="$PWD/target/debug/fltr-credits" node tests/schemathesis/serve.mjs > "$out/worker.json" 2> "$out/worker.log" &
serve_pid=$!
stop_worker() {
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
}
trap stop_worker EXIT
until [ -s "$out/worker.json" ]; do
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "[test-schemathesis] the Worker did not start:" >&2
    cat "$out/worker.log" >&2
    exit 1
  fi
  sleep 0.5
done
field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'))[process.argv[2]]))" "$out/worker.json" "$1"; }
base=$(field base)
export FLTR_SX_BASE="$base"
export FLTR_SX_USER_ID; FLTR_SX_USER_ID=$(field user_id)
export FLTR_SX_API_KEY; FLTR_SX_API_KEY=$(field api_key)
export FLTR_SX_API_KEY_ID; FLTR_SX_API_KEY_ID=$(field api_key_id)
export FLTR_SX_SPARE_API_KEY_ID; FLTR_SX_SPARE_API_KEY_ID=$(field spare_api_key_id)
export FLTR_SX_STRIPE_WEBHOOK_SECRET; FLTR_SX_STRIPE_WEBHOOK_SECRET=$(field stripe_webhook_secret)
session_token=$(field session_token)
service_token=$(field service_token)
admin_token=$(field admin_token)
echo "Worker at $base after $(( $(date +%s) - started )) s; schemathesis $SCHEMATHESIS_VERSION, $EXAMPLES examples per operation, seed $SEED"

passed=0
failed=0
# run_profile NAME "HEADER" PHASES OPERATION_ID...  ("" for no header). The stateful phase follows
# openapi.json's links (consume -> refund, createHold -> capture/release/read, capture -> refund)
# and the ones schemathesis infers; it runs where both ends of a link are selected. hooks.py reads
# the header (FLTR_SX_HEADER) to open the holds that hold routes name.
run_profile() {
  local name=$1 header=$2 phases=$3
  shift 3
  local args=(--config-file tests/schemathesis/schemathesis.toml run openapi.json --url "$base"
    --max-examples "$EXAMPLES" --seed "$SEED" --phases "$phases" --no-color --output-sanitize false
    --report junit --report-junit-path "$out/$name.xml")
  [ -n "$header" ] && args+=(--header "$header")
  local operation
  for operation in "$@"; do args+=(--include-operation-id "$operation"); done
  local begun rc=0
  begun=$(date +%s)
  FLTR_SX_PROFILE="$name" FLTR_SX_HEADER="$header" PYTHONPATH="$PWD/tests/schemathesis${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks \
    python3 -m schemathesis.cli "${args[@]}" > "$out/$name.log" 2>&1 || rc=$?
  # One test case per operation: passed, or failed (a failure or an error).
  local counts
  counts=$(python3 - "$out/$name.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
except (OSError, ET.ParseError):
    print(0, 0); sys.exit()
ok = bad = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        bad += 1
    elif case.find("skipped") is None:
        ok += 1
print(ok, bad)
PY
)
  local ok=${counts% *} bad=${counts#* }
  # A run that failed without a failing test case (bad options, schema errors) counts as one failure.
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  passed=$((passed + ok))
  failed=$((failed + bad))
  echo "== schemathesis $name: $ok passed, $bad failed ($(( $(date +%s) - begun )) s, exit $rc)"
  if [ "$bad" -ne 0 ]; then cat "$out/$name.log"; else tail -n 15 "$out/$name.log"; fi
}

stateless=examples,coverage,fuzzing
run_profile public "" "$stateless" health stripeWebhook
keys="listApiKeys createApiKey updateApiKey rotateApiKey revokeApiKey revokeLeakedApiKeys"
holds="createHold getHold captureHold releaseHold"
run_profile session "Authorization: Bearer $session_token" "$stateless,stateful" \
  balance check consume transactions allocate refund adminGrant adminSweep $keys $holds
run_profile apikey "x-api-key: $FLTR_SX_API_KEY" "$stateless" balance check consume transactions allocate $keys $holds
run_profile service "Authorization: Bearer $service_token" "$stateless,stateful" \
  balance check consume transactions refund allocate $keys $holds
run_profile admin "Authorization: Bearer $admin_token" "$stateless" adminMigrate adminVerify adminReconcile adminGrant adminSweep

stop_worker
trap - EXIT
if grep -qiE 'panicked|RuntimeError|unreachable' "$out/worker.log"; then
  echo "[test-schemathesis] the Worker logged a crash (target/schemathesis/worker.log):"
  grep -iE -m 20 'panicked|RuntimeError|unreachable' "$out/worker.log"
  failed=$((failed + 1))
fi
echo "schemathesis: $(( $(date +%s) - started )) s in all; logs and JUnit reports in $out/"
echo "schemathesis summary: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
