// API keys' lifecycle through the real Worker (wrangler dev + Hyperdrive + Postgres) with real
// better-auth sessions (API.md "API keys"): create, use, list, limits, rotate with and without a
// grace, revoke, team keys, the service's revoke-leaked, and the secret never showing where it
// does not belong — in answers, paths, logs or at rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, makeAuth, signUp, call, keyHash, SECRETS, ORIGIN } from './harness.mjs';

let worker, auth, alice, bob;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const service = { authorization: `Bearer ${SECRETS.SERVICE_TOKEN}` };
const as = (session) => ({ authorization: `Bearer ${session.token}` });
const api = (path, options) => call(worker.base, path, options);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = /^fltr_[0-9A-Za-z]{36}$/;
const ANY_SECRET = /fltr_[0-9A-Za-z]{36}/;
const ID = /^key_[0-9a-f]{20}$/;
/** Every secret this file was shown: none may appear again where it does not belong. */
const shown = new Set();

/** POST /api/v1/api-keys as `session`; asserts the 201 and returns the key object (with `key`). */
async function createKey(session, body = {}) {
  const created = await api('/api/v1/api-keys', { method: 'POST', headers: as(session), body });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  shown.add(created.body.key);
  return created.body;
}

async function allocate(session, id, amount) {
  const funded = await api(`/api/v1/api-keys/${id}/allocate`, { method: 'POST', headers: as(session), body: { amount } });
  assert.equal(funded.status, 200, JSON.stringify(funded.body));
  return funded.body;
}

/** A consume through an API key: `x-api-key` (default) or `Authorization: Bearer`. */
const consume = (secret, amount, { bearer = false, resourceId } = {}) => api('/api/v1/credits/consume', {
  method: 'POST',
  headers: bearer ? { authorization: `Bearer ${secret}` } : { 'x-api-key': secret },
  body: { amount, operation: 'document.process', ...(resourceId ? { resource_id: resourceId } : {}) },
});

const listKeys = async (session) => {
  const listed = await api('/api/v1/api-keys', { headers: as(session) });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return listed.body.api_keys;
};

const userCredits = async (session) => (await api('/api/v1/credits/balance', { headers: as(session) })).body.user.credits;

/** Σ ledger of one key and its stored allowance: equal after every operation. */
async function keyLedger(id) {
  const { rows: [row] } = await worker.pool.query(
    `SELECT k.credits, (SELECT coalesce(sum(t.amount), 0)::int FROM credit_transactions t WHERE t.api_key_id = k.api_key) AS ledger
     FROM api_key_credits k WHERE k.api_key = $1`,
    [id],
  );
  return row;
}

before(async () => {
  worker = await startWorker('keys');
  auth = await makeAuth(worker.pool);
  alice = await signUp(auth, 'alice.keys@example.com');
  bob = await signUp(auth, 'bob.keys@example.com');
  for (const user of [alice, bob]) {
    const granted = await api('/admin/grant', { method: 'POST', headers: admin, body: { user_id: user.userId, amount: 1000 } });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
  }
});

after(async () => {
  try {
    if (worker) {
      // No secret was ever written out by the Worker (its log is wrangler's output).
      for (const secret of shown) assert.ok(!worker.output().includes(secret), 'a secret reached the Worker log');
      const reconcile = await api('/admin/reconcile', { headers: admin });
      assert.deepEqual(reconcile.body.drift, [], 'every balance equals its ledger after the whole file');
    }
  } finally {
    await worker?.stop();
  }
});

test('create: 201 with the secret shown once (no-store), stored only as its hash; it works as x-api-key and as Bearer; the list shows no secret', async () => {
  const before = await listKeys(alice);
  const created = await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { name: 'ci', daily_limit: 100 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const key = created.body;
  shown.add(key.key);
  assert.match(key.key, SECRET);
  assert.match(key.id, ID);
  assert.equal(key.start, key.key.slice(0, 9));
  assert.equal(key.masked, `${key.start}…`);
  assert.deepEqual(
    [key.name, key.user_id, key.team_id, key.credits, key.available, key.daily_limit, key.monthly_limit, key.expires_at, key.revoked_at, key.last_used_at],
    ['ci', alice.userId, null, 0, 0, 100, null, null, null, null],
  );
  assert.ok(!JSON.stringify(key).includes(keyHash(key.key)), 'the hash is not shown either');

  // At rest: the id and the hash, never the secret.
  const { rows } = await worker.pool.query('SELECT api_key, key_hash, start FROM api_key_credits WHERE user_id = $1', [alice.userId]);
  assert.deepEqual(rows, [{ api_key: key.id, key_hash: keyHash(key.key), start: key.start }]);
  const { rows: [{ n }] } = await worker.pool.query(`SELECT count(*)::int AS n FROM api_key_credits k WHERE k::text LIKE '%' || $1 || '%'`, [key.key]);
  assert.equal(n, 0);

  await allocate(alice, key.id, 50);
  const byHeader = await consume(key.key, 5);
  assert.equal(byHeader.status, 200, JSON.stringify(byHeader.body));
  assert.deepEqual([byHeader.body.charged, byHeader.body.balance], [{ kind: 'api_key', id: key.id }, 45]);
  const byBearer = await consume(key.key, 5, { bearer: true });
  assert.equal(byBearer.status, 200, JSON.stringify(byBearer.body));
  assert.deepEqual([byBearer.body.charged.id, byBearer.body.balance, byBearer.body.limits.daily.used], [key.id, 40, 10]);

  const listed = await api('/api/v1/api-keys', { headers: as(alice) });
  assert.equal(listed.status, 200);
  assert.equal(listed.headers.get('cache-control'), null, 'a list holds no secret');
  const text = JSON.stringify(listed.body);
  assert.doesNotMatch(text, ANY_SECRET, 'no secret anywhere in the list');
  for (const secret of shown) assert.ok(!text.includes(secret) && !text.includes(keyHash(secret)));
  assert.equal(listed.body.api_keys.length, before.length + 1);
  const entry = listed.body.api_keys.find((k) => k.id === key.id);
  assert.equal(entry.key, undefined);
  assert.deepEqual([entry.masked, entry.credits, entry.available, entry.limits.daily.used], [key.masked, 40, 40, 10]);
  assert.ok(entry.last_used_at, 'last_used_at is set by use');
  assert.ok(Date.parse(entry.last_used_at) >= Date.parse(entry.created_at));

  // The balance names the key by id and start, never by its secret.
  const balance = await api('/api/v1/credits/balance', { headers: { 'x-api-key': key.key } });
  assert.deepEqual([balance.body.api_key.id, balance.body.api_key.start, balance.body.api_key.api_key], [key.id, key.start, key.masked]);
  assert.doesNotMatch(JSON.stringify(balance.body), ANY_SECRET);
  assert.deepEqual(await keyLedger(key.id), { credits: 40, ledger: 40 });
});

test('the service creates and lists keys for a named user; a session naming a user is 403', async () => {
  const made = await api('/api/v1/api-keys', { method: 'POST', headers: service, body: { user_id: bob.userId, name: 'for bob' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  shown.add(made.body.key);
  assert.equal(made.body.user_id, bob.userId);
  const listed = await api(`/api/v1/api-keys?user_id=${encodeURIComponent(bob.userId)}`, { headers: service });
  assert.deepEqual(listed.body.api_keys.map((k) => k.id), [made.body.id]);
  assert.deepEqual((await listKeys(bob)).map((k) => k.id), [made.body.id], 'bob sees it as his');
  const unnamed = await api('/api/v1/api-keys', { headers: service });
  assert.deepEqual([unnamed.status, unnamed.body.error.code], [400, 'invalid_request']);
  const named = await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { user_id: bob.userId } });
  assert.deepEqual([named.status, named.body.error.code], [403, 'forbidden']);
  const peek = await api(`/api/v1/api-keys?user_id=${encodeURIComponent(bob.userId)}`, { headers: as(alice) });
  assert.deepEqual([peek.status, peek.body.error.code], [403, 'forbidden']);
  const nobody = await api('/api/v1/api-keys', { method: 'POST', headers: service, body: { user_id: 'no_such_user' } });
  assert.deepEqual([nobody.status, nobody.body.error.code], [404, 'not_found']);
});

test('PATCH sets and removes limits: a lowered daily limit is 429 at once, with Retry-After; null lifts it', async () => {
  const key = await createKey(alice, { name: 'limited' });
  await allocate(alice, key.id, 100);
  for (const amount of [5, 5]) assert.equal((await consume(key.key, amount)).status, 200);
  const patched = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(alice), body: { daily_limit: 12, monthly_limit: 1000, name: 'limited-12' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.key, undefined, 'a change shows no secret');
  assert.deepEqual(
    [patched.body.name, patched.body.daily_limit, patched.body.monthly_limit, patched.body.limits.daily.used, patched.body.limits.daily.remaining],
    ['limited-12', 12, 1000, 10, 2],
  );
  const limited = await consume(key.key, 3);
  assert.deepEqual([limited.status, limited.body.error.code], [429, 'daily_limit_exceeded']);
  assert.deepEqual([limited.body.error.limit, limited.body.error.used], [12, 10]);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
  assert.equal(limited.headers.get('x-ratelimit-limit'), '12');
  assert.equal((await consume(key.key, 2)).status, 200, 'up to the limit is fine');
  assert.equal((await consume(key.key, 1)).status, 429);
  const lifted = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(alice), body: { daily_limit: null } });
  assert.deepEqual([lifted.status, lifted.body.daily_limit, lifted.body.monthly_limit], [200, null, 1000], 'only the fields sent change');
  const free = await consume(key.key, 3);
  assert.equal(free.status, 200, JSON.stringify(free.body));
  assert.equal(free.body.limits.daily.limit, null);
  const unchanged = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(alice), body: {} });
  assert.deepEqual([unchanged.status, unchanged.body.name], [200, 'limited-12']);
  assert.deepEqual(await keyLedger(key.id), { credits: 85, ledger: 85 });
});

test('an expiry set by PATCH ends the key by itself: 401 once it passes', { timeout: 30_000 }, async () => {
  const key = await createKey(alice, { name: 'short-lived' });
  await allocate(alice, key.id, 5);
  const at = new Date(Date.now() + 2000).toISOString();
  const patched = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(alice), body: { expires_at: at } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(Date.parse(patched.body.expires_at), Date.parse(at));
  assert.equal((await consume(key.key, 1)).status, 200, 'still valid');
  while (Date.now() <= Date.parse(at) + 50) await sleep(100);
  const expired = await consume(key.key, 1);
  assert.deepEqual([expired.status, expired.body.error.code], [401, 'unauthenticated']);
  const balance = await api('/api/v1/credits/balance', { headers: as(alice) });
  assert.ok(!balance.body.api_keys.some((k) => k.id === key.id), 'an expired key leaves the balance');
  assert.ok((await listKeys(alice)).some((k) => k.id === key.id && k.expires_at), 'and stays listed, with its expiry');
});

test('rotate with a grace: the old secret works until the grace ends, then 401; id, allowance and limits stay', { timeout: 30_000 }, async () => {
  const key = await createKey(alice, { name: 'rotating', daily_limit: 500 });
  await allocate(alice, key.id, 50);
  assert.equal((await consume(key.key, 1)).status, 200);
  const rotated = await api(`/api/v1/api-keys/${key.id}/rotate`, { method: 'POST', headers: as(alice), body: { grace_seconds: 2 } });
  const rotatedAt = Date.now();
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.equal(rotated.headers.get('cache-control'), 'no-store');
  shown.add(rotated.body.key);
  assert.match(rotated.body.key, SECRET);
  assert.notEqual(rotated.body.key, key.key);
  assert.deepEqual(
    [rotated.body.id, rotated.body.credits, rotated.body.daily_limit, rotated.body.start, rotated.body.limits.daily.used],
    [key.id, 49, 500, rotated.body.key.slice(0, 9), 1],
  );
  const { rows: [row] } = await worker.pool.query('SELECT key_hash, previous_key_hash, previous_key_expires_at FROM api_key_credits WHERE api_key = $1', [key.id]);
  assert.deepEqual([row.key_hash, row.previous_key_hash], [keyHash(rotated.body.key), keyHash(key.key)]);
  const graceEnd = row.previous_key_expires_at.getTime();
  assert.ok(Math.abs(graceEnd - (rotatedAt + 2000)) < 1500, `grace ends 2 s after the rotation (${new Date(graceEnd).toISOString()})`);

  const during = await consume(key.key, 1);
  assert.ok(Date.now() < graceEnd, 'the check ran inside the grace');
  assert.equal(during.status, 200, JSON.stringify(during.body));
  assert.equal(during.body.charged.id, key.id);
  assert.equal((await consume(rotated.body.key, 1, { bearer: true })).status, 200);
  while (Date.now() <= graceEnd + 50) await sleep(100);
  const late = await consume(key.key, 1);
  assert.deepEqual([late.status, late.body.error.code], [401, 'unauthenticated']);
  assert.equal((await consume(key.key, 1, { bearer: true })).status, 401);
  const fresh = await consume(rotated.body.key, 1);
  assert.deepEqual([fresh.status, fresh.body.balance], [200, 46]);
  assert.deepEqual(await keyLedger(key.id), { credits: 46, ledger: 46 });
});

test('rotate with no grace (0, or no body): the old secret is 401 at once; a rotation during a grace ends that grace', async () => {
  const key = await createKey(alice, { name: 'leaked?' });
  await allocate(alice, key.id, 10);
  const first = await api(`/api/v1/api-keys/${key.id}/rotate`, { method: 'POST', headers: as(alice), body: { grace_seconds: 0 } });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  shown.add(first.body.key);
  assert.deepEqual([(await consume(key.key, 1)).status, (await consume(first.body.key, 1)).status], [401, 200]);

  const graced = await api(`/api/v1/api-keys/${key.id}/rotate`, { method: 'POST', headers: as(alice), body: { grace_seconds: 3600 } });
  shown.add(graced.body.key);
  assert.equal((await consume(first.body.key, 1)).status, 200, 'in its hour of grace');
  const again = await api(`/api/v1/api-keys/${key.id}/rotate`, { method: 'POST', headers: as(alice) });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  shown.add(again.body.key);
  const statuses = [];
  for (const secret of [key.key, first.body.key, graced.body.key, again.body.key]) statuses.push((await consume(secret, 1)).status);
  assert.deepEqual(statuses, [401, 401, 401, 200], 'only the newest secret works');
});

test('DELETE revokes: 401 from then on, the unspent allowance goes back to the user\'s pool, ledgered; a second DELETE is the replay', async () => {
  const key = await createKey(alice, { name: 'to revoke', daily_limit: 50 });
  await allocate(alice, key.id, 30);
  assert.equal((await consume(key.key, 4)).status, 200);
  const pool = await userCredits(alice);
  const revoked = await api(`/api/v1/api-keys/${key.id}`, { method: 'DELETE', headers: as(alice) });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.deepEqual([revoked.body.ok, revoked.body.id, revoked.body.returned, revoked.body.replayed], [true, key.id, 26, false]);
  assert.ok(Date.parse(revoked.body.revoked_at) <= Date.now() + 1000);
  assert.equal(await userCredits(alice), pool + 26);
  const gone = await consume(key.key, 1);
  assert.deepEqual([gone.status, gone.body.error.code], [401, 'unauthenticated']);
  assert.equal((await consume(key.key, 1, { bearer: true })).status, 401);
  const { rows } = await worker.pool.query(
    `SELECT id, amount, type, operation, api_key_id FROM credit_transactions WHERE id LIKE 'revoke\\_' || $1 || '%' ORDER BY id`, [key.id]);
  assert.deepEqual(rows.map((r) => [r.id, r.amount, r.type, r.operation, r.api_key_id]), [
    [`revoke_${key.id}`, -26, 'allocation', 'api_key.revoke', key.id],
    [`revoke_${key.id}_pool`, 26, 'allocation', 'api_key.revoke', null],
  ]);
  assert.deepEqual(await keyLedger(key.id), { credits: 0, ledger: 0 });

  const replay = await api(`/api/v1/api-keys/${key.id}`, { method: 'DELETE', headers: as(alice) });
  assert.equal(replay.status, 200);
  assert.deepEqual(replay.body, { ...revoked.body, replayed: true }, 'the same answer, nothing returned twice');
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(await userCredits(alice), pool + 26);

  const listed = (await listKeys(alice)).find((k) => k.id === key.id);
  assert.equal(listed.revoked_at, revoked.body.revoked_at);
  const balance = await api('/api/v1/credits/balance', { headers: as(alice) });
  assert.ok(!balance.body.api_keys.some((k) => k.id === key.id), 'a revoked key leaves the balance');
  // A revoked key is not changed any more, nor funded.
  for (const [path, method, body] of [[`/api/v1/api-keys/${key.id}/rotate`, 'POST', {}], [`/api/v1/api-keys/${key.id}`, 'PATCH', { name: 'x' }]]) {
    const refused = await api(path, { method, headers: as(alice), body });
    assert.deepEqual([refused.status, refused.body.error.code], [409, 'api_key_revoked'], `${method} ${path}`);
    assert.doesNotMatch(JSON.stringify(refused.body), ANY_SECRET);
  }
  const fund = await api(`/api/v1/api-keys/${key.id}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 1 } });
  assert.ok([404, 409].includes(fund.status), `a revoked key takes no credits: ${JSON.stringify(fund.body)}`);
  assert.equal(await userCredits(alice), pool + 26);
});

test('another user\'s key id is 404 on PATCH, DELETE, rotate and allocate, and nothing changes', async () => {
  const key = await createKey(alice, { name: 'mine', daily_limit: 7 });
  await allocate(alice, key.id, 3);
  for (const [path, method, body] of [
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { daily_limit: null }],
    [`/api/v1/api-keys/${key.id}`, 'DELETE', undefined],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { grace_seconds: 60 }],
    [`/api/v1/api-keys/${key.id}/allocate`, 'POST', { amount: 1 }],
    ['/api/v1/api-keys/key_00000000000000000000', 'PATCH', {}],
  ]) {
    const answer = await api(path, { method, headers: as(bob), body });
    assert.deepEqual([answer.status, answer.body.error.code], [404, 'not_found'], `${method} ${path}: ${JSON.stringify(answer.body)}`);
  }
  assert.ok(!(await listKeys(bob)).some((k) => k.id === key.id));
  const mine = (await listKeys(alice)).find((k) => k.id === key.id);
  assert.deepEqual([mine.daily_limit, mine.credits, mine.revoked_at], [7, 3, null]);
  assert.equal((await consume(key.key, 1)).status, 200, 'the key still works with its one secret');
});

test('team keys: members see and use them; only the creator or the team owner changes them (others 403); an ex-member sees nothing (404)', async () => {
  const owner = await signUp(auth, 'olivia.keys@example.com');
  const creator = await signUp(auth, 'tom.keys@example.com');
  const member = await signUp(auth, 'carl.keys@example.com');
  await worker.pool.query(`INSERT INTO teams (id, name, credits, owner_id, created_at, updated_at) VALUES ('team_keys', 'Keys team', 0, $1, now(), now())`, [owner.userId]);
  await worker.pool.query(`UPDATE users SET team_id = 'team_keys' WHERE id = ANY($1)`, [[owner.userId, creator.userId, member.userId]]);
  const granted = await api('/admin/grant', { method: 'POST', headers: admin, body: { team_id: 'team_keys', amount: 100 } });
  assert.equal(granted.status, 200, JSON.stringify(granted.body));

  const key = await createKey(creator, { name: 'team ci', team: true });
  assert.equal(key.team_id, 'team_keys');
  const funded = await allocate(creator, key.id, 40);
  assert.equal(funded.balance, 40);
  const teamCredits = async () => (await worker.pool.query(`SELECT credits FROM teams WHERE id = 'team_keys'`)).rows[0].credits;
  assert.equal(await teamCredits(), 60, 'funded from the team pool');
  assert.equal((await consume(key.key, 5)).status, 200);

  const seen = (await listKeys(member)).find((k) => k.id === key.id);
  assert.ok(seen, 'a current member sees the team key');
  assert.equal(seen.key, undefined);
  for (const [path, method, body] of [
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { daily_limit: 1 }],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', {}],
    [`/api/v1/api-keys/${key.id}`, 'DELETE', undefined],
  ]) {
    const refused = await api(path, { method, headers: as(member), body });
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden'], `${method} ${path}: ${JSON.stringify(refused.body)}`);
  }
  const byCreator = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(creator), body: { daily_limit: 30 } });
  assert.deepEqual([byCreator.status, byCreator.body.daily_limit], [200, 30]);
  const byOwner = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(owner), body: { name: 'team ci (owner)' } });
  assert.deepEqual([byOwner.status, byOwner.body.name, byOwner.body.daily_limit], [200, 'team ci (owner)', 30]);
  const outsider = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(bob), body: { name: 'x' } });
  assert.equal(outsider.status, 404, 'not a member: no such key');

  // The member leaves the team: the key is gone for them, as if it never existed.
  await worker.pool.query('UPDATE users SET team_id = NULL WHERE id = $1', [member.userId]);
  assert.ok(!(await listKeys(member)).some((k) => k.id === key.id), 'an ex-member does not see it');
  const exMember = await api(`/api/v1/api-keys/${key.id}`, { method: 'PATCH', headers: as(member), body: { name: 'x' } });
  assert.deepEqual([exMember.status, exMember.body.error.code], [404, 'not_found']);

  // The owner revokes it: the rest goes back to the team pool, not to a person.
  const creatorPool = await userCredits(creator);
  const revoked = await api(`/api/v1/api-keys/${key.id}`, { method: 'DELETE', headers: as(owner) });
  assert.deepEqual([revoked.status, revoked.body.returned], [200, 35]);
  assert.equal(await teamCredits(), 95);
  assert.equal(await userCredits(creator), creatorPool);
  const noTeam = await api('/api/v1/api-keys', { method: 'POST', headers: as(member), body: { team: true } });
  assert.deepEqual([noTeam.status, noTeam.body.error.code], [403, 'forbidden'], 'a team key needs a team');
});

test('an API key cannot manage keys (403 on every key route, x-api-key or Bearer); its public id is no credential', async () => {
  const key = await createKey(alice, { name: 'no manager' });
  const count = async () => (await worker.pool.query('SELECT count(*)::int AS n FROM api_key_credits')).rows[0].n;
  const rows = await count();
  for (const headers of [{ 'x-api-key': key.key }, { authorization: `Bearer ${key.key}` }]) {
    for (const [path, method, body] of [
      ['/api/v1/api-keys', 'GET', undefined],
      ['/api/v1/api-keys', 'POST', { name: 'minted by a key' }],
      [`/api/v1/api-keys/${key.id}`, 'PATCH', { daily_limit: null }],
      [`/api/v1/api-keys/${key.id}/rotate`, 'POST', {}],
      [`/api/v1/api-keys/${key.id}`, 'DELETE', undefined],
      [`/api/v1/api-keys/${key.id}/allocate`, 'POST', { amount: 1 }],
      ['/api/v1/api-keys/revoke-leaked', 'POST', { keys: [key.key] }],
    ]) {
      const refused = await api(path, { method, headers, body });
      assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden'], `${method} ${path}: ${JSON.stringify(refused.body)}`);
    }
  }
  assert.equal(await count(), rows, 'no key was minted');
  assert.equal((await listKeys(alice)).find((k) => k.id === key.id).revoked_at, null);
  for (const headers of [{ 'x-api-key': key.id }, { authorization: `Bearer ${key.id}` }]) {
    const byId = await api('/api/v1/credits/balance', { headers });
    assert.deepEqual([byId.status, byId.body.error.code], [401, 'unauthenticated']);
  }
});

test('revoke-leaked is the service\'s: a session or key is 403; known secrets are revoked and refunded to their pool, unknown ones ignored', async () => {
  const one = await createKey(alice, { name: 'leak 1' });
  const two = await createKey(alice, { name: 'leak 2' });
  const kept = await createKey(alice, { name: 'not leaked' });
  await allocate(alice, one.id, 10);
  await allocate(alice, two.id, 5);
  const report = { keys: [one.key, two.key, 'fltr_000000000000000000000000000000000000', 'not even a key'] };
  for (const headers of [as(alice), { 'x-api-key': kept.key }]) {
    const refused = await api('/api/v1/api-keys/revoke-leaked', { method: 'POST', headers, body: report });
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden']);
  }
  const anonymous = await api('/api/v1/api-keys/revoke-leaked', { method: 'POST', body: report });
  assert.equal(anonymous.status, 401);
  assert.equal((await consume(one.key, 1)).status, 200, 'refused calls changed nothing');
  const pool = await userCredits(alice);
  const revoked = await api('/api/v1/api-keys/revoke-leaked', { method: 'POST', headers: service, body: report });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.deepEqual(revoked.body, { revoked: 2 });
  assert.doesNotMatch(JSON.stringify(revoked.body), ANY_SECRET);
  assert.equal(await userCredits(alice), pool + 9 + 5, 'allowances back to the pool');
  assert.deepEqual([(await consume(one.key, 1)).status, (await consume(two.key, 1)).status, (await consume(kept.key, 1)).status], [401, 401, 402]);
  const again = await api('/api/v1/api-keys/revoke-leaked', { method: 'POST', headers: service, body: report });
  assert.deepEqual(again.body, { revoked: 0 }, 'already revoked');
  const tooMany = await api('/api/v1/api-keys/revoke-leaked', { method: 'POST', headers: service, body: { keys: Array.from({ length: 101 }, (_, i) => `fltr_${i}`) } });
  assert.deepEqual([tooMany.status, tooMany.body.error.code], [400, 'invalid_request']);
});

test('a secret in a path is 400 whatever the route or method, and never echoed', async () => {
  const key = await createKey(alice, { name: 'pasted' });
  const encoded = `fltr%5F${key.key.slice(5)}`;
  const upper = `FLTR_${key.key.slice(5)}`;
  for (const [path, method, body] of [
    [`/api/v1/api-keys/${key.key}`, 'PATCH', { name: 'x' }],
    [`/api/v1/api-keys/${key.key}`, 'DELETE', undefined],
    [`/api/v1/api-keys/${key.key}`, 'GET', undefined],
    [`/api/v1/api-keys/${key.key}/rotate`, 'POST', {}],
    [`/api/v1/api-keys/${key.key}/allocate`, 'POST', { amount: 1 }],
    [`/api/v1/api-keys/${encoded}`, 'DELETE', undefined],
    [`/api/v1/api-keys/${upper}/rotate`, 'POST', {}],
  ]) {
    for (const headers of [as(alice), {}]) {
      const answer = await api(path, { method, headers, body });
      assert.deepEqual([answer.status, answer.body.error.code], [400, 'invalid_request'], `${method} ${path}: ${JSON.stringify(answer.body)}`);
      const text = JSON.stringify(answer.body);
      assert.ok(!text.includes(key.key.slice(5)), `the secret is not echoed: ${text}`);
      assert.doesNotMatch(text, ANY_SECRET);
    }
  }
  const stranger = await api(`/api/v1/no-such/${key.key}`, { headers: as(alice) });
  assert.equal(stranger.status, 404);
  assert.ok(!JSON.stringify(stranger.body).includes(key.key.slice(5)), 'not in an unknown-route answer either');
  const listed = (await listKeys(alice)).find((k) => k.id === key.id);
  assert.deepEqual([listed.name, listed.revoked_at], ['pasted', null], 'nothing happened to the key');
  assert.equal((await consume(key.key, 1)).status, 402, 'still authenticates (no allowance yet)');
});

test('bad input is 400 with stable codes, and writes nothing', async () => {
  const key = await createKey(alice, { name: 'target' });
  const rows = async () => (await worker.pool.query('SELECT count(*)::int AS n FROM api_key_credits')).rows[0].n;
  const stored = async () => (await worker.pool.query('SELECT name, daily_limit, monthly_limit, expires_at, key_hash FROM api_key_credits WHERE api_key = $1', [key.id])).rows[0];
  const [countBefore, keyBefore] = [await rows(), await stored()];
  const past = new Date(Date.now() - 60_000).toISOString();
  const tooFar = new Date(Date.now() + 11 * 366 * 86_400_000).toISOString();
  const json = { ...as(alice), 'content-type': 'application/json' };
  const cases = [
    ['/api/v1/api-keys', 'POST', { body: { nmae: 'typo' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { daily_limit: -1 } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { monthly_limit: 2147483648 } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { daily_limit: 1.5 } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { daily_limit: '10' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { expires_at: past } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { expires_at: tooFar } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { expires_at: 'next tuesday' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { name: '' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { name: 'n'.repeat(65) } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { name: 'bell\u0007' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { team: 'yes' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { body: { name: 'retry' }, headers: { 'idempotency-key': 'create-1' } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { raw: '{"name": "x"', headers: json }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { raw: '[]', headers: json }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'POST', { raw: '{"name": "x"}', headers: { ...as(alice), 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
    ['/api/v1/api-keys', 'POST', { body: { name: 'x'.repeat(70_000) } }, 413, 'payload_too_large'],
    ['/api/v1/api-keys?limit=5', 'GET', {}, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { body: { grace_seconds: 5 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { body: { daily_limit: -5 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { body: { expires_at: past } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}`, 'PATCH', { body: { team: true } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { body: { grace_seconds: -1 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { body: { grace_seconds: 604801 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { body: { grace_seconds: 1.5 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { body: { grace: 60 } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/rotate`, 'POST', { body: {}, headers: { 'idempotency-key': 'rotate-1' } }, 400, 'invalid_request'],
    [`/api/v1/api-keys/${key.id}/allocate`, 'POST', { body: { amount: 0 } }, 400, 'invalid_amount'],
  ];
  for (const [path, method, { body, raw, headers = {} }, status, code] of cases) {
    const answer = await api(path, { method, body, raw, headers: { ...as(alice), ...headers } });
    assert.deepEqual([answer.status, answer.body?.error?.code], [status, code], `${method} ${path} ${JSON.stringify(body ?? raw)?.slice(0, 80)}: ${JSON.stringify(answer.body)}`);
    assert.ok(answer.body.error.message && answer.body.error.request_id);
  }
  assert.equal(await rows(), countBefore, 'no key was created');
  assert.deepEqual(await stored(), keyBefore, 'the key did not change');
  const withSpaces = await createKey(alice, { name: '  spaced  ', daily_limit: 0, expires_at: null });
  assert.deepEqual([withSpaces.name, withSpaces.daily_limit], ['spaced', 0], 'a name is trimmed; 0 is a limit');
  assert.equal((await consume(withSpaces.key, 1)).status, 402, 'no allowance yet');
});

test('CORS: a preflight for PATCH and DELETE on a key is allowed for CORS_ORIGINS', async () => {
  for (const method of ['PATCH', 'DELETE']) {
    const preflight = await fetch(`${worker.base}/api/v1/api-keys/key_00000000000000000000`, {
      method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.ok(preflight.headers.get('access-control-allow-methods').split(',').map((m) => m.trim()).includes(method));
  }
});

test('rotating while the old secret is in use: inside the grace it charges, after it nothing does; balance == Σ ledger', { timeout: 60_000 }, async (t) => {
  const key = await createKey(alice, { name: 'busy' });
  await allocate(alice, key.id, 600);
  const results = [];
  let stop = false;
  let fresh = null;
  let sequence = 0;
  // Clients in parallel, each sending its next consume as soon as the last one is answered: six
  // with the old secret throughout, two with the new one once it exists.
  const client = async (which) => {
    while (!stop) {
      const secret = which === 'old' ? key.key : fresh;
      if (!secret) { await sleep(10); continue; }
      sequence += 1;
      const resourceId = `${which}-${sequence}`;
      const sentAt = Date.now();
      const answer = await consume(secret, 1, { resourceId, bearer: sequence % 2 === 0 });
      results.push({ which, resourceId, sentAt, receivedAt: Date.now(), status: answer.status, code: answer.body?.error?.code, transaction: answer.body?.transaction_id });
    }
  };
  const loops = [...Array.from({ length: 6 }, () => client('old')), ...Array.from({ length: 2 }, () => client('new'))];
  await sleep(500);
  const rotatedAt = Date.now();
  const rotated = await api(`/api/v1/api-keys/${key.id}/rotate`, { method: 'POST', headers: as(alice), body: { grace_seconds: 1 } });
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  shown.add(rotated.body.key);
  fresh = rotated.body.key;
  const { rows: [row] } = await worker.pool.query('SELECT previous_key_expires_at FROM api_key_credits WHERE api_key = $1', [key.id]);
  const graceEnd = row.previous_key_expires_at.getTime();
  while (Date.now() < graceEnd + 1500) await sleep(50);
  stop = true;
  await Promise.all(loops);

  const old = results.filter((r) => r.which === 'old');
  const unexpected = results.filter((r) => !(r.status === 200 || (r.which === 'old' && r.status === 401 && r.code === 'unauthenticated')));
  assert.deepEqual(unexpected, [], 'only successes, and 401 for the old secret');
  assert.ok(results.filter((r) => r.which === 'new').every((r) => r.status === 200), 'the new secret always works');
  const inGrace = old.filter((r) => r.status === 200 && r.sentAt > rotatedAt + 50);
  assert.ok(inGrace.length > 0, 'the old secret charged inside its grace');
  // Answered before the grace ended: the Worker saw the request inside it, so it was served.
  const early = old.filter((r) => r.receivedAt < graceEnd);
  assert.ok(early.length > 0);
  assert.deepEqual(early.filter((r) => r.status !== 200), [], 'the old secret works until the grace ends');
  // Sent after the grace ended: refused, every one.
  const late = old.filter((r) => r.sentAt > graceEnd + 20);
  assert.ok(late.length > 0, 'requests were sent after the grace ended');
  assert.deepEqual(late.filter((r) => r.status !== 401), [], 'nothing charged through the old secret after the grace');

  // The ledger agrees: every old-secret charge is stamped inside the grace, one row per success.
  const { rows: ledger } = await worker.pool.query(
    `SELECT id, resource_id, created_at FROM credit_transactions WHERE api_key_id = $1 AND type = 'usage'`, [key.id]);
  const succeeded = results.filter((r) => r.status === 200);
  assert.equal(ledger.length, succeeded.length, 'one usage row per 200');
  assert.deepEqual(new Set(ledger.map((r) => r.id)), new Set(succeeded.map((r) => r.transaction)));
  const oldRows = ledger.filter((r) => r.resource_id.startsWith('old-'));
  assert.equal(oldRows.length, old.filter((r) => r.status === 200).length);
  const afterGrace = oldRows.filter((r) => r.created_at.getTime() >= graceEnd);
  assert.deepEqual(afterGrace, [], 'no old-secret charge is stamped at or after the grace end');
  assert.deepEqual(await keyLedger(key.id), { credits: 600 - succeeded.length, ledger: 600 - succeeded.length });
  const balance = await api('/api/v1/credits/balance', { headers: { 'x-api-key': fresh } });
  assert.equal(balance.body.api_key.credits, 600 - succeeded.length);
  t.diagnostic(`${results.length} consumes: old secret ${old.filter((r) => r.status === 200).length} charged (${inGrace.length} inside the grace), ${old.filter((r) => r.status === 401).length} refused (${late.length} sent after it); new secret ${succeeded.length - oldRows.length} charged`);
});
