// The Worker end to end: wrangler dev (workerd) + Hyperdrive binding + real Postgres, sessions
// from better-auth, webhooks signed by stripe. Every route and every error status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, makeAuth, signUp, signStripe, call, seedKey, keyHash, legacyKeyId, SECRETS, ORIGIN } from './harness.mjs';

let worker, auth, alice, bob;
// Keys written the seed's way (the secret itself in api_key_credits.api_key), as an older FLTR app
// does: they authenticate, and take their public id (legacyKeyId) and hashed form at first use.
const KEY = 'fltr_live_e2e_key_alice_0001';
const BOB_KEY = 'fltr_live_e2e_key_bob_00002';
const KEY_ID = legacyKeyId(KEY);
const BOB_KEY_ID = legacyKeyId(BOB_KEY);
const adminAuth = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const serviceAuth = { authorization: `Bearer ${SECRETS.SERVICE_TOKEN}` };
const as = (session) => ({ authorization: `Bearer ${session.token}` });
const consumeBody = (amount) => ({ amount, operation: 'document.process', resource_id: 'doc_1', metadata: { pages: 3 } });
const api = (path, options) => call(worker.base, path, options);

before(async () => {
  worker = await startWorker('api');
  auth = await makeAuth(worker.pool);
  alice = await signUp(auth, 'alice@example.com');
  bob = await signUp(auth, 'bob@example.com');
  const granted = await api('/admin/grant', { method: 'POST', headers: adminAuth, body: { user_id: alice.userId, amount: 100 } });
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  await seedKey(worker.pool, KEY, alice.userId, { dailyLimit: 20 });
  await seedKey(worker.pool, BOB_KEY, bob.userId);
  // Bob lists his keys: the listing adopts his seed-way row, so the id it shows is the id every
  // route takes.
  const listed = await api('/api/v1/api-keys', { headers: as(bob) });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.api_keys.map((k) => [k.id, k.masked]), [[BOB_KEY_ID, 'fltr_live…']]);
  assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(BOB_KEY));
  const { rows } = await worker.pool.query('SELECT api_key, key_hash FROM api_key_credits WHERE user_id = $1', [bob.userId]);
  assert.deepEqual(rows, [{ api_key: BOB_KEY_ID, key_hash: keyHash(BOB_KEY) }]);
});

after(async () => { await worker?.stop(); });

test('GET /health: database reachable, migrations applied, version', async () => {
  const health = await api('/health');
  assert.equal(health.status, 200);
  assert.deepEqual({ ...health.body, version: undefined }, { status: 'ok', database: 'ok', schema: 'ok', unfulfilled_purchases: 0, version: undefined });
  assert.match(health.body.version, /^\d+\.\d+\.\d+/);
  assert.ok(health.headers.get('x-request-id'));
});

test('unknown routes are 404 not_found; a served path with another method is 405 with Allow', async () => {
  const unknown = await api('/nope');
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'not_found']);
  for (const [path, method, allow] of [['/api/v1/credits/consume', 'GET', 'POST, OPTIONS'], ['/health', 'POST', 'GET, OPTIONS'], ['/api/v1/credits/balance', 'DELETE', 'GET, OPTIONS'], ['/api/v1/credits/balance', 'QUERY', 'GET, OPTIONS']]) {
    const answer = await api(path, { method });
    assert.deepEqual([answer.status, answer.body.error.code, answer.headers.get('allow')], [405, 'method_not_allowed', allow]);
  }
});

test('consume by Better Auth bearer token, signed cookie and signed bearer', async () => {
  const byToken = await api('/api/v1/credits/consume', { method: 'POST', headers: as(alice), body: consumeBody(5) });
  assert.equal(byToken.status, 200, JSON.stringify(byToken.body));
  assert.equal(byToken.body.balance, 95);
  assert.deepEqual(byToken.body.charged, { kind: 'user', id: alice.userId });
  assert.equal(byToken.body.replayed, false);
  const byCookie = await api('/api/v1/credits/consume', { method: 'POST', headers: { cookie: `better-auth.session_token=${alice.cookie}` }, body: consumeBody(5) });
  assert.equal(byCookie.status, 200, JSON.stringify(byCookie.body));
  assert.equal(byCookie.body.balance, 90);
  const bySecureCookie = await api('/api/v1/credits/check', { method: 'POST', headers: { cookie: `theme=dark; __Secure-better-auth.session_token=${alice.cookie}` }, body: { amount: 1 } });
  assert.equal(bySecureCookie.status, 200);
  const bySignedBearer = await api('/api/v1/credits/consume', { method: 'POST', headers: { authorization: `Bearer ${alice.cookie}` }, body: consumeBody(5) });
  assert.equal(bySignedBearer.body.balance, 85);
  const session = await auth.api.getSession({ headers: new Headers({ authorization: `Bearer ${alice.token}` }) });
  assert.equal(session.user.id, alice.userId, 'better-auth itself accepts the same session');
});

test('401 unauthenticated: none, unknown, forged, expired', async () => {
  const expired = await signUp(auth, 'carol@example.com');
  await worker.pool.query(`UPDATE sessions SET expires_at = (now() at time zone 'utc') - interval '1 second' WHERE token = $1`, [expired.token]);
  const forgedCookie = alice.cookie.slice(0, -6) + 'AAAA%3D';
  for (const headers of [{}, { authorization: 'Bearer not-a-session' }, { 'x-api-key': 'fltr_no_such_key_000000' }, { cookie: `better-auth.session_token=${forgedCookie}` }, as(expired), { authorization: 'Basic abc' }]) {
    const answer = await api('/api/v1/credits/consume', { method: 'POST', headers, body: consumeBody(1) });
    assert.equal(answer.status, 401, JSON.stringify(headers));
    assert.equal(answer.body.error.code, 'unauthenticated');
    assert.ok(answer.body.error.message);
  }
});

test('400, 402, 413, 415 with stable codes, nothing written', async () => {
  const before = await api('/api/v1/credits/balance', { headers: as(bob) });
  const cases = [
    [{ raw: '{not json', headers: { ...as(bob), 'content-type': 'application/json' } }, 400, 'invalid_request'],
    [{ body: { amount: 1 }, headers: as(bob) }, 400, 'invalid_request'],
    [{ body: { amount: 0, operation: 'x' }, headers: as(bob) }, 400, 'invalid_amount'],
    [{ body: { amount: 1.5, operation: 'x' }, headers: as(bob) }, 400, 'invalid_amount'],
    [{ body: { amount: 2147483648, operation: 'x' }, headers: as(bob) }, 400, 'invalid_amount'],
    [{ body: consumeBody(1), headers: { ...as(bob), 'idempotency-key': 'bad key' } }, 400, 'invalid_request'],
    [{ body: consumeBody(1), headers: as(bob) }, 402, 'insufficient_credits'],
    [{ body: { amount: 1, operation: 'x', metadata: { pad: 'y'.repeat(70_000) } }, headers: as(bob) }, 413, 'payload_too_large'],
    [{ raw: 'x'.repeat(300_000), headers: { ...as(bob), 'content-type': 'application/json' } }, 413, 'payload_too_large'],
    [{ raw: JSON.stringify(consumeBody(1)), headers: { ...as(bob), 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
    [{ raw: JSON.stringify(consumeBody(1)), headers: as(bob) }, 415, 'unsupported_media_type'],
  ];
  for (const [options, status, code] of cases) {
    const answer = await api('/api/v1/credits/consume', { method: 'POST', ...options });
    assert.equal(answer.status, status, `${code}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, code);
    assert.ok(answer.body.error.request_id);
  }
  const poor = await api('/api/v1/credits/consume', { method: 'POST', headers: as(bob), body: consumeBody(3) });
  assert.deepEqual([poor.body.error.balance, poor.body.error.required], [0, 3]);
  const after = await api('/api/v1/credits/balance', { headers: as(bob) });
  assert.deepEqual(after.body, before.body);
});

test('Idempotency-Key: replay answers Idempotent-Replayed: true, a changed request is 409', async () => {
  const request = (amount) => api('/api/v1/credits/consume', { method: 'POST', headers: { ...as(alice), 'idempotency-key': 'e2e-order-1' }, body: consumeBody(amount) });
  const first = await request(2);
  const replay = await request(2);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('idempotent-replayed'), null);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.body.replayed, true);
  assert.equal(replay.body.transaction_id, first.body.transaction_id);
  const conflict = await request(3);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.code, 'idempotency_conflict');
});

test('values with quotes, backslashes and SQL in them travel as values (the Worker writes parameters in as literals)', async () => {
  const hostile = `it's \\ a '); DROP TABLE users; -- \\' test "é"`;
  const key = `k'\\');DELETE/**/FROM/**/credit_transactions;--`;
  const body = { amount: 1, operation: 'quote.test', resource_id: 'doc_q', metadata: { note: hostile, nested: { back: '\\\\' } } };
  const first = await api('/api/v1/credits/consume', { method: 'POST', headers: { ...as(alice), 'idempotency-key': key }, body });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const replay = await api('/api/v1/credits/consume', { method: 'POST', headers: { ...as(alice), 'idempotency-key': key }, body });
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.body.transaction_id, first.body.transaction_id);
  const page = await api('/api/v1/credits/transactions?limit=5', { headers: as(alice) });
  const row = page.body.transactions.find((t) => t.id === first.body.transaction_id);
  assert.deepEqual(row.metadata, body.metadata, 'stored and read back exactly');
  const { rows } = await worker.pool.query('SELECT count(*)::int AS n FROM users');
  assert.ok(rows[0].n >= 2, 'nothing was executed from a value');
});

test('a key written the seed\'s way authenticates through the Worker, and no copy of its secret is left after its first use', async () => {
  // An older app's key with an allowance and the ledger row that funded it, both naming the secret.
  const legacy = 'fltr_live_e2e_key_legacy_0004';
  const legacyId = await seedKey(worker.pool, legacy, alice.userId);
  await worker.pool.query('UPDATE api_key_credits SET credits = 7 WHERE api_key = $1', [legacy]);
  await worker.pool.query(
    `INSERT INTO credit_transactions (id, user_id, amount, type, operation, api_key_id, created_at) VALUES ('ctx_e2e_legacy', $1, 7, 'grant', 'legacy.grant', $2, now() at time zone 'utc')`,
    [alice.userId, legacy],
  );
  const atRest = async (secret) => {
    const { rows: [found] } = await worker.pool.query(
      `SELECT (SELECT count(*) FROM api_key_credits k WHERE k::text LIKE '%' || $1 || '%')
            + (SELECT count(*) FROM credit_transactions t WHERE t::text LIKE '%' || $1 || '%')
            + (SELECT count(*) FROM credit_idempotency_keys i WHERE i::text LIKE '%' || $1 || '%') AS n`,
      [secret],
    );
    return Number(found.n);
  };
  assert.ok(await atRest(legacy) >= 2 && await atRest(KEY) >= 1, 'the seed way keeps the secret in the rows');
  const before = await api('/admin/verify', { headers: adminAuth });
  const plaintext = before.body.drift.filter((d) => d.kind === 'plaintext_api_keys');
  assert.equal(plaintext.length, 1, JSON.stringify(before.body));
  assert.match(plaintext[0].found, /^2 key row/, 'alice\'s two seed-way keys (bob\'s was adopted by his listing)');
  assert.doesNotMatch(JSON.stringify(before.body), /fltr_live/, 'verify names no secret');

  const used = await api('/api/v1/credits/consume', { method: 'POST', headers: { 'x-api-key': legacy }, body: consumeBody(2) });
  assert.equal(used.status, 200, JSON.stringify(used.body));
  assert.deepEqual([used.body.charged, used.body.balance], [{ kind: 'api_key', id: legacyId }, 5]);
  const byBearer = await api('/api/v1/credits/balance', { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(byBearer.status, 200, JSON.stringify(byBearer.body));
  assert.deepEqual([byBearer.body.api_key.id, byBearer.body.api_key.api_key], [KEY_ID, 'fltr_live…']);

  for (const [secret, id] of [[legacy, legacyId], [KEY, KEY_ID]]) {
    assert.equal(await atRest(secret), 0, 'no table holds the secret any more');
    const { rows } = await worker.pool.query('SELECT api_key, start FROM api_key_credits WHERE key_hash = $1', [keyHash(secret)]);
    assert.deepEqual(rows, [{ api_key: id, start: 'fltr_live' }]);
  }
  const { rows: ledger } = await worker.pool.query('SELECT id, amount FROM credit_transactions WHERE api_key_id = $1 ORDER BY amount DESC', [legacyId]);
  assert.deepEqual(ledger.map((row) => [row.id, row.amount]), [['ctx_e2e_legacy', 7], [used.body.transaction_id, -2]], 'the older ledger row now names the id');
  // After adoption the key is found by its hash, through either header.
  const again = await api('/api/v1/credits/consume', { method: 'POST', headers: { authorization: `Bearer ${legacy}` }, body: consumeBody(1) });
  assert.deepEqual([again.status, again.body.balance], [200, 4]);
  const history = await api('/api/v1/credits/transactions?limit=10', { headers: { 'x-api-key': legacy } });
  assert.deepEqual(history.body.transactions.map((t) => t.api_key_id), [legacyId, legacyId, legacyId]);
  const after = await api('/admin/verify', { headers: adminAuth });
  assert.deepEqual(after.body.drift, [], 'no plaintext key left');
  // The key's public id is not a credential.
  const byId = await api('/api/v1/credits/check', { method: 'POST', headers: { 'x-api-key': legacyId }, body: { amount: 1 } });
  assert.deepEqual([byId.status, byId.body.error.code], [401, 'unauthenticated']);
  // Revoked, its allowance goes back to alice's own pool.
  const pool = async () => (await api('/api/v1/credits/balance', { headers: as(alice) })).body.user.credits;
  const pooled = await pool();
  const revoked = await api(`/api/v1/api-keys/${legacyId}`, { method: 'DELETE', headers: as(alice) });
  assert.deepEqual([revoked.status, revoked.body.id, revoked.body.returned], [200, legacyId, 4]);
  assert.equal(await pool(), pooled + 4);
  const gone = await api('/api/v1/credits/check', { method: 'POST', headers: { 'x-api-key': legacy }, body: { amount: 1 } });
  assert.equal(gone.status, 401);
});

test('allocate funds an own key; API keys consume within limits; 429 carries Retry-After and X-RateLimit-*', async () => {
  const allocated = await api(`/api/v1/api-keys/${KEY_ID}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 30 } });
  assert.equal(allocated.status, 200, JSON.stringify(allocated.body));
  assert.equal(allocated.body.balance, 30);
  assert.deepEqual(allocated.body.charged, { kind: 'api_key', id: KEY_ID });
  const foreign = await api(`/api/v1/api-keys/${BOB_KEY_ID}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 1 } });
  assert.equal(foreign.status, 404, 'another user\'s key looks like no key');
  assert.equal(foreign.body.error.code, 'not_found');
  const missing = await api('/api/v1/api-keys/key_00000000000000000000/allocate', { method: 'POST', headers: as(alice), body: { amount: 1 } });
  assert.equal(missing.status, 404);
  // A secret where the id belongs is refused, and not echoed.
  const bySecret = await api(`/api/v1/api-keys/${KEY}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 1 } });
  assert.deepEqual([bySecret.status, bySecret.body.error.code], [400, 'invalid_request']);
  assert.doesNotMatch(JSON.stringify(bySecret.body), new RegExp(KEY));

  const byKey = await api('/api/v1/credits/consume', { method: 'POST', headers: { 'x-api-key': KEY }, body: consumeBody(15) });
  assert.equal(byKey.status, 200, JSON.stringify(byKey.body));
  assert.deepEqual(byKey.body.charged, { kind: 'api_key', id: KEY_ID });
  assert.equal(byKey.body.limits.daily.remaining, 5);
  assert.equal(byKey.headers.get('x-ratelimit-limit'), '20');
  assert.equal(byKey.headers.get('x-ratelimit-remaining'), '5');
  const byBearerKey = await api('/api/v1/credits/check', { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: { amount: 5 } });
  assert.equal(byBearerKey.status, 200);
  const limited = await api('/api/v1/credits/consume', { method: 'POST', headers: { 'x-api-key': KEY }, body: consumeBody(6) });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'daily_limit_exceeded');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 86400, String(retryAfter));
  assert.equal(limited.body.error.retry_after, retryAfter);
  assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
  assert.ok(Number(limited.headers.get('x-ratelimit-reset')) > Date.now() / 1000);
});

test('concurrency through the Worker: parallel copies of one idempotent request charge once; a daily limit is never overspent', async () => {
  const created = await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { name: 'race', daily_limit: 10 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { id: limitedId, key: limitedKey } = created.body;
  const topUp = await api('/admin/grant', { method: 'POST', headers: adminAuth, body: { user_id: alice.userId, amount: 50 } });
  assert.equal(topUp.status, 200);
  const funded = await api(`/api/v1/api-keys/${limitedId}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 50 } });
  assert.equal(funded.status, 200);
  const copies = await Promise.all(Array.from({ length: 6 }, () =>
    api('/api/v1/credits/consume', { method: 'POST', headers: { 'x-api-key': limitedKey, 'idempotency-key': 'race-1' }, body: consumeBody(2) })));
  assert.deepEqual(copies.map((c) => c.status), Array(6).fill(200));
  assert.equal(new Set(copies.map((c) => c.body.transaction_id)).size, 1, 'one transaction for all copies');
  assert.equal(copies.filter((c) => !c.body.replayed).length, 1);
  const racers = await Promise.all(Array.from({ length: 12 }, () =>
    api('/api/v1/credits/consume', { method: 'POST', headers: { 'x-api-key': limitedKey }, body: consumeBody(1) })));
  const statuses = racers.map((r) => r.status).sort();
  assert.equal(statuses.filter((s) => s === 200).length, 8, `2 + 8 = the daily limit of 10: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 429).length, 4);
  const { rows: [key] } = await worker.pool.query('SELECT credits, daily_used FROM api_key_credits WHERE api_key = $1', [limitedId]);
  assert.deepEqual([key.credits, key.daily_used], [40, 10]);
});

test('check decides without writing; balance and transactions page through the ledger', async () => {
  const before = await api('/api/v1/credits/balance', { headers: as(alice) });
  assert.equal(before.status, 200);
  const check = await api('/api/v1/credits/check', { method: 'POST', headers: as(alice), body: { amount: 1, operation: 'document.process' } });
  assert.equal(check.status, 200);
  assert.equal(check.body.balance, before.body.user.credits);
  assert.equal(check.body.transaction_id, undefined);
  const tooMuch = await api('/api/v1/credits/check', { method: 'POST', headers: as(alice), body: { amount: 100000 } });
  assert.equal(tooMuch.status, 402);
  const after = await api('/api/v1/credits/balance', { headers: as(alice) });
  assert.deepEqual(after.body, before.body);
  const [oldest] = after.body.api_keys;
  assert.deepEqual([oldest.id, oldest.start, oldest.api_key, oldest.credits, oldest.available], [KEY_ID, 'fltr_live', 'fltr_live…', 15, 15]);
  assert.equal(after.body.user.available, after.body.user.credits);
  assert.doesNotMatch(JSON.stringify(after.body), new RegExp(KEY), 'the balance names no secret');
  assert.equal(after.body.team, null);

  const first = await api('/api/v1/credits/transactions?limit=2', { headers: as(alice) });
  assert.equal(first.status, 200);
  assert.equal(first.body.transactions.length, 2);
  assert.ok(first.body.next_cursor);
  const second = await api(`/api/v1/credits/transactions?limit=100&cursor=${first.body.next_cursor}`, { headers: as(alice) });
  const ids = [...first.body.transactions, ...second.body.transactions].map((t) => t.id);
  assert.equal(new Set(ids).size, ids.length, 'pages do not overlap');
  assert.equal(second.body.next_cursor, null);
  const bad = await api('/api/v1/credits/transactions?limit=500', { headers: as(alice) });
  assert.equal(bad.status, 400);
  const byKey = await api('/api/v1/credits/balance', { headers: { 'x-api-key': KEY } });
  assert.equal(byKey.body.api_key.daily_limit, 20);
  assert.equal(byKey.body.api_key.id, KEY_ID);
  const keyRows = await api('/api/v1/credits/transactions?limit=100', { headers: { 'x-api-key': KEY } });
  assert.ok(keyRows.body.transactions.length > 0);
  for (const row of keyRows.body.transactions) assert.equal(row.api_key_id, KEY_ID);
});

test('refund is the service credential\'s: the charged user and a stranger get 403, the service refunds once', async () => {
  const usage = await api('/api/v1/credits/consume', { method: 'POST', headers: as(alice), body: consumeBody(4) });
  const id = usage.body.transaction_id;
  for (const session of [alice, bob]) {
    const refused = await api('/api/v1/credits/refund', { method: 'POST', headers: as(session), body: { transaction_id: id } });
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden']);
  }
  const refund = await api('/api/v1/credits/refund', { method: 'POST', headers: serviceAuth, body: { transaction_id: id } });
  assert.equal(refund.status, 200, JSON.stringify(refund.body));
  assert.equal(refund.body.refunded, 4);
  assert.equal(refund.body.balance, usage.body.balance + 4);
  const again = await api('/api/v1/credits/refund', { method: 'POST', headers: adminAuth, body: { transaction_id: id } });
  assert.equal(again.body.replayed, true);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
});

test('Stripe webhook: signed checkout grants once; forged, stale or unknown-user deliveries grant nothing', async () => {
  const before = (await api('/api/v1/credits/balance', { headers: as(bob) })).body.user.credits;
  const event = (id, type, object) => JSON.stringify({ id, object: 'event', type, data: { object } }, null, 2);
  const paid = event('evt_e2e_1', 'checkout.session.completed', {
    id: 'cs_test_e2e_1', object: 'checkout.session', client_reference_id: bob.userId, payment_status: 'paid', metadata: { credits: '50' }, amount_total: 500, currency: 'usd',
  });
  const send = async (payload, options) => api('/api/v1/webhooks/stripe', { method: 'POST', raw: payload, headers: { 'stripe-signature': await signStripe(payload, options), 'content-type': 'application/json; charset=utf-8' } });
  const first = await send(paid);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.granted, 50);
  const redelivered = await send(paid);
  assert.equal(redelivered.status, 200);
  assert.deepEqual([redelivered.body.granted, redelivered.body.replayed], [0, true]);
  const asyncSucceeded = await send(event('evt_e2e_2', 'checkout.session.async_payment_succeeded', { id: 'cs_test_e2e_1', metadata: { user_id: bob.userId, credits: '50' } }));
  assert.equal(asyncSucceeded.body.granted, 0, 'one session grants once');
  const unpaid = await send(event('evt_e2e_3', 'checkout.session.completed', { id: 'cs_test_e2e_2', client_reference_id: bob.userId, payment_status: 'unpaid', metadata: { credits: '7' } }));
  assert.equal(unpaid.body.granted, 0);
  const forged = await send(paid, { secret: 'whsec_wrong' });
  assert.equal(forged.status, 400);
  assert.equal(forged.body.error.code, 'invalid_signature');
  const stale = await send(event('evt_e2e_4', 'checkout.session.completed', { id: 'cs_test_e2e_3', client_reference_id: bob.userId, payment_status: 'paid', metadata: { credits: '9' } }), { timestamp: Math.floor(Date.now() / 1000) - 400 });
  assert.equal(stale.status, 400);
  assert.equal(stale.body.error.code, 'invalid_signature');
  const unsigned = await api('/api/v1/webhooks/stripe', { method: 'POST', raw: paid });
  assert.equal(unsigned.status, 400);
  const nobody = await send(event('evt_e2e_5', 'checkout.session.completed', { id: 'cs_test_e2e_4', client_reference_id: 'user_nobody', payment_status: 'paid', metadata: { credits: '9' } }));
  assert.deepEqual([nobody.status, nobody.body.error.code], [500, 'purchase_not_credited'], 'paid but not creditable: Stripe must retry');
  assert.equal((await api('/health')).body.unfulfilled_purchases, 1);
  const after = (await api('/api/v1/credits/balance', { headers: as(bob) })).body.user;
  assert.equal(after.credits, before + 50);
  assert.equal(after.total_credits_purchased, 50);
});

test('admin routes: 401 without the token, 403 with a session, work with ADMIN_TOKEN', async () => {
  const routes = [['POST', '/admin/migrate'], ['GET', '/admin/verify'], ['GET', '/admin/reconcile'], ['POST', '/admin/grant']];
  for (const [method, path] of routes) {
    const body = method === 'POST' ? { user_id: bob.userId, amount: 1 } : undefined;
    const anonymous = await api(path, { method, body });
    assert.equal(anonymous.status, 401, path);
    const wrong = await api(path, { method, body, headers: { authorization: 'Bearer wrong-token' } });
    assert.equal(wrong.status, 401, path);
    const session = await api(path, { method, body, headers: as(bob) });
    assert.equal(session.status, 403, path);
    assert.equal(session.body.error.code, 'forbidden');
    const service = await api(path, { method, body, headers: serviceAuth });
    assert.equal(service.status, 403, `${path}: the service is not the admin`);
  }
  const migrate = await api('/admin/migrate', { method: 'POST', headers: adminAuth });
  assert.equal(migrate.status, 200, JSON.stringify(migrate.body));
  assert.deepEqual([migrate.body.ok, migrate.body.applied], [true, []]);
  const verify = await api('/admin/verify', { headers: adminAuth });
  assert.deepEqual([verify.status, verify.body.ok, verify.body.drift], [200, true, []]);
  const reconcile = await api('/admin/reconcile', { headers: adminAuth });
  assert.equal(reconcile.status, 200);
  assert.deepEqual(reconcile.body.drift, [], 'every balance equals its ledger after the whole suite');
  const grant = () => api('/admin/grant', { method: 'POST', headers: { ...adminAuth, 'idempotency-key': 'e2e-grant-1' }, body: { api_key: BOB_KEY_ID, amount: 10 } });
  const granted = await grant();
  assert.deepEqual([granted.status, granted.body.balance, granted.body.account], [200, 10, { kind: 'api_key', id: BOB_KEY_ID }]);
  assert.equal((await grant()).headers.get('idempotent-replayed'), 'true');
  const bySecret = await api('/admin/grant', { method: 'POST', headers: adminAuth, body: { api_key_id: BOB_KEY, amount: 1 } });
  assert.deepEqual([bySecret.status, bySecret.body.error.code], [400, 'invalid_request']);
  assert.doesNotMatch(JSON.stringify(bySecret.body), new RegExp(BOB_KEY), 'the secret is not echoed');
});

test('CORS: preflight for CORS_ORIGINS, refused for others', async () => {
  const preflight = await fetch(`${worker.base}/api/v1/credits/consume`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
  assert.match(preflight.headers.get('access-control-allow-headers'), /Idempotency-Key/);
  const keyPreflight = await fetch(`${worker.base}/api/v1/api-keys/${KEY_ID}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'DELETE' } });
  assert.equal(keyPreflight.status, 204);
  const methods = keyPreflight.headers.get('access-control-allow-methods').split(',').map((m) => m.trim());
  for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) assert.ok(methods.includes(method), `${method} in ${methods}`);
  const evil = await fetch(`${worker.base}/api/v1/credits/consume`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const simple = await api('/api/v1/credits/balance', { headers: { ...as(alice), origin: ORIGIN } });
  assert.equal(simple.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(simple.headers.get('access-control-expose-headers'), /X-RateLimit-Remaining/);
});

test('500 internal: a request id, no detail in the body, nothing written', async () => {
  await worker.pool.query('ALTER TABLE credit_transactions ADD CONSTRAINT e2e_no_sevens CHECK (amount <> -7)');
  try {
    const before = (await api('/api/v1/credits/balance', { headers: as(alice) })).body.user.credits;
    const answer = await api('/api/v1/credits/consume', { method: 'POST', headers: as(alice), body: consumeBody(7) });
    assert.equal(answer.status, 500);
    assert.equal(answer.body.error.code, 'internal');
    assert.ok(answer.body.error.request_id);
    assert.equal(answer.headers.get('x-request-id'), answer.body.error.request_id);
    assert.doesNotMatch(JSON.stringify(answer.body), /e2e_no_sevens|23514|panicked|at src\//);
    assert.equal((await api('/api/v1/credits/balance', { headers: as(alice) })).body.user.credits, before);
  } finally {
    await worker.pool.query('ALTER TABLE credit_transactions DROP CONSTRAINT e2e_no_sevens');
  }
});

test('503 database_unavailable when Postgres is gone; the Worker keeps serving', { timeout: 60_000 }, async () => {
  // Rename the database away under the Worker: Hyperdrive's connection now fails.
  await worker.pool.end();
  const gone = `${worker.database}_gone`;
  const adminClient = new (await import('pg')).default.Client({ connectionString: worker.databaseUrl.replace(/\/[^/]+$/, '/postgres') });
  await adminClient.connect();
  try {
    await adminClient.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [worker.database]);
    await adminClient.query(`ALTER DATABASE "${worker.database}" RENAME TO "${gone}"`);
    const health = await api('/health');
    assert.equal(health.status, 503);
    assert.equal(health.body.status, 'error');
    assert.equal(health.body.database, 'unavailable');
    const consume = await api('/api/v1/credits/consume', { method: 'POST', headers: as(alice), body: consumeBody(1) });
    assert.equal(consume.status, 503);
    assert.equal(consume.body.error.code, 'database_unavailable');
    assert.match(consume.body.error.message, /database/);
    const stillServing = await api('/nope');
    assert.equal(stillServing.status, 404);
  } finally {
    await adminClient.query(`ALTER DATABASE "${gone}" RENAME TO "${worker.database}"`).catch(() => {});
    await adminClient.end();
  }
  const back = await api('/health');
  assert.equal(back.status, 200, 'recovers as soon as the database is back');
});
