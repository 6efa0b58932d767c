// Budgets of the npm package, measured (not a timed test): wasm size after wasm-opt, module
// compile/instantiate time, and the cost of a call across the JS↔wasm boundary.
//   node tests/npm/bench.mjs [path/to/pkg]      (after npm/build.sh)
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';

const pkg = new URL(process.argv[2] ? `file://${process.argv[2].replace(/\/?$/, '/')}` : '../../pkg/', import.meta.url);
const bytes = readFileSync(new URL('fltr_credits_bg.wasm', pkg));
const gzip = gzipSync(bytes, { level: 9 }).length;
const glue = await import(new URL('fltr_credits.js', pkg));

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Instantiation: compile (what an edge runtime does once at deploy/cold start) and instantiate.
const compileMs = [];
for (let i = 0; i < 15; i++) {
  const start = performance.now();
  await WebAssembly.compile(bytes);
  compileMs.push(performance.now() - start);
}
const module = await WebAssembly.compile(bytes);
const initStart = performance.now();
await glue.default({ module_or_path: module });
const instantiateMs = performance.now() - initStart;

// Cold start in a fresh Node process: read the file, compile, instantiate (fltr-credits/node.js).
const coldMs = [];
for (let i = 0; i < 7; i++) {
  const script = `const t = performance.now(); await import(${JSON.stringify(new URL('node.js', pkg).href)}); console.log(performance.now() - t);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  coldMs.push(Number(run.stdout.trim()));
}

/** ns per call: median over rounds of `count` calls each, after a warm-up round. */
function perCall(fn, count = 100_000, rounds = 7) {
  for (let i = 0; i < count; i++) fn(i);
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) fn(i);
    results.push(Number(process.hrtime.bigint() - start) / count);
  }
  return median(results);
}

const en = { locale: 'en-US' };
const compact = { locale: 'de-DE', compact: true };
const limitError = Object.assign(new Error('x'), { code: 'daily_limit_exceeded', limit: 700, used: 700, reset: '2026-11-26T00:00:00Z', retry_after: 3600 });
const intl = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const intlCompact = new Intl.NumberFormat('de-DE', { notation: 'compact', maximumFractionDigits: 1 });
const rows = [
  ['formatCredits(n, { locale: "en-US" })', perCall((i) => glue.formatCredits(1_234_567 + i, en))],
  ['formatCredits(n, { locale: "de-DE", compact: true })', perCall((i) => glue.formatCredits(1_234_567 + i, compact))],
  ['balanceStatus(n) (a decision)', perCall((i) => glue.balanceStatus(i % 20))],
  ['limitHeaders(limit error)', perCall(() => glue.limitHeaders(limitError), 20_000)],
  ['baseline: Intl.NumberFormat#format alone, en-US (no wasm)', perCall((i) => intl.format(1_234_567 + i))],
  ['baseline: Intl.NumberFormat#format alone, de-DE compact (no wasm)', perCall((i) => intlCompact.format(1_234_567 + i))],
];

const report = {
  node: process.version,
  wasm_bytes: bytes.length,
  wasm_gzip_bytes: gzip,
  compile_ms_median: Number(median(compileMs).toFixed(2)),
  instantiate_ms: Number(instantiateMs.toFixed(2)),
  cold_import_node_ms_median: Number(median(coldMs).toFixed(2)),
  calls_ns: Object.fromEntries(rows.map(([name, ns]) => [name, Math.round(ns)])),
};
console.log(`wasm: ${bytes.length} bytes, ${gzip} gzip (-9)`);
console.log(`compile: ${report.compile_ms_median} ms (median of 15); instantiate + init: ${report.instantiate_ms} ms`);
console.log(`cold import of fltr-credits/node.js in a fresh process (read + compile + instantiate): ${report.cold_import_node_ms_median} ms (median of 7)`);
for (const [name, ns] of rows) console.log(`${name}: ${Math.round(ns)} ns/call`);
console.log(JSON.stringify(report));
