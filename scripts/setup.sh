#!/usr/bin/env bash
# Installs what fltr-credits' run and test commands need, skipping whatever is already present.
# Versions are pinned; every step is idempotent. Usage: scripts/setup.sh [--for run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${2:-test}"
[ "${1:-}" = "--for" ] || purpose="test"

say() { printf '[setup] %s\n' "$*"; }

# Postgres: this machine kind ships it; start it when stopped, install it where missing.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 1; done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1
}

ensure_wasm_target() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown && return
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}

ensure_node_modules() {
  if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.fltr-lock 2>/dev/null; then return; fi
  say "npm ci (repository tools)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.fltr-lock
}

# fmt and clippy gate scripts/test.sh; rustup ships them with the toolchain on this machine kind.
ensure_rust_components() {
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^${component}" && continue
    say "adding rust component ${component}"
    rustup component add "$component"
  done
}

ensure_squawk() {
  if command -v squawk >/dev/null 2>&1 && squawk --version | grep -q '2.70.0'; then return; fi
  say "installing squawk-cli 2.70.0"
  python3 -m pip install --quiet --disable-pip-version-check squawk-cli==2.70.0
}

ensure_node_modules
if [ "$purpose" = "test" ]; then
  ensure_postgres
  ensure_wasm_target
  ensure_rust_components
  ensure_squawk
  # The Worker (worker-build, wasm-bindgen, wrangler) and the npm package (wasm-pack, Chromium,
  # Next.js) each keep their own pinned installer.
  scripts/setup-worker.sh
  scripts/setup-npm.sh
fi
say "ready (${purpose})"
