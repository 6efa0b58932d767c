#!/usr/bin/env bash
# Installs what the Cloudflare Worker's build and tests need, pinned, skipping what is present:
# the wasm32 target, worker-build 0.8.7, wasm-bindgen-cli equal to Cargo.lock's wasm-bindgen, and
# the repository's npm tools (wrangler, esbuild, binaryen's wasm-opt, better-auth, stripe).
# Never Debian's binaryen: its old wasm-opt produces modules that fail at init (REFERENCE §1).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
# The CLI must equal the wasm-bindgen crate in Cargo.lock (Cargo.toml pins it with `=`).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

say() { printf '[setup-worker] %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null || true)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (several minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes)"
  # No --locked: its lockfile pins a crate version the registry lacks (REFERENCE §1).
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# Same marker as scripts/setup.sh, so the two never run `npm ci` twice for one lockfile.
if ! { [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.fltr-lock 2>/dev/null; }; then
  say "npm ci (repository tools)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.fltr-lock
fi
for tool in wrangler esbuild wasm-opt; do
  [ -x "node_modules/.bin/$tool" ] || { echo "node_modules/.bin/$tool is missing after npm ci" >&2; exit 1; }
done
say "ready"
