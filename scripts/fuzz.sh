#!/usr/bin/env bash
# Fuzzes the pure request parsing with cargo-fuzz (libFuzzer). Not part of CI: run it by hand.
#
#   scripts/fuzz.sh [seconds-per-target]        (default 60)
#
# Environment:
#   FUZZ_TARGETS     space-separated subset of targets (default: all six, one after another)
#   FUZZ_SANITIZER   cargo-fuzz --sanitizer (default: none; the crate has no `unsafe`; `address` works too)
#
# Each target runs for the given seconds (-max_total_time) over fuzz/corpus/<target> (kept between
# runs, not in git) seeded from fuzz/seeds/<target> (in git). Prints executions per target and
# whether a crash artifact appeared; exits 1 if any target crashed. Logs: fuzz/logs/<target>.log.
#
# The machine has only a stable toolchain. cargo-fuzz's instrumentation flags are stable -C flags,
# but a sanitizer (-s address, cargo-fuzz's own default) needs the nightly-only -Zsanitizer:
# RUSTC_BOOTSTRAP=1 lets stable rustc accept it. Set always, so both settings build.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
    exit 2
fi
sanitizer="${FUZZ_SANITIZER:-none}"
targets="${FUZZ_TARGETS:-router credential stripe_header cursor json_body api_key}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "==> $(cargo fuzz --version), $(rustc --version) with RUSTC_BOOTSTRAP=1, sanitizer=$sanitizer"

echo "==> building fuzz targets"
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p logs
marker="$(mktemp)"
trap 'rm -f "$marker"' EXIT
total=0
failed=()
summary=()
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    touch "$marker"
    echo "==> fuzzing $target for ${seconds}s"
    start=$(date +%s)
    status=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=30 >"logs/$target.log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$' | tail -n1 || true)
    execs="${execs:-0}"
    total=$((total + execs))
    mapfile -t crashes < <(find "artifacts/$target" -type f -newer "$marker" | sort)
    if [ "$status" -ne 0 ] || [ "${#crashes[@]}" -gt 0 ]; then
        failed+=("$target")
        result="CRASH (exit $status) ${crashes[*]:-}"
        echo "    $target crashed; log: fuzz/logs/$target.log"
        grep -m1 -A3 'panicked at' "logs/$target.log" | sed 's/^/    /' || true
        for crash in "${crashes[@]}"; do
            echo "    input $crash ($(wc -c <"$crash") bytes, hex): $(od -An -tx1 -v "$crash" | tr -d ' \n' | head -c 512)"
        done
    else
        result="no crash"
    fi
    corpus_size=$(find "corpus/$target" -type f | wc -l)
    summary+=("$(printf '%-14s %12s execs %5ss  corpus %5s  %s' "$target" "$execs" "$elapsed" "$corpus_size" "$result")")
done

echo
echo "==> summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
echo "total executions: $total"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs under fuzz/artifacts/<target>/; replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer <target> <file>)"
    exit 1
fi
echo "no crashes"
