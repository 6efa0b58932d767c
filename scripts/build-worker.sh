#!/usr/bin/env bash
# Builds the Worker once into build/ (worker-build --release; wasm-bindgen, wasm-opt and esbuild
# pinned, never downloaded). The same command as wrangler.toml's [build]: size-optimised and
# stripped for this build only. Prints the .wasm size. Used by scripts/test-worker.sh and
# scripts/test-schemathesis.sh; scripts/setup-worker.sh installs the tools.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p target
CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_STRIP=symbols \
CARGO_TARGET_DIR="$PWD/target/worker" \
WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen" \
WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt" \
ESBUILD_BIN="$PWD/node_modules/.bin/esbuild" \
  worker-build --release --no-default-features --features worker > target/worker-build.log 2>&1 \
  || { tail -40 target/worker-build.log; exit 1; }
raw=$(wc -c < build/index_bg.wasm)
gzipped=$(gzip -9 -c build/index_bg.wasm | wc -c)
echo "Worker wasm: ${raw} bytes raw, ${gzipped} bytes gzip"
