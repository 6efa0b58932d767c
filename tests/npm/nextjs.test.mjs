// The Next.js example, built and served for real: `npm run vercel-build` (the package's own
// `fltr-credits migrate`, then `next build`), `next start`, edge middleware debiting through
// @neondatabase/serverless over a WebSocket relay to the test Postgres. Every HTTP answer is
// checked against the database; then Chromium renders the balance page in three locales.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { signSessionToken } from 'fltr-credits/node.js';
import { admin, connect, user, session, apiKey, scalar, keyHash, legacyId, SERVER } from './helpers.mjs';
import { startRelay } from './relay.mjs';

const APP = new URL('../../examples/nextjs/', import.meta.url).pathname;
const ARTIFACTS = new URL('../../target/npm-artifacts/', import.meta.url).pathname;
const SECRET = 'e2e-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const DB = `fltr_npm_e2e_${process.pid}`;
const DB_URL = `${SERVER}/${DB}`;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let relay, server, client, base;
const cookies = {};

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitForServer(url, child, seconds = 60) {
  for (let i = 0; i < seconds * 10; i++) {
    if (child.exitCode !== null) throw new Error(`next start exited with ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('next start did not answer');
}

before(async () => {
  await admin(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
  await admin(`CREATE DATABASE "${DB}"`);
  // The deployment path: the package's CLI migrates, then Next builds (package.json "vercel-build").
  const build = spawnSync('npm', ['run', 'vercel-build'], { cwd: APP, env: { ...process.env, DATABASE_URL: DB_URL, NEXT_TELEMETRY_DISABLED: '1' }, encoding: 'utf8' });
  assert.equal(build.status, 0, `vercel-build failed:\n${build.stdout}\n${build.stderr}`);
  assert.match(build.stdout, /applied 0000_nifty_bruce_banner, 0001_abandoned_human_fly, 0002_exact_usage_windows/);

  client = await connect(DB_URL);
  await user(client, 'alice', { credits: 100 });
  await user(client, 'bob', { credits: 2 });
  await user(client, 'dana', { credits: 1234567 });
  await user(client, 'keyowner');
  await apiKey(client, 'fltr_e2e_daily_key_0001', 'keyowner', { daily: 5 });
  await client.query("UPDATE api_key_credits SET credits = 100 WHERE api_key = 'fltr_e2e_daily_key_0001'");
  for (const name of ['alice', 'bob', 'dana']) {
    await session(client, `tok_${name}_0123456789abcdef`, name);
    cookies[name] = signSessionToken(`tok_${name}_0123456789abcdef`, SECRET);
  }
  await session(client, 'tok_expired_0123456789abcdef', 'alice', { expiresInSeconds: -60 });
  cookies.expired = signSessionToken('tok_expired_0123456789abcdef', SECRET);

  relay = await startRelay();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('npx', ['--no-install', 'next', 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: APP,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: DB_URL, BETTER_AUTH_SECRET: SECRET, FLTR_WS_PROXY: `127.0.0.1:${relay.port}`, NEXT_TELEMETRY_DISABLED: '1' },
  });
  server.log = '';
  server.stdout.on('data', (d) => (server.log += d));
  server.stderr.on('data', (d) => (server.log += d));
  await waitForServer(`${base}/`, server);
});

after(async () => {
  if (server?.exitCode === null) process.kill(-server.pid, 'SIGTERM');
  relay?.close();
  await client?.end();
  await admin(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
});

const post = (path, headers = {}) => fetch(`${base}${path}`, { method: 'POST', headers });
const sessionCookie = (value) => ({ cookie: `better-auth.session_token=${value}` });
const ledgerCount = (where) => scalar(client, `SELECT count(*) FROM credit_transactions WHERE ${where}`);

test('a paid call through the edge middleware debits the session user once', async () => {
  const response = await post('/api/documents', sessionCookie(cookies.alice));
  assert.equal(response.status, 200, server.log);
  assert.deepEqual(await response.json(), { ok: true, processed: true, charged: { kind: 'user', id: 'alice' } });
  assert.equal(response.headers.get('x-credits-balance'), '95');
  const transaction = response.headers.get('x-credits-transaction');
  assert.match(transaction, /^ctx_/);
  assert.equal(await scalar(client, "SELECT credits FROM users WHERE id = 'alice'"), '95');
  const row = (await client.query('SELECT user_id, amount, type, operation FROM credit_transactions WHERE id = $1', [transaction])).rows[0];
  assert.deepEqual(row, { user_id: 'alice', amount: -5, type: 'usage', operation: 'api.documents' });
});

test('an API key over its daily limit gets 429 with the rate-limit headers, and is not charged', async () => {
  const nextMidnight = () => String(new Date().setUTCHours(24, 0, 0, 0) / 1000);
  const resetBefore = nextMidnight();
  const first = await post('/api/documents', { 'x-api-key': 'fltr_e2e_daily_key_0001' });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-ratelimit-limit'), '5');
  assert.equal(first.headers.get('x-ratelimit-remaining'), '0');
  // The daily window resets at the next UTC midnight (a run across midnight may see either).
  const reset = first.headers.get('x-ratelimit-reset');
  assert.ok([resetBefore, nextMidnight()].includes(reset), reset);

  const refused = await post('/api/documents', { 'x-api-key': 'fltr_e2e_daily_key_0001' });
  assert.equal(refused.status, 429);
  const body = await refused.json();
  assert.equal(body.error.code, 'daily_limit_exceeded');
  assert.equal(body.error.limit, 5);
  assert.equal(body.error.used, 5);
  assert.equal(refused.headers.get('x-ratelimit-limit'), '5');
  assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
  assert.equal(refused.headers.get('x-ratelimit-reset'), String(Date.parse(body.error.reset) / 1000));
  assert.equal(refused.headers.get('x-ratelimit-reset'), reset);
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 86400 && retryAfter === body.error.retry_after);
  // A key written the seed's way is hashed at its first use: found by its hash, ledgered by its id.
  const SEED_KEY = 'fltr_e2e_daily_key_0001';
  assert.equal(await scalar(client, "SELECT credits || '/' || daily_used FROM api_key_credits WHERE key_hash = $1", [keyHash(SEED_KEY)]), '95/5');
  assert.equal(await scalar(client, 'SELECT count(*) FROM api_key_credits WHERE api_key = $1', [SEED_KEY]), '0');
  assert.equal(await ledgerCount(`api_key_id = '${legacyId(SEED_KEY)}'`), '1');
});

test('too few credits is 402 insufficient_credits and writes nothing', async () => {
  const response = await post('/api/documents', sessionCookie(cookies.bob));
  assert.equal(response.status, 402);
  const body = await response.json();
  assert.equal(body.error.code, 'insufficient_credits');
  assert.equal(body.error.balance, 2);
  assert.equal(body.error.required, 5);
  assert.equal(await scalar(client, "SELECT credits FROM users WHERE id = 'bob'"), '2');
  assert.equal(await ledgerCount("user_id = 'bob'"), '0');
});

test('a forged cookie, an expired session, an unknown API key and no credential are 401 and charge nothing', async () => {
  const before = await ledgerCount('true');
  const forged = cookies.alice.replace('tok_alice', 'tok_mallory');
  for (const headers of [sessionCookie(forged), sessionCookie(cookies.expired), {}, { authorization: 'Basic YWxpY2U6cHc=' }, { 'x-api-key': 'fltr_no_such_key_0001' }]) {
    const response = await post('/api/documents', headers);
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.equal((await response.json()).error.code, 'unauthenticated');
  }
  assert.equal(await ledgerCount('true'), before);
  assert.equal(await scalar(client, "SELECT credits FROM users WHERE id = 'alice'"), '95');
});

test('the balance page formats the balance on the server for en-US, de-DE and ja-JP', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const expected = {
    'en-US': ['1,234,567 credits', '1.2M'],
    'de-DE': ['1.234.567 credits', '1,2\u00a0Mio.'],
    'ja-JP': ['1,234,567 credits', '123.5万'],
  };
  try {
    for (const [locale, [full, compact]] of Object.entries(expected)) {
      const context = await browser.newContext({ locale, viewport: { width: 800, height: 400 } });
      await context.addCookies([{ name: 'better-auth.session_token', value: cookies.dana, url: base }]);
      const page = await context.newPage();
      await page.goto(`${base}/balance`);
      await page.waitForSelector('#balance', { timeout: 20000 });
      assert.equal(await page.locator('#balance').getAttribute('data-locale'), locale);
      assert.equal(await page.locator('#balance-full').innerText(), full);
      assert.equal(await page.locator('#balance-compact').innerText(), compact);
      assert.equal(await page.locator('#balance-status').innerText(), 'ok');
      await page.screenshot({ path: `${ARTIFACTS}balance-${locale}.png` });
      await context.close();
    }
    const anonymous = await browser.newContext();
    const page = await anonymous.newPage();
    await page.goto(`${base}/balance`);
    await page.waitForSelector('#error', { timeout: 20000 });
    assert.match(await page.locator('#error').innerText(), /unauthenticated/);
  } finally {
    await browser.close();
  }
  // Reading the balance costs nothing.
  assert.equal(await scalar(client, "SELECT credits FROM users WHERE id = 'dana'"), '1234567');
  assert.equal(await ledgerCount("user_id = 'dana'"), '0');
});

// fltr-credits/drizzle: app/api/ledger reads the ledger with a typed drizzle query
// (drizzle-orm/node-postgres, Node runtime) on the package's exported tables.
test('the example type-checks with tsc --noEmit, its drizzle query and typecheck/drizzle.ts included', () => {
  const typecheck = spawnSync('npm', ['run', 'typecheck'], { cwd: APP, encoding: 'utf8' });
  assert.equal(typecheck.status, 0, `tsc --noEmit failed:\n${typecheck.stdout}\n${typecheck.stderr}`);
});

test('the drizzle ledger route returns the caller\'s rows: a session user\'s, then an API key\'s debit made by the edge middleware', async () => {
  await user(client, 'erin', { credits: 10 });
  await session(client, 'tok_erin_0123456789abcdef', 'erin');
  const erin = signSessionToken('tok_erin_0123456789abcdef', SECRET);
  await client.query(
    `INSERT INTO credit_transactions (id, user_id, amount, type, operation, created_at) VALUES
       ('ctx_erin_1', 'erin', 10, 'grant', 'welcome', '2026-01-02 03:04:05.678'),
       ('ctx_erin_2', 'erin', -3, 'usage', 'api.documents', '2026-01-03 03:04:05.001'),
       ('ctx_alice_x', 'alice', 1, 'grant', NULL, '2026-01-04 00:00:00')`,
  );
  const get = (headers) => fetch(`${base}/api/ledger`, { headers });
  const response = await get(sessionCookie(erin));
  assert.equal(response.status, 200, server.log);
  assert.deepEqual(await response.json(), {
    entries: [
      { id: 'ctx_erin_2', amount: -3, type: 'usage', operation: 'api.documents', createdAt: '2026-01-03T03:04:05.001Z' },
      { id: 'ctx_erin_1', amount: 10, type: 'grant', operation: 'welcome', createdAt: '2026-01-02T03:04:05.678Z' },
    ],
  });
  // The principal comes from the middleware only: a caller's own header names nobody.
  const spoofed = await get({ ...sessionCookie(erin), 'x-fltr-principal': JSON.stringify({ kind: 'user', user_id: 'alice' }) });
  assert.deepEqual((await spoofed.json()).entries.map((entry) => entry.id), ['ctx_erin_2', 'ctx_erin_1']);
  const anonymous = await get({ 'x-fltr-principal': JSON.stringify({ kind: 'user', user_id: 'alice' }) });
  assert.equal(anonymous.status, 401);

  // A key's debit through the edge middleware, then the key's ledger through drizzle.
  const KEY = 'fltr_e2e_ledger_key_0001';
  await apiKey(client, KEY, 'erin');
  await client.query('UPDATE api_key_credits SET credits = 20 WHERE api_key = $1', [KEY]);
  const debit = await post('/api/documents', { 'x-api-key': KEY });
  assert.equal(debit.status, 200, server.log);
  const transaction = debit.headers.get('x-credits-transaction');
  const keyLedger = await get({ 'x-api-key': KEY });
  assert.equal(keyLedger.status, 200);
  const { entries } = await keyLedger.json();
  assert.deepEqual(entries.map(({ id, amount, type, operation }) => ({ id, amount, type, operation })), [
    { id: transaction, amount: -5, type: 'usage', operation: 'api.documents' },
  ]);
  const stored = await scalar(client, `SELECT to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM credit_transactions WHERE id = $1`, [transaction]);
  assert.equal(entries[0].createdAt, stored, 'timestamp (UTC) read back as the same instant');
  assert.equal(await scalar(client, 'SELECT api_key_id FROM credit_transactions WHERE id = $1', [transaction]), legacyId(KEY));
});

// The balance page's usage chart (server-rendered inline SVG, stacked by operation per UTC day):
// its bars equal the ledger's usage net of refunds, in en-US, de-DE and ja-JP (screenshots in
// target/npm-artifacts/), with and without JavaScript; the ledger pages by links; an empty
// account shows an empty state; and what the page weighs (HTML + JS transferred) is written to
// target/npm-artifacts/balance-weight.json for BENCHMARKS.md.
test('the balance page charts 30 days of usage from the server: the bars equal the ledger in three locales, with and without JavaScript; an empty account is an empty state', async () => {
  const { createCredits, formatCredits } = await import('fltr-credits/node.js');
  const day = (offset, time = '12:00:00') => `${new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10)} ${time}`;
  await user(client, 'fay', { credits: 0 });
  await user(client, 'gus', { credits: 0 });
  await session(client, 'tok_fay_0123456789abcdef', 'fay');
  await session(client, 'tok_gus_0123456789abcdef', 'gus');
  const fay = signSessionToken('tok_fay_0123456789abcdef', SECRET);
  const gus = signSessionToken('tok_gus_0123456789abcdef', SECRET);
  const credits = createCredits(client);
  await credits.grant({ userId: 'fay', amount: 1000 });
  // Usage on eight of the last 30 UTC days (and one older day the chart leaves out), three
  // operations, one of them refunded: each consume is moved to its day after it is made.
  const spends = [[0, 'api.documents', 5], [0, 'api.images', 12], [1, 'api.documents', 5], [2, 'report.export', 30],
    [2, 'api.images', 8], [6, 'api.documents', 15], [13, 'api.images', 4], [20, 'report.export', 25], [29, 'api.documents', 9],
    [30, 'api.documents', 100], [3, 'api.images', 50]];
  for (const [offset, operation, amount] of spends) {
    const { transaction_id } = await credits.consume({ userId: 'fay', amount, operation });
    await client.query('UPDATE credit_transactions SET created_at = $2::timestamp WHERE id = $1', [transaction_id, day(offset, offset === 0 ? '00:00:01' : '12:00:00')]);
    if (offset === 3) await credits.refund({ transactionId: transaction_id });
  }
  // Granted after the spends (usage spends expiring credits first): the page lists them as expiring.
  await credits.grant({ userId: 'fay', amount: 40, expiresAt: new Date(Date.now() + 10 * 86_400_000) });
  // The reference: the ledger itself, usage less its refund, over the page's 30 UTC days.
  const { rows } = await client.query(
    `SELECT to_char(u.created_at, 'YYYY-MM-DD') AS day, u.operation, -sum(u.amount + coalesce(r.amount, 0))::int AS amount
     FROM credit_transactions u LEFT JOIN credit_transactions r ON r.id = 'refund_' || u.id
     WHERE u.user_id = 'fay' AND u.type = 'usage'
       AND u.created_at >= (now() AT TIME ZONE 'utc')::date - 29 AND u.created_at < (now() AT TIME ZONE 'utc')::date + 1
     GROUP BY 1, 2 HAVING -sum(u.amount + coalesce(r.amount, 0)) > 0 ORDER BY 1, 2`,
  );
  const expected = rows.map((row) => `${row.day} ${row.operation} ${row.amount}`);
  assert.equal(expected.length, 9);
  const balance = Number(await scalar(client, "SELECT credits FROM users WHERE id = 'fay'"));
  // The npm surface agrees: usage() grouped by operation over the same range.
  const byOperation = await credits.usage({ userId: 'fay', from: day(29).slice(0, 10), to: day(-1).slice(0, 10), groupBy: 'operation' });
  assert.deepEqual(byOperation.usage, [
    { operation: 'api.documents', amount: 34, count: 4 }, { operation: 'api.images', amount: 24, count: 3 }, { operation: 'report.export', amount: 55, count: 2 },
  ]);

  for (const bad of [{ from: '2026-11-01', to: '2026-11-01' }, { from: '2026-11-01', to: '2026-12-01', groupBy: 'week' }, { from: '2026-11-01' }, { to: '2026-12-01', from: new Date() }]) {
    await assert.rejects(credits.usage({ userId: 'fay', ...bad }), (error) => error.code === 'invalid_request' && error.status === 400, JSON.stringify(bad));
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const weight = {};
  try {
    for (const locale of ['en-US', 'de-DE', 'ja-JP']) {
      for (const javaScriptEnabled of [true, false]) {
        const context = await browser.newContext({ locale, javaScriptEnabled, viewport: { width: 800, height: 900 } });
        await context.addCookies([{ name: 'better-auth.session_token', value: fay, url: base }]);
        const page = await context.newPage();
        const transferred = { document: 0, script: 0, other: 0, scripts: 0 };
        page.on('requestfinished', async (request) => {
          const sizes = await request.sizes().catch(() => null);
          if (!sizes) return;
          const kind = ['document', 'script'].includes(request.resourceType()) ? request.resourceType() : 'other';
          transferred[kind] += sizes.responseBodySize + sizes.responseHeadersSize;
          if (kind === 'script') transferred.scripts += 1;
        });
        const response = await page.goto(`${base}/balance`, { waitUntil: 'load' });
        assert.equal(response.status(), 200, server.log);
        assert.equal(await page.locator('#balance').getAttribute('data-locale'), locale);
        assert.equal(await page.locator('#balance-full').innerText(), formatCredits(balance, { locale }));
        assert.equal(await page.locator('#expiring li').getAttribute('data-amount'), '40');
        const bars = await page.locator('#usage-chart rect.usage-bar').evaluateAll((rects) =>
          rects.map((rect) => `${rect.dataset.day} ${rect.dataset.operation} ${rect.dataset.amount}`));
        assert.deepEqual([...bars].sort(), expected, `${locale}: the chart's bars are the ledger's usage net of refunds`);
        assert.equal(await page.locator('#usage-chart g.usage-day').count(), 30, 'one column per day, empty days included');
        // Every number on the page is formatted for the reader: the legend's totals by the package's formatter.
        assert.equal(await page.locator('#usage-legend li[data-operation="report.export"]').innerText(), `report.export: ${formatCredits(55, { locale })}`);
        // The ledger: newest first, ten a page, the next page by a plain link.
        const firstPage = await page.locator('tr.ledger-row').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
        const newest = (await client.query("SELECT id FROM credit_transactions WHERE user_id = 'fay' ORDER BY created_at DESC, id DESC")).rows.map((row) => row.id);
        assert.deepEqual(firstPage, newest.slice(0, 10));
        if (javaScriptEnabled) {
          await page.screenshot({ path: `${ARTIFACTS}usage-${locale}.png`, fullPage: true });
          weight[locale] = transferred;
        } else {
          await page.click('#ledger-older');
          await page.waitForSelector('#ledger-newest');
          const secondPage = await page.locator('tr.ledger-row').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
          assert.deepEqual(secondPage, newest.slice(10, 20), 'the Older link works without JavaScript');
        }
        await context.close();
      }
    }
    const context = await browser.newContext({ locale: 'en-US' });
    await context.addCookies([{ name: 'better-auth.session_token', value: gus, url: base }]);
    const page = await context.newPage();
    await page.goto(`${base}/balance`);
    assert.equal(await page.locator('#usage-empty').innerText(), 'No usage in the last 30 days.');
    assert.equal(await page.locator('#usage-chart').count(), 0, 'no chart for an empty account');
    assert.equal(await page.locator('#ledger-empty').count(), 1);
    assert.equal(await page.locator('#balance-status').innerText(), 'empty');
    await page.screenshot({ path: `${ARTIFACTS}usage-empty.png`, fullPage: true });
    await context.close();
  } finally {
    await browser.close();
  }
  (await import('node:fs')).writeFileSync(`${ARTIFACTS}balance-weight.json`, `${JSON.stringify(weight, null, 2)}\n`);
  console.log(`balance page weight (bytes transferred, headers included): ${JSON.stringify(weight)}`);
  // Reading the page charges nothing.
  assert.equal(Number(await scalar(client, "SELECT credits FROM users WHERE id = 'fay'")), balance);
});
