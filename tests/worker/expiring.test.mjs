// Expiring credits through the real Worker (wrangler dev + Hyperdrive + Postgres) with real
// better-auth sessions (API.md "Expiring credits"): a grant with `expires_at` is spent before
// later and never-expiring credits, a session's balance lists what expires, the deadline needs no
// job (the next read no longer counts the block; the next debit writes its `expiration` row), the
// cron trigger's sweep (wrangler dev --test-scheduled) writes the rows nobody else did, a key
// funded from expiring credits carries their deadline and a revoke gives them back as such.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, makeAuth, signUp, call, runCron, logged, SECRETS } from './harness.mjs';

let worker, auth, alice, bob;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const as = (session) => ({ authorization: `Bearer ${session.token}` });
const api = (path, options) => call(worker.base, path, options);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function grant(body, status = 200) {
  const granted = await api('/admin/grant', { method: 'POST', headers: admin, body });
  assert.equal(granted.status, status, JSON.stringify(granted.body));
  return granted.body;
}
async function balance(headers) {
  const answer = await api('/api/v1/credits/balance', { headers });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}
async function consume(headers, amount, status = 200) {
  const answer = await api('/api/v1/credits/consume', { method: 'POST', headers, body: { amount, operation: 'document.process' } });
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
}
async function expirations(userId) {
  const { rows } = await worker.pool.query(
    "SELECT resource_id, amount FROM credit_transactions WHERE user_id = $1 AND type = 'expiration' ORDER BY created_at",
    [userId],
  );
  return rows.map((r) => [r.resource_id, r.amount]);
}

before(async () => {
  worker = await startWorker('expiring', { scheduled: true, logLevel: 'log' });
  auth = await makeAuth(worker.pool);
  alice = await signUp(auth, 'alice.expiring@example.com');
  bob = await signUp(auth, 'bob.expiring@example.com');
});

after(async () => {
  try {
    if (worker) {
      const reconcile = await api('/admin/reconcile', { headers: admin });
      assert.equal(reconcile.status, 200, JSON.stringify(reconcile.body));
      assert.deepEqual(reconcile.body.drift, [], 'every balance equals its ledger');
      assert.deepEqual(reconcile.body.blocks, [], 'every block equals the ledger\'s record of it');
    }
  } finally {
    await worker?.stop();
  }
});

test('soonest-expiring credits go first; at the deadline the rest stops counting by itself, and one expiration row records it', async () => {
  await grant({ user_id: alice.userId, amount: 100 });
  const tomorrow = iso(Date.now() + 86_400_000);
  const soonMs = Date.now() + 4000;
  const soon = await grant({ user_id: alice.userId, amount: 50, expires_at: iso(soonMs) });
  assert.equal(soon.expires_at, iso(soonMs));
  const later = await grant({ user_id: alice.userId, amount: 30, expires_at: tomorrow });

  const spent = await consume(as(alice), 20);
  assert.deepEqual([spent.balance, spent.available], [160, 160]);
  const { user } = await balance(as(alice));
  assert.deepEqual(user.expiring, [{ amount: 30, expires_at: iso(soonMs) }, { amount: 30, expires_at: tomorrow }]);

  while (Date.now() < soonMs + 200) await sleep(100);
  const after = (await balance(as(alice))).user;
  assert.deepEqual([after.credits, after.available, after.expiring], [130, 130, [{ amount: 30, expires_at: tomorrow }]]);
  assert.deepEqual(await expirations(alice.userId), [], 'no row yet: no operation has run on the account');

  // The next debit writes it, once, then spends tomorrow's block.
  const next = await consume(as(alice), 10);
  assert.equal(next.balance, 120);
  assert.deepEqual(await expirations(alice.userId), [[soon.transaction_id, -30]]);
  assert.deepEqual((await balance(as(alice))).user.expiring, [{ amount: 20, expires_at: tomorrow }]);
  assert.ok(later.transaction_id);
});

test('a grant already expired is 400 invalid_request', async () => {
  const refused = await api('/admin/grant', {
    method: 'POST', headers: admin, body: { user_id: bob.userId, amount: 5, expires_at: iso(Date.now() - 1000) },
  });
  assert.deepEqual([refused.status, refused.body.error.code], [400, 'invalid_request']);
});

test("a key funded from expiring credits carries their deadline; revoking it gives them back as expiring credits", async () => {
  const week = iso(Date.now() + 7 * 86_400_000);
  await grant({ user_id: bob.userId, amount: 40, expires_at: week });
  await grant({ user_id: bob.userId, amount: 10 });
  const made = await api('/api/v1/api-keys', { method: 'POST', headers: as(bob), body: { name: 'ci' } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const allocated = await api(`/api/v1/api-keys/${made.body.id}/allocate`, { method: 'POST', headers: as(bob), body: { amount: 45 } });
  assert.equal(allocated.status, 200, JSON.stringify(allocated.body));
  const funded = await balance(as(bob));
  assert.deepEqual(funded.user.expiring, []);
  const key = funded.api_keys.find((k) => k.id === made.body.id);
  assert.deepEqual([key.credits, key.expiring], [45, [{ amount: 40, expires_at: week }]]);

  await consume({ 'x-api-key': made.body.key }, 5);
  const revoked = await api(`/api/v1/api-keys/${made.body.id}`, { method: 'DELETE', headers: as(bob) });
  assert.deepEqual([revoked.status, revoked.body.returned], [200, 40]);
  const back = (await balance(as(bob))).user;
  assert.deepEqual([back.credits, back.expiring], [45, [{ amount: 35, expires_at: week }]]);
});

test("the cron trigger's sweep writes the expiration rows nobody else did", async () => {
  const carol = await signUp(auth, 'carol.expiring@example.com');
  const soonMs = Date.now() + 3000;
  const block = await grant({ user_id: carol.userId, amount: 25, expires_at: iso(soonMs) });
  while (Date.now() < soonMs + 200) await sleep(100);
  await runCron(worker);
  const output = await logged(worker, /sweep expired \d+ holds and \d+ blocks/);
  const [, blocks] = output.match(/sweep expired \d+ holds and (\d+) blocks on \d+ accounts/);
  assert.ok(Number(blocks) >= 1, output);
  assert.deepEqual(await expirations(carol.userId), [[block.transaction_id, -25]]);
  assert.equal((await balance(as(carol))).user.credits, 0);
  await runCron(worker);
  assert.deepEqual(await expirations(carol.userId), [[block.transaction_id, -25]], 'exactly once');
});
