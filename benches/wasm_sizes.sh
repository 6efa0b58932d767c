#!/usr/bin/env bash
# Wasm sizes (BENCHMARKS.md §3, issue 9's budgets): the npm package's modules and the Worker's,
# built by the repository's own build scripts, for a baseline commit and for this tree, printed
# side by side as one table (bytes after wasm-opt, and gzip -9).
#   benches/wasm_sizes.sh [BASELINE_COMMIT]      default b91924b (before issue 9's row protocol)
# The baseline is built in a git worktree under /tmp (a few minutes); tools: scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
baseline="${1:-b91924b}"
tree="/tmp/fltr-sizes-$baseline"
[ -d "$tree" ] || git worktree add -f "$tree" "$baseline" >/dev/null
# The baseline's build scripts expect the same tools in its tree.
for tools in node_modules npm/tools/node_modules; do
  [ -e "$tree/$tools" ] || ln -s "$root/$tools" "$tree/$tools"
done

gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
raw() { wc -c < "$1" | tr -d ' '; }
measure() { # tree → "npm_raw npm_gz admin_raw admin_gz worker_raw worker_gz"
  (cd "$1" && CARGO_TARGET_DIR="$1/target/npm" npm/build.sh >/dev/null && scripts/build-worker.sh >/dev/null)
  local admin="$1/pkg/admin/fltr_credits_admin_bg.wasm" admin_raw=- admin_gz=-
  [ -f "$admin" ] && { admin_raw=$(raw "$admin"); admin_gz=$(gz "$admin"); }
  echo "$(raw "$1/pkg/fltr_credits_bg.wasm") $(gz "$1/pkg/fltr_credits_bg.wasm") $admin_raw $admin_gz" \
    "$(raw "$1/build/index_bg.wasm") $(gz "$1/build/index_bg.wasm")"
}
read -r b_npm b_npm_gz b_admin b_admin_gz b_worker b_worker_gz <<<"$(measure "$tree")"
read -r c_npm c_npm_gz c_admin c_admin_gz c_worker c_worker_gz <<<"$(measure "$root")"
current="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +)"
echo "| module | budget (gzip -9) | $baseline raw | $baseline gzip | $current raw | $current gzip |"
echo "|---|---|---|---|---|---|"
echo "| npm \`fltr_credits_bg.wasm\` (edge and browser) | 120 KB | $b_npm | $b_npm_gz | $c_npm | $c_npm_gz |"
echo "| npm \`admin/fltr_credits_admin_bg.wasm\` (Node entry and CLI only) | — | $b_admin | $b_admin_gz | $c_admin | $c_admin_gz |"
echo "| Worker \`index_bg.wasm\` | 300 KB | $b_worker | $b_worker_gz | $c_worker | $c_worker_gz |"
