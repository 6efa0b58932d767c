// Holds through the npm package, in Node, over the real Postgres (shared/API.md "Holds"): hold →
// capture (one usage row, the rest released, `available` right), capture 0, over-capture, release,
// a second close (`hold_closed` with `state`), idempotent replays, refusals carrying `available`,
// holds inside the caller's own transaction, expiry without a sweep, `actor`s, and bad input.
// Most calls go through the Node entry; one test runs a hold through the edge module.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCredits } from 'fltr-credits/node.js';
import { initSync as initEdge, createCredits as createEdgeCredits } from 'fltr-credits';
import { throwawayDatabase, connect, user, team, session, scalar, rejection } from './helpers.mjs';

let db, client, credits;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const HOLD_ID = /^hold_[0-9a-f]{32}$/;

before(async () => {
  db = await throwawayDatabase('holds');
  client = await connect(db.url);
  credits = createCredits(client);
  assert.deepEqual((await credits.migrate()).drift, []);
  for (const id of ['hana', 'ivo', 'jun', 'kai', 'lea', 'moe', 'nia', 'otto']) {
    await user(client, id);
    await credits.grant({ userId: id, amount: 100 });
  }
  await user(client, 'poor');
  await credits.grant({ userId: 'poor', amount: 10 });
  // team_h: tom owns it, uma is a member.
  await user(client, 'tom');
  await user(client, 'uma');
  await team(client, 'team_h', 'tom');
  await client.query("UPDATE users SET team_id = 'team_h' WHERE id IN ('tom', 'uma')");
  await credits.grant({ teamId: 'team_h', amount: 100 });
});

after(async () => {
  await client?.end();
  await db?.drop();
});

const credited = (id) => scalar(client, 'SELECT credits FROM users WHERE id = $1', [id]).then(Number);
const heldBy = (id) => scalar(client, 'SELECT held_credits FROM users WHERE id = $1', [id]).then(Number);
const usageRows = (id) => scalar(client, "SELECT count(*) FROM credit_transactions WHERE user_id = $1 AND type = 'usage'", [id]).then(Number);
const holdRows = (id) => scalar(client, 'SELECT count(*) FROM credit_holds WHERE user_id = $1', [id]).then(Number);
const stateInTable = (holdId) => scalar(client, 'SELECT state FROM credit_holds WHERE id = $1', [holdId]);
const available = async (id) => (await credits.balance({ userId: id })).user.available;

test('hold reserves without touching the ledger; a partial capture writes one usage row and releases the rest', async () => {
  const started = Date.now();
  const hold = await credits.hold({
    userId: 'hana', amount: 50, operation: 'document.process', resourceId: 'doc_1', metadata: { pages: 12 },
  });
  assert.match(hold.hold_id, HOLD_ID);
  assert.deepEqual(
    [hold.ok, hold.replayed, hold.charged, hold.amount, hold.balance, hold.available, hold.limits],
    [true, false, { kind: 'user', id: 'hana' }, 50, 100, 50, undefined],
  );
  assert.match(hold.expires_at, RFC3339);
  const ttl = (Date.parse(hold.expires_at) - started) / 1000;
  assert.ok(ttl > 898 && ttl < 902, `default ttl 900 s, got ${ttl}`);
  // The balance is unchanged; only `available` and the held total move.
  assert.deepEqual([await credited('hana'), await heldBy('hana'), await usageRows('hana')], [100, 50, 0]);
  const balance = await credits.balance({ userId: 'hana' });
  assert.deepEqual([balance.user.credits, balance.user.available], [100, 50]);
  assert.equal((await credits.check({ userId: 'hana', amount: 50 })).available, 50);

  const viewed = await credits.getHold({ holdId: hold.hold_id });
  assert.deepEqual(
    [viewed.hold_id, viewed.state, viewed.amount, viewed.captured, viewed.charged, viewed.operation, viewed.resource_id,
      viewed.transaction_id, viewed.closed_at, viewed.expires_at],
    [hold.hold_id, 'active', 50, null, { kind: 'user', id: 'hana' }, 'document.process', 'doc_1', null, null, hold.expires_at],
  );
  assert.match(viewed.created_at, RFC3339);

  // A consume spends from `available`, not from the balance.
  const spent = await credits.consume({ userId: 'hana', amount: 10, operation: 'api.call' });
  assert.deepEqual([spent.balance, spent.available], [90, 40]);

  const captured = await credits.capture({ holdId: hold.hold_id, amount: 42 });
  assert.match(captured.transaction_id, /^ctx_[0-9a-f]{32}$/);
  assert.deepEqual(
    [captured.ok, captured.hold_id, captured.replayed, captured.charged, captured.amount, captured.released,
      captured.balance, captured.available, captured.limits],
    [true, hold.hold_id, false, { kind: 'user', id: 'hana' }, 42, 8, 48, 48, undefined],
  );
  assert.deepEqual([await credited('hana'), await heldBy('hana'), await available('hana')], [48, 0, 48]);

  // Exactly one usage row for the hold, carrying its operation, resource, metadata and hold id.
  const { rows } = await client.query(
    "SELECT id, amount, operation, resource_id, metadata FROM credit_transactions WHERE user_id = 'hana' AND type = 'usage' AND operation = 'document.process'",
  );
  assert.equal(rows.length, 1);
  assert.deepEqual([rows[0].id, rows[0].amount, rows[0].resource_id], [captured.transaction_id, -42, 'doc_1']);
  assert.deepEqual(JSON.parse(rows[0].metadata), { pages: 12, hold_id: hold.hold_id });
  assert.equal(await scalar(client, "SELECT sum(amount) FROM credit_transactions WHERE user_id = 'hana'"), '48');

  const closed = await credits.getHold({ holdId: hold.hold_id });
  assert.deepEqual([closed.state, closed.captured, closed.transaction_id], ['captured', 42, captured.transaction_id]);
  assert.match(closed.closed_at, RFC3339);
});

test('capture 0 writes no ledger row and releases everything; absent amount captures all of it', async () => {
  const nothing = await credits.hold({ userId: 'ivo', amount: 30, operation: 'llm.call' });
  const zero = await credits.capture({ holdId: nothing.hold_id, amount: 0 });
  assert.equal('transaction_id' in zero, false);
  assert.deepEqual([zero.amount, zero.released, zero.balance, zero.available], [0, 30, 100, 100]);
  assert.equal(await usageRows('ivo'), 0);
  const viewed = await credits.getHold({ holdId: nothing.hold_id });
  assert.deepEqual([viewed.state, viewed.captured, viewed.transaction_id], ['captured', 0, null]);

  const all = await credits.hold({ userId: 'ivo', amount: 30, operation: 'llm.call' });
  const whole = await credits.capture({ holdId: all.hold_id });
  assert.deepEqual([whole.amount, whole.released, whole.balance, whole.available], [30, 0, 70, 70]);
  assert.equal(await usageRows('ivo'), 1);
});

test('capturing more than was held is invalid_amount and changes nothing', async () => {
  const hold = await credits.hold({ userId: 'jun', amount: 20, operation: 'llm.call' });
  const error = await rejection(credits.capture({ holdId: hold.hold_id, amount: 21 }));
  assert.deepEqual([error.name, error.code, error.status], ['CreditError', 'invalid_amount', 400]);
  assert.deepEqual([await credited('jun'), await heldBy('jun'), await usageRows('jun')], [100, 20, 0]);
  assert.equal((await credits.getHold({ holdId: hold.hold_id })).state, 'active');
  assert.equal((await credits.capture({ holdId: hold.hold_id, amount: 20 })).amount, 20);
});

test('release gives it all back; a second close is hold_closed with the state', async () => {
  const hold = await credits.hold({ userId: 'kai', amount: 60, operation: 'document.process' });
  assert.equal(await available('kai'), 40);
  const released = await credits.release({ holdId: hold.hold_id });
  assert.equal('transaction_id' in released, false);
  assert.deepEqual(
    [released.ok, released.hold_id, released.amount, released.released, released.balance, released.available],
    [true, hold.hold_id, 0, 60, 100, 100],
  );
  assert.deepEqual([await heldBy('kai'), await usageRows('kai')], [0, 0]);
  const viewed = await credits.getHold({ holdId: hold.hold_id });
  assert.deepEqual([viewed.state, viewed.captured], ['released', 0]);

  for (const again of [credits.capture({ holdId: hold.hold_id }), credits.release({ holdId: hold.hold_id })]) {
    const error = await rejection(again);
    assert.deepEqual([error.code, error.status, error.state], ['hold_closed', 409, 'released']);
  }

  const other = await credits.hold({ userId: 'kai', amount: 5, operation: 'document.process' });
  await credits.capture({ holdId: other.hold_id, amount: 3 });
  for (const again of [credits.capture({ holdId: other.hold_id, amount: 1 }), credits.release({ holdId: other.hold_id })]) {
    const error = await rejection(again);
    assert.deepEqual([error.code, error.status, error.state], ['hold_closed', 409, 'captured']);
    assert.ok(error instanceof Error);
  }
  assert.deepEqual([await credited('kai'), await usageRows('kai')], [97, 1]);
});

test('idempotency keys: a replayed hold is the same hold, a replayed capture the same transaction_id', async () => {
  const options = { userId: 'lea', amount: 25, operation: 'document.process', idempotencyKey: 'job-1' };
  const hold = await credits.hold(options);
  const again = await credits.hold(options);
  assert.deepEqual([again.replayed, again.hold_id, again.amount], [true, hold.hold_id, 25]);
  assert.deepEqual([await holdRows('lea'), await heldBy('lea')], [1, 25]);
  const conflict = await rejection(credits.hold({ ...options, amount: 26 }));
  assert.deepEqual([conflict.code, conflict.status, conflict.idempotency_key], ['idempotency_conflict', 409, 'job-1']);

  const captured = await credits.capture({ holdId: hold.hold_id, amount: 7, idempotencyKey: 'job-1-done' });
  const replay = await credits.capture({ holdId: hold.hold_id, amount: 7, idempotencyKey: 'job-1-done' });
  assert.equal(replay.replayed, true);
  assert.equal(replay.transaction_id, captured.transaction_id);
  assert.deepEqual([replay.amount, replay.released, replay.balance], [7, 18, 93]);
  assert.deepEqual([await credited('lea'), await usageRows('lea')], [93, 1]);
  const different = await rejection(credits.capture({ holdId: hold.hold_id, amount: 8, idempotencyKey: 'job-1-done' }));
  assert.equal(different.code, 'idempotency_conflict');
  // Without the key the hold is simply closed.
  assert.equal((await rejection(credits.capture({ holdId: hold.hold_id, amount: 7 }))).state, 'captured');
});

test('a hold is refused like a consume: 402 insufficient_credits carrying available; nothing written', async () => {
  const first = await credits.hold({ userId: 'poor', amount: 8, operation: 'llm.call' });
  assert.deepEqual([first.balance, first.available], [10, 2]);
  const error = await rejection(credits.hold({ userId: 'poor', amount: 5, operation: 'llm.call' }));
  assert.deepEqual(
    [error.name, error.code, error.status, error.balance, error.available, error.required],
    ['CreditError', 'insufficient_credits', 402, 10, 2, 5],
  );
  // A consume is refused on the same numbers.
  const consume = await rejection(credits.consume({ userId: 'poor', amount: 3, operation: 'llm.call' }));
  assert.deepEqual([consume.code, consume.balance, consume.available, consume.required], ['insufficient_credits', 10, 2, 3]);
  assert.deepEqual([await holdRows('poor'), await heldBy('poor'), await usageRows('poor')], [1, 8, 0]);
  await credits.release({ holdId: first.hold_id });
  assert.equal((await credits.hold({ userId: 'poor', amount: 10, operation: 'llm.call' })).available, 0);
});

test('hold and capture run in the caller\'s own transaction: ROLLBACK leaves nothing, COMMIT keeps both', async () => {
  await client.query('CREATE TABLE IF NOT EXISTS jobs (id text PRIMARY KEY, hold_id text NOT NULL)');
  await client.query('BEGIN');
  const hold = await credits.hold({ userId: 'moe', amount: 40, operation: 'document.process', resourceId: 'job_1' });
  await client.query("INSERT INTO jobs (id, hold_id) VALUES ('job_1', $1)", [hold.hold_id]);
  const captured = await credits.capture({ holdId: hold.hold_id, amount: 15 });
  assert.equal(captured.balance, 85);
  await client.query('ROLLBACK');
  assert.deepEqual([await credited('moe'), await heldBy('moe'), await usageRows('moe'), await holdRows('moe')], [100, 0, 0, 0]);
  assert.equal(await scalar(client, 'SELECT count(*) FROM jobs'), '0');
  assert.equal((await rejection(credits.getHold({ holdId: hold.hold_id }))).code, 'not_found');

  await client.query('BEGIN');
  const kept = await credits.hold({ userId: 'moe', amount: 40, operation: 'document.process', resourceId: 'job_1' });
  await client.query("INSERT INTO jobs (id, hold_id) VALUES ('job_1', $1)", [kept.hold_id]);
  const paid = await credits.capture({ holdId: kept.hold_id, amount: 15 });
  await client.query('COMMIT');
  assert.deepEqual([await credited('moe'), await heldBy('moe'), await usageRows('moe'), await holdRows('moe')], [85, 0, 1, 1]);
  assert.equal(await scalar(client, "SELECT hold_id FROM jobs WHERE id = 'job_1'"), kept.hold_id);
  assert.equal(await scalar(client, "SELECT id FROM credit_transactions WHERE resource_id = 'job_1'"), paid.transaction_id);
  assert.equal((await credits.getHold({ holdId: kept.hold_id })).state, 'captured');
});

test('a hold with ttlSeconds 1 reads expired after 1.1 s without a sweep, and stops counting; a debit or sweep() closes it', async () => {
  const hold = await credits.hold({ userId: 'nia', amount: 70, operation: 'llm.call', ttlSeconds: 1 });
  assert.equal(await available('nia'), 30);
  await sleep(1100);
  const viewed = await credits.getHold({ holdId: hold.hold_id });
  assert.deepEqual([viewed.state, viewed.captured, viewed.closed_at], ['expired', null, null]);
  // No sweep ran: the row still says active, yet the credits are spendable again.
  assert.equal(await stateInTable(hold.hold_id), 'active');
  assert.equal(await available('nia'), 100);
  // A debit that spends them closes the expired hold first (so no late capture can charge them again).
  assert.equal((await credits.consume({ userId: 'nia', amount: 90, operation: 'llm.call' })).available, 10);
  assert.equal(await stateInTable(hold.hold_id), 'expired');
  assert.equal(await heldBy('nia'), 0);
  for (const late of [credits.capture({ holdId: hold.hold_id, amount: 1 }), credits.release({ holdId: hold.hold_id })]) {
    const error = await rejection(late);
    assert.deepEqual([error.code, error.status, error.state], ['hold_closed', 409, 'expired']);
  }
  assert.equal(await usageRows('nia'), 1);

  // An expired hold nobody touched: sweep() tidies it.
  const idle = await credits.hold({ userId: 'nia', amount: 5, operation: 'llm.call', ttlSeconds: 1 });
  await sleep(1100);
  assert.equal(await stateInTable(idle.hold_id), 'active');
  const report = await credits.sweep();
  assert.equal(report.ok, true);
  assert.ok(report.expired_holds >= 1 && report.accounts >= 1, JSON.stringify(report));
  assert.equal(await stateInTable(idle.hold_id), 'expired');
  assert.equal(await heldBy('nia'), 0);
  assert.equal((await credits.getHold({ holdId: idle.hold_id })).state, 'expired');
  assert.deepEqual(await credits.sweep(), { ok: true, expired_holds: 0, accounts: 0, expired_blocks: 0 });
});

test('actor: capture and getHold act for the end user who opened the hold; release is the service\'s', async () => {
  // Opened with otto's session: otto's own hold, which he (or the service) may read and capture.
  await session(client, 'otto_session_token_000000000000', 'otto');
  const hold = await credits.hold({ sessionToken: 'otto_session_token_000000000000', amount: 10, operation: 'llm.call' });
  assert.deepEqual(hold.charged, { kind: 'user', id: 'otto' });
  for (const stranger of [{ userId: 'hana' }, { userId: 'nobody' }]) {
    assert.equal((await rejection(credits.getHold({ holdId: hold.hold_id, actor: stranger }))).code, 'not_found');
    assert.equal((await rejection(credits.capture({ holdId: hold.hold_id, actor: stranger }))).code, 'not_found');
  }
  assert.equal((await credits.getHold({ holdId: hold.hold_id, actor: { userId: 'otto' } })).state, 'active');
  // The maker by session token, or as a credential from credentialFromRequest.
  const viaSession = await credits.getHold({ holdId: hold.hold_id, actor: { sessionToken: 'otto_session_token_000000000000' } });
  assert.equal(viaSession.hold_id, hold.hold_id);
  const captured = await credits.capture({
    holdId: hold.hold_id, amount: 4, actor: { credential: { kind: 'bearer', value: 'otto_session_token_000000000000' } },
  });
  assert.deepEqual([captured.amount, captured.balance], [4, 96]);
  const unknown = await rejection(credits.getHold({ holdId: hold.hold_id, actor: { sessionToken: 'no_such_session_000000000000' } }));
  assert.equal(unknown.code, 'unauthenticated');
  // release takes no actor: it is the service's operation only.
  assert.equal((await rejection(credits.release({ holdId: hold.hold_id, actor: { userId: 'otto' } }))).code, 'invalid_request');

  // A hold the backend opened by naming the account is the service's alone: the user cannot read
  // it, nor capture it at 0 before the backend charges it.
  const backend = await credits.hold({ userId: 'otto', amount: 10, operation: 'llm.call' });
  assert.equal((await rejection(credits.getHold({ holdId: backend.hold_id, actor: { userId: 'otto' } }))).code, 'not_found');
  assert.equal((await rejection(credits.capture({ holdId: backend.hold_id, amount: 0, actor: { userId: 'otto' } }))).code, 'not_found');
  assert.equal((await credits.capture({ holdId: backend.hold_id, amount: 6 })).balance, 90);
});

test('an API key hold counts in its windows from the start; its capture (actor: the key) keeps only what was used', async () => {
  const key = await credits.createKey({ userId: 'otto', dailyLimit: 20 });
  await credits.allocate({ apiKey: key.id, amount: 30 });
  const presented = { credential: { kind: 'api_key', value: key.key } };
  const hold = await credits.hold({ ...presented, amount: 15, operation: 'api.call' });
  assert.deepEqual([hold.charged, hold.balance, hold.available], [{ kind: 'api_key', id: key.id }, 30, 15]);
  assert.deepEqual([hold.limits.daily.used, hold.limits.daily.remaining], [15, 5]);
  const over = await rejection(credits.consume({ ...presented, amount: 6, operation: 'api.call' }));
  assert.deepEqual([over.code, over.status], ['daily_limit_exceeded', 429]);

  // Its owner, signed in as a user, does not see a hold made with the key; the key itself does.
  assert.equal((await rejection(credits.getHold({ holdId: hold.hold_id, actor: { userId: 'otto' } }))).code, 'not_found');
  assert.equal((await credits.getHold({ holdId: hold.hold_id, actor: { apiKey: key.id } })).charged.id, key.id);
  const captured = await credits.capture({ holdId: hold.hold_id, amount: 5, actor: presented });
  assert.deepEqual([captured.amount, captured.released, captured.balance, captured.available], [5, 10, 25, 25]);
  assert.deepEqual([captured.limits.daily.used, captured.limits.daily.remaining], [5, 15]);
  const row = (await client.query('SELECT api_key_id, amount FROM credit_transactions WHERE id = $1', [captured.transaction_id])).rows[0];
  assert.deepEqual(row, { api_key_id: key.id, amount: -5 });

  // Named by its public id, the key is the service's payer: that hold is the service's alone.
  const named = await credits.hold({ apiKey: key.id, amount: 2, operation: 'api.call' });
  assert.equal((await rejection(credits.getHold({ holdId: named.hold_id, actor: presented }))).code, 'not_found');
  assert.equal((await credits.release({ holdId: named.hold_id })).available, 25);
});

test('a team hold: a member who left cannot capture it (forbidden); the service, which ran the job, still can', async () => {
  await session(client, 'uma_session_token_0000000000000', 'uma');
  const hold = await credits.hold({ sessionToken: 'uma_session_token_0000000000000', amount: 30, operation: 'document.process' });
  assert.deepEqual([hold.charged, hold.available], [{ kind: 'team', id: 'team_h' }, 70]);
  await client.query("UPDATE users SET team_id = NULL WHERE id = 'uma'");
  const error = await rejection(credits.capture({ holdId: hold.hold_id, actor: { userId: 'uma' } }));
  assert.deepEqual([error.code, error.status], ['forbidden', 403]);
  assert.equal((await credits.getHold({ holdId: hold.hold_id })).state, 'active');
  const captured = await credits.capture({ holdId: hold.hold_id, amount: 10 });
  assert.deepEqual(
    [captured.charged, captured.amount, captured.released, captured.balance, captured.available],
    [{ kind: 'team', id: 'team_h' }, 10, 20, 90, 90],
  );
  const row = (await client.query('SELECT user_id, team_id, amount FROM credit_transactions WHERE id = $1', [captured.transaction_id])).rows[0];
  assert.deepEqual(row, { user_id: 'uma', team_id: 'team_h', amount: -10 });
});

test('bad options are a clear error with a stable code, before any database access', async () => {
  const offline = createCredits({ query: async () => assert.fail('no statement may run') });
  const holdCases = [
    [{ userId: 'hana', amount: 0, operation: 'x' }, 'invalid_amount'],
    [{ userId: 'hana', amount: 1.5, operation: 'x' }, 'invalid_amount'],
    [{ userId: 'hana', amount: 1 }, 'invalid_request'],
    [{ amount: 1, operation: 'x' }, 'invalid_request'],
    [{ userId: 'hana', teamId: 'team_h', amount: 1, operation: 'x' }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', ttlSeconds: 0 }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', ttlSeconds: 86_401 }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', ttlSeconds: 2.5 }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', ttlSeconds: '60' }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', ttl_seconds: 60 }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', metadata: [1] }, 'invalid_request'],
    [{ userId: 'hana', amount: 1, operation: 'x', idempotencyKey: 'has space' }, 'invalid_request'],
  ];
  for (const [options, code] of holdCases) {
    const error = await rejection(offline.hold(options));
    assert.deepEqual([error.code, error.status], [code, 400], JSON.stringify(options));
  }
  const id = 'hold_0123456789abcdef0123456789abcdef';
  const closeCases = [
    [offline.capture({}), 'invalid_request'],
    [offline.capture({ holdId: id, amount: -1 }), 'invalid_amount'],
    [offline.capture({ holdId: id, amount: 1.5 }), 'invalid_amount'],
    [offline.capture({ holdId: id, amount: '5' }), 'invalid_amount'],
    [offline.capture({ holdId: id, actor: 'otto' }), 'invalid_request'],
    [offline.capture({ holdId: id, actor: { userId: 'a', apiKey: 'b' } }), 'invalid_request'],
    [offline.capture({ holdId: id, actor: { user: 'a' } }), 'invalid_request'],
    [offline.capture({ holdId: id, hold_id: id }), 'invalid_request'],
    [offline.release({}), 'invalid_request'],
    [offline.release({ holdId: id, amount: 1 }), 'invalid_request'],
    [offline.getHold({ holdId: 42 }), 'invalid_request'],
  ];
  for (const [promise, code] of closeCases) {
    assert.equal((await rejection(promise)).code, code);
  }
  // A hold id that cannot be one is not_found without a lookup.
  for (const bad of ['hold_x', "hold_0123456789abcdef0123456789abcde'", 'ctx_0123456789abcdef0123456789abcdef']) {
    assert.equal((await rejection(offline.capture({ holdId: bad }))).code, 'not_found');
    assert.equal((await rejection(offline.getHold({ holdId: bad }))).code, 'not_found');
  }
  assert.equal((await rejection(credits.getHold({ holdId: id }))).code, 'not_found');
  assert.equal((await rejection(credits.hold({ userId: 'nobody', amount: 1, operation: 'x' }))).code, 'not_found');
});

test('the edge module (fltr-credits) carries hold, capture, release and getHold', async () => {
  const require = createRequire(import.meta.url);
  initEdge({ module: readFileSync(require.resolve('fltr-credits/fltr_credits_bg.wasm')) });
  const edge = createEdgeCredits({ query: (text, params) => client.query(text, params) });
  assert.equal(typeof edge.sweep, 'undefined', 'sweep is in fltr-credits/node.js only');
  const hold = await edge.hold({ userId: 'hana', amount: 8, operation: 'llm.call' });
  assert.equal(hold.available, 40);
  assert.equal((await edge.getHold({ holdId: hold.hold_id })).state, 'active');
  assert.deepEqual([(await edge.capture({ holdId: hold.hold_id, amount: 2 })).available], [46]);
  const other = await edge.hold({ userId: 'hana', amount: 8, operation: 'llm.call' });
  assert.equal((await edge.release({ holdId: other.hold_id })).available, 46);
  assert.equal((await rejection(edge.release({ holdId: other.hold_id }))).state, 'released');
});
