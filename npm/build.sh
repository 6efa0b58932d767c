#!/usr/bin/env bash
# Builds the npm package into pkg/ (deterministic: pkg/ is wiped and assembled from the wasm-pack
# output and the hand-written files of npm/). Usage: npm/build.sh
#   wasm-pack build --target web --release --no-opt --no-pack, twice:
#     feature js       → pkg/fltr_credits*            the edge/browser module (`fltr-credits`)
#     feature js-admin → pkg/admin/fltr_credits_admin* the same plus migrator, seeding and the CLI,
#                        loaded by `fltr-credits/node.js` and `npx fltr-credits`
#   wasm-opt -Oz from npm binaryen@132.0.0 (npm/tools; never Debian's binaryen, see REFERENCE §1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/npm}"
# Smaller code for the wasm only; the native profile is untouched.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export PATH="$HOME/.cargo/bin:$PATH"
stage="$CARGO_TARGET_DIR/wasm-pack-out"
wasm_opt="$root/npm/tools/node_modules/.bin/wasm-opt"

need() { command -v "$1" >/dev/null 2>&1 || { echo "npm/build.sh: $1 is missing; run scripts/setup-npm.sh" >&2; exit 1; }; }
need wasm-pack
need wasm-bindgen
[ -x "$wasm_opt" ] || { echo "npm/build.sh: $wasm_opt is missing; run scripts/setup-npm.sh" >&2; exit 1; }
locked="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
installed="$(wasm-bindgen --version | awk '{print $2}')"
[ "$locked" = "$installed" ] || { echo "npm/build.sh: wasm-bindgen CLI $installed != $locked in Cargo.lock" >&2; exit 1; }

rm -rf "$stage" "$stage-admin"
# --no-opt: wasm-pack would fetch binaryen from GitHub; we run npm binaryen's wasm-opt below.
wasm-pack --quiet build --target web --release --no-opt --no-pack --out-dir "$stage" --out-name fltr_credits . \
  -- --no-default-features --features js
wasm-pack --quiet build --target web --release --no-opt --no-pack --out-dir "$stage-admin" --out-name fltr_credits_admin . \
  -- --no-default-features --features js-admin

find pkg -mindepth 1 -delete 2>/dev/null || true
mkdir -p pkg/bin pkg/admin
"$wasm_opt" -Oz --strip-debug --strip-producers "$stage/fltr_credits_bg.wasm" -o pkg/fltr_credits_bg.wasm
"$wasm_opt" -Oz --strip-debug --strip-producers "$stage-admin/fltr_credits_admin_bg.wasm" -o pkg/admin/fltr_credits_admin_bg.wasm
cp "$stage/fltr_credits.js" "$stage/fltr_credits.d.ts" "$stage/fltr_credits_bg.wasm.d.ts" pkg/
cp "$stage-admin/fltr_credits_admin.js" "$stage-admin/fltr_credits_admin.d.ts" "$stage-admin/fltr_credits_admin_bg.wasm.d.ts" pkg/admin/
cp npm/node.js npm/node.d.ts npm/README.md pkg/
cp npm/bin/fltr-credits.js pkg/bin/
chmod +x pkg/bin/fltr-credits.js
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
node -e '
const fs = require("fs");
const manifest = JSON.parse(fs.readFileSync("npm/package.json", "utf8"));
manifest.version = process.argv[1];
fs.writeFileSync("pkg/package.json", JSON.stringify(manifest, null, 2) + "\n");
' "$version"
raw=$(wc -c < pkg/fltr_credits_bg.wasm); gz=$(gzip -9 -c pkg/fltr_credits_bg.wasm | wc -c)
admin_raw=$(wc -c < pkg/admin/fltr_credits_admin_bg.wasm); admin_gz=$(gzip -9 -c pkg/admin/fltr_credits_admin_bg.wasm | wc -c)
echo "pkg/ built: fltr-credits@$version, wasm $raw bytes ($gz gzip); Node/CLI admin wasm $admin_raw bytes ($admin_gz gzip)"
