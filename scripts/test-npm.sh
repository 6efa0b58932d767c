#!/usr/bin/env bash
# Tests of the npm package: builds pkg/, packs it, and runs
#   1. wasm-pack test --node (bindings, in Node)          3. Node API + CLI tests (real Postgres, pg)
#   2. wasm-pack test --headless --chrome (Chromium)      4. Next.js edge e2e + Playwright (one next build)
# Exits non-zero when anything fails; ends with one summary line.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="$root/target/npm"
export NEXT_TELEMETRY_DISABLED=1
scripts/setup-npm.sh || exit 1

passed=0; failed=0; failures=()
log_dir="$root/target/npm-logs"; mkdir -p "$log_dir"

# Runs a step; counts "# pass N"/"# fail N" (node --test) or "test result: ok. N passed" (wasm-bindgen).
step() {
  local name="$1"; shift
  echo "== $name"
  local log="$log_dir/${name// /-}.log"
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local p f
  p=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  f=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  if grep -Eq 'test result: (ok|FAILED)\.' "$log"; then
    p=$((p + $(grep -Eo 'test result: (ok|FAILED)\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')))
    f=$((f + $(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')))
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$status" -ne 0 ]; then
    failures+=("$name")
    [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
}

build_and_pack() {
  npm/build.sh || return 1
  rm -rf target/npm-pack && mkdir -p target/npm-pack
  npm pack ./pkg --pack-destination target/npm-pack --loglevel=error >/dev/null || return 1
  local tarball; tarball="$(ls target/npm-pack/fltr-credits-*.tgz)"
  # The tests use the package as a user installs it: from the packed tarball.
  (cd tests/npm && npm install --no-save --no-audit --no-fund --loglevel=error "$root/$tarball") || return 1
  # examples/nextjs depends on file:../../pkg (install-links: a packed copy); refresh the copy.
  (cd examples/nextjs && rm -rf node_modules/fltr-credits && npm install --no-audit --no-fund --loglevel=error) || return 1
  echo "packed $tarball"
}

step "build pkg" build_and_pack
if [ ${#failures[@]} -eq 0 ]; then
  # tests/npm/wasm is its own crate: fltr-credits with feature js, without its native dev-dependencies.
  step "wasm-pack test node" wasm-pack test --node tests/npm/wasm
  step "wasm-pack test chrome" wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver tests/npm/wasm
  step "node api and cli" bash -c 'cd tests/npm && node --test --test-concurrency=1 api.test.mjs cli.test.mjs imports.test.mjs keys.test.mjs holds.test.mjs expiring.test.mjs better-auth.test.mjs better-auth-attacks.test.mjs drizzle.test.mjs'
  step "nextjs e2e and playwright" bash -c 'cd tests/npm && node --test --test-concurrency=1 nextjs.test.mjs'
fi

status=0
[ ${#failures[@]} -eq 0 ] || status=1
echo "npm test summary: ${passed} passed, ${failed} failed$([ $status -eq 0 ] || printf '; failing steps: %s' "$(IFS=,; echo "${failures[*]}")")"
exit $status
