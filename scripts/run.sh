#!/usr/bin/env bash
# Runs fltr-credits locally: the README's run command.
# Uses $DATABASE_URL when set; otherwise an embedded PGlite (real Postgres compiled to wasm) kept in
# .fltr/pglite and served on 127.0.0.1:${FLTR_PGLITE_PORT:-54329}. Applies the migrations, seeds a
# demo user with a Better Auth session and an API key (credits granted through the ledger, once),
# then serves the Cloudflare Worker with `wrangler dev` on ${FLTR_WORKER_PORT:-8787}, reaching the
# database through the Hyperdrive binding, and prints a ready curl.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/setup.sh --for run
scripts/setup-worker.sh
cargo build --quiet --release --bin fltr-credits
cli=target/release/fltr-credits
worker_port="${FLTR_WORKER_PORT:-8787}"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
mkdir -p .fltr

if [ -z "${DATABASE_URL:-}" ]; then
  port="${FLTR_PGLITE_PORT:-54329}"
  echo "[run] no DATABASE_URL: starting embedded PGlite on 127.0.0.1:${port} (data in .fltr/pglite)"
  # PGlite is one backend. Its server multiplexes connections and keeps a transaction's statements
  # together, so the Worker (one short connection per request) and concurrent requests or a
  # migration do not interleave. Connections over the maximum are reset, and wrangler 4.86's
  # Hyperdrive relay dies on a reset: allow many (default 1 would reset the second request).
  setsid node_modules/.bin/pglite-server -d .fltr/pglite -p "$port" --max-connections "${FLTR_PGLITE_CONNECTIONS:-100}" > .fltr/pglite.log 2>&1 &
  pids+=($!)
  export DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"
  for _ in $(seq 1 60); do grep -q listening .fltr/pglite.log 2>/dev/null && break; sleep 0.5; done
fi

"$cli" migrate

# Demo data: a user, a live Better Auth session (30 days), an API key with a daily limit.
# Idempotent: rerunning keeps the rows and only extends the session. FLTR_DEMO=0 skips it (for a
# DATABASE_URL whose data should stay untouched).
demo_token="${FLTR_DEMO_SESSION_TOKEN:-fltr_demo_session_token_0123456789}"
demo_key="${FLTR_DEMO_API_KEY:-fltr_demo_key_0123456789abcdef}"
# The demo key is stored hashed, as a key written the seed's way is once its first use adopts it
# (API.md "API keys"): public id key_ + the first 20 hex digits of the secret's SHA-256, and that
# hash; never the secret. Paths and --api-key name it by the id; the secret goes in x-api-key or Bearer.
demo_key_hash=$(node -e "process.stdout.write(require('crypto').createHash('sha256').update(process.argv[1]).digest('hex'))" "$demo_key")
demo_key_id="key_${demo_key_hash:0:20}"
if [ "${FLTR_DEMO:-1}" != 0 ]; then
node --input-type=module -e "
import pg from 'pg';
const [url, token, key, id, hash] = process.argv.slice(1);
const client = new pg.Client({ connectionString: url });
await client.connect();
await client.query(\"INSERT INTO users (id, name, email) VALUES ('demo_user', 'Demo', 'demo@example.com') ON CONFLICT (id) DO NOTHING\");
await client.query(\"INSERT INTO sessions (id, expires_at, token, updated_at, user_id) VALUES ('demo_session', (now() at time zone 'utc') + interval '30 days', \$1, now(), 'demo_user') ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, token = excluded.token\", [token]);
// start: the first 9 characters, as for every key (none for a hand-made secret under 20).
await client.query(\"INSERT INTO api_key_credits (api_key, key_hash, start, name, user_id, daily_limit, created_at, updated_at) VALUES (\$1, \$2, \$3, 'demo', 'demo_user', 1000, now(), now()) ON CONFLICT DO NOTHING\", [id, hash, key.length >= 20 ? key.slice(0, 9) : '']);
await client.end();
" "$DATABASE_URL" "$demo_token" "$demo_key" "$demo_key_id" "$demo_key_hash"
# Ledgered grants, once per database (the idempotency keys make reruns replays).
"$cli" grant --user demo_user --amount 100 --idempotency-key run-sh-demo-user > /dev/null
"$cli" grant --api-key "$demo_key_id" --amount 100 --idempotency-key run-sh-demo-key > /dev/null
fi

# Worker secrets for local dev: .dev.vars when present, else generated once into .fltr/dev.vars.
env_file=.dev.vars
if [ ! -f "$env_file" ]; then
  env_file=.fltr/dev.vars
  if [ ! -f "$env_file" ]; then
    random() { node -e "console.log(require('crypto').randomBytes(24).toString('hex'))"; }
    printf 'BETTER_AUTH_SECRET=%s\nSTRIPE_WEBHOOK_SECRET=whsec_%s\nADMIN_TOKEN=%s\nSERVICE_TOKEN=%s\n' "${BETTER_AUTH_SECRET:-$(random)}" "$(random)" "$(random)" "$(random)" > "$env_file"
  fi
  # A file generated before SERVICE_TOKEN existed gets one (the backend's credential: refunds).
  grep -q '^SERVICE_TOKEN=' "$env_file" || printf 'SERVICE_TOKEN=%s\n' "$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")" >> "$env_file"
fi
admin_token=$(sed -n 's/^ADMIN_TOKEN=//p' "$env_file")
# Without a SERVICE_TOKEN in a hand-written .dev.vars, ADMIN_TOKEN acts as the service (API.md).
service_token=$(sed -n 's/^SERVICE_TOKEN=//p' "$env_file")
service_token="${service_token:-$admin_token}"

# Hyperdrive's local binding needs a password in the URL (trust auth ignores it) and no TLS.
CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE=$(node -e "
const u = new URL(process.argv[1]); if (!u.username) u.username = 'postgres'; if (!u.password) u.password = 'postgres';
if (!u.searchParams.has('sslmode')) u.searchParams.set('sslmode', 'disable'); console.log(u.toString());" "$DATABASE_URL")
export CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE

echo "[run] starting the Worker (wrangler dev builds it first: a few minutes the first time)"
setsid node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$worker_port" --env-file "$env_file" --show-interactive-dev-session=false > .fltr/wrangler.log 2>&1 &
wrangler_pid=$!
pids+=("$wrangler_pid")
for _ in $(seq 1 1200); do
  curl -fsS "http://127.0.0.1:${worker_port}/health" > /dev/null 2>&1 && break
  kill -0 "$wrangler_pid" 2>/dev/null || { tail -40 .fltr/wrangler.log; echo "[run] wrangler dev exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:${worker_port}/health" || { tail -40 .fltr/wrangler.log; exit 1; }
echo
cat <<MSG
[run] the Worker is serving http://127.0.0.1:${worker_port} on ${DATABASE_URL}
      logs: .fltr/wrangler.log; Ctrl-C stops everything. Try:

  curl -s http://127.0.0.1:${worker_port}/api/v1/credits/balance -H 'Authorization: Bearer ${demo_token}'
  curl -s -X POST http://127.0.0.1:${worker_port}/api/v1/credits/consume -H 'Authorization: Bearer ${demo_token}' \\
       -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' -d '{"amount": 5, "operation": "document.process"}'
  curl -s -X POST http://127.0.0.1:${worker_port}/api/v1/credits/consume -H 'x-api-key: ${demo_key}' \\
       -H 'Content-Type: application/json' -d '{"amount": 1, "operation": "document.process"}' -i
  # API keys are named by their public id in paths (${demo_key_id} is the demo key); a new key's
  # secret is shown once, in the answer to the POST:
  curl -s http://127.0.0.1:${worker_port}/api/v1/api-keys -H 'Authorization: Bearer ${demo_token}'
  curl -s -X POST http://127.0.0.1:${worker_port}/api/v1/api-keys/${demo_key_id}/allocate -H 'Authorization: Bearer ${demo_token}' \\
       -H 'Content-Type: application/json' -d '{"amount": 10}'
  curl -s -X POST http://127.0.0.1:${worker_port}/api/v1/api-keys -H 'Authorization: Bearer ${demo_token}' \\
       -H 'Content-Type: application/json' -d '{"name": "my script", "daily_limit": 100}'
  # The backend that ran a job refunds it (service credential; a session or API key gets 403):
  curl -s -X POST http://127.0.0.1:${worker_port}/api/v1/credits/refund -H 'Authorization: Bearer ${service_token}' \\
       -H 'Content-Type: application/json' -d '{"transaction_id": "<transaction_id from a consume>"}'
  curl -s http://127.0.0.1:${worker_port}/admin/reconcile -H 'Authorization: Bearer ${admin_token}'
MSG
wait "$wrangler_pid"
