#!/usr/bin/env bash
# Installs what the npm package's build and tests need, pinned, skipping what is present:
# Chromium + chromedriver + a CJK font (Debian), wasm-bindgen-cli (= Cargo.lock) and wasm-pack 0.15.1 (cargo),
# the wasm32 target, and the npm dependencies of the repository root, npm/tools, tests/npm and examples/nextjs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '[setup-npm] %s\n' "$*"; }

WASM_BINDGEN_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
WASM_PACK_VERSION=0.15.1

ensure_apt() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  # A CJK font, so the ja-JP screenshot of the balance page shows 万 rather than a box.
  dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
  [ ${#missing[@]} -eq 0 ] && return
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_cargo_tools() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || { say "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION" \
     || ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    # No --locked: its lockfile pins a crate version the registry lacks (REFERENCE §1).
    say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
    cargo install --quiet --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  if ! wasm-pack --version 2>/dev/null | grep -qx "wasm-pack $WASM_PACK_VERSION"; then
    say "cargo install wasm-pack $WASM_PACK_VERSION (a few minutes)"
    cargo install --quiet --force wasm-pack --version "$WASM_PACK_VERSION"
  fi
}

# npm ci in a folder unless its node_modules already match its package-lock.json.
ensure_npm() {
  local dir="$1"
  if [ -f "$dir/node_modules/.package-lock.json" ] && cmp -s "$dir/package-lock.json" "$dir/node_modules/.fltr-lock" 2>/dev/null; then return; fi
  say "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$dir/package-lock.json" "$dir/node_modules/.fltr-lock"
}

ensure_apt
ensure_cargo_tools
# The repository's own tools: typescript (npm/build.sh compiles fltr-credits/drizzle), drizzle-orm and
# drizzle-kit (tests/npm/drizzle.test.mjs). scripts/setup.sh installs them too; this covers running alone.
ensure_npm .
ensure_npm npm/tools
ensure_npm tests/npm
# examples/nextjs depends on file:../../pkg: build it first when a clean clone has none.
[ -f pkg/fltr_credits_bg.wasm ] || npm/build.sh
ensure_npm examples/nextjs
say "ready"
