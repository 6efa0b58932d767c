// Worker benchmark (BENCHMARKS.md §2): p50/p99 latency and throughput of
// POST /api/v1/credits/consume (x-api-key: one statement per request) under `wrangler dev` at 1, 16
// and 64 concurrent clients, next to the native engine running the same statement directly
// (examples/worker_direct.rs) against the same Postgres. Also reports the .wasm size.
//
//   node benches/worker_load.mjs [--seconds 5] [--clients 1,16,64] [--via postgres|pgbouncer URL]
//
// Needs the Worker built (build/index.js, scripts/test-worker.sh does it) and the CLI built
// (target/debug/fltr-credits). `--via URL` points the Hyperdrive binding at another server (e.g. a
// transaction-pooling pgbouncer in front of the same database, which is what Hyperdrive does).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startWorker, call, SECRETS, ROOT } from '../tests/worker/harness.mjs';

const argument = (name, fallback) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
};
const seconds = Number(argument('--seconds', '5'));
const levels = argument('--clients', '1,16,64').split(',').map(Number);
const KEY = 'fltr_bench_key_0123456789abcdef';

function summary(latencies, elapsedSeconds) {
  latencies.sort((a, b) => a - b);
  const at = (fraction) => latencies[Math.round((latencies.length - 1) * fraction)] ?? 0;
  return { requests: latencies.length, p50_ms: +at(0.5).toFixed(3), p99_ms: +at(0.99).toFixed(3), throughput_rps: +(latencies.length / elapsedSeconds).toFixed(1) };
}

async function load(base, clients) {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const latencies = [];
  let failures = 0;
  const body = JSON.stringify({ amount: 1, operation: 'bench.consume' });
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const response = await fetch(`${base}/api/v1/credits/consume`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body });
      await response.arrayBuffer();
      if (response.status === 200) latencies.push(performance.now() - t0); else failures += 1;
    }
  }));
  return { path: 'worker', clients, failures, ...summary(latencies, (performance.now() - started) / 1000) };
}

/** p50 of n sequential GETs of an unknown route (no database): the per-request floor. */
async function floor(base, n = 300) {
  const latencies = [];
  for (let i = 0; i < n; i += 1) {
    const t0 = performance.now();
    const response = await fetch(`${base}/no-such-route`);
    await response.arrayBuffer();
    latencies.push(performance.now() - t0);
  }
  return summary(latencies, 1).p50_ms;
}

/** The same floor for a one-line JavaScript Worker under the same wrangler: what wrangler dev + workerd cost by themselves. */
async function javascriptFloor() {
  const dir = mkdtempSync(join(tmpdir(), 'fltr-floor-'));
  writeFileSync(join(dir, 'index.js'), "export default { fetch: () => new Response('{\"error\":{\"code\":\"not_found\"}}', { status: 404, headers: { 'content-type': 'application/json' } }) };");
  writeFileSync(join(dir, 'wrangler.toml'), 'name = "floor"\nmain = "index.js"\ncompatibility_date = "2026-04-01"\n');
  const port = 18000 + (process.pid % 1000);
  const child = spawn(join(ROOT, 'node_modules/.bin/wrangler'), ['dev', '-c', join(dir, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(port), '--show-interactive-dev-session=false', '--log-level', 'warn'],
    { cwd: dir, detached: true, stdio: 'ignore' });
  try {
    for (let i = 0; ; i += 1) {
      try { await fetch(`http://127.0.0.1:${port}/`); break; } catch { if (i > 300) throw new Error('floor worker did not start'); await new Promise((r) => setTimeout(r, 200)); }
    }
    return await floor(`http://127.0.0.1:${port}`);
  } finally {
    process.kill(-child.pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const wasm = readFileSync(join(ROOT, 'build/index_bg.wasm'));
console.log(JSON.stringify({ wasm_bytes: wasm.length, wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length }));

const worker = await startWorker('bench', { hyperdriveUrl: argument('--via') });
try {
  const { rows: [user] } = await worker.pool.query(`INSERT INTO users (id, name, email) VALUES ('bench_user', 'Bench', 'bench@example.com') RETURNING id`);
  await worker.pool.query(`INSERT INTO api_key_credits (api_key, user_id, created_at, updated_at) VALUES ($1, $2, now(), now())`, [KEY, user.id]);
  const grant = await call(worker.base, '/admin/grant', { method: 'POST', headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` }, body: { api_key: KEY, amount: 2_000_000_000 } });
  if (grant.status !== 200) throw new Error(JSON.stringify(grant.body));
  // Warm up workerd, the wasm instance and both JITs before measuring.
  for (let i = 0; i < 200; i += 1) {
    const warm = await fetch(`${worker.base}/api/v1/credits/consume`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{"amount":1,"operation":"bench.warmup"}' });
    await warm.arrayBuffer();
  }
  const rustFloor = await floor(worker.base);
  const rows = [];
  for (const clients of levels) rows.push(await load(worker.base, clients));
  const direct = execFileSync('cargo', ['run', '--quiet', '--release', '--example', 'worker_direct', '--', '--database-url', worker.databaseUrl, '--api-key', KEY,
    '--clients', levels.join(','), '--seconds', String(seconds)], { cwd: ROOT, encoding: 'utf8' });
  rows.push(...direct.trim().split('\n').map((line) => JSON.parse(line)));
  for (const row of rows) console.log(JSON.stringify(row));
  console.log('\n| clients | path | requests | p50 ms | p99 ms | req/s | Worker p50 overhead |');
  console.log('|---|---|---|---|---|---|---|');
  for (const clients of levels) {
    const w = rows.find((r) => r.path === 'worker' && r.clients === clients);
    const d = rows.find((r) => r.path === 'direct' && r.clients === clients);
    console.log(`| ${clients} | direct | ${d.requests} | ${d.p50_ms} | ${d.p99_ms} | ${d.throughput_rps} | |`);
    console.log(`| ${clients} | worker | ${w.requests} | ${w.p50_ms} | ${w.p99_ms} | ${w.throughput_rps} | +${(w.p50_ms - d.p50_ms).toFixed(3)} ms |`);
  }
  console.log(JSON.stringify({ unknown_route_p50_ms: { fltr_worker: rustFloor, javascript_worker: await javascriptFloor() } }));
  const drift = await worker.pool.query(
    `SELECT (SELECT credits FROM api_key_credits WHERE api_key = $1) - (SELECT sum(amount) FROM credit_transactions WHERE api_key_id = $1) AS difference`, [KEY]);
  console.log(`\nbalance minus ledger for the benchmark key after the run: ${drift.rows[0].difference}`);
} catch (error) {
  console.error(worker.output().slice(-4000));
  throw error;
} finally {
  await worker.stop();
}
