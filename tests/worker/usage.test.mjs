// GET /api/v1/credits/usage through the real Worker (wrangler dev + Hyperdrive + Postgres) with
// real better-auth sessions: usage net of refunds grouped by day, operation or key, for the
// signed-in user, an API key, and a user, team or key the service names. Each usage row is moved
// to a fixed UTC instant after it is made, so the days do not depend on when the test runs; every
// answer is compared with a query of the ledger.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, makeAuth, signUp, call, SECRETS } from './harness.mjs';

let worker, alice, bob, key;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const service = { authorization: `Bearer ${SECRETS.SERVICE_TOKEN}` };
const as = (session) => ({ authorization: `Bearer ${session.token}` });
const api = (path, options) => call(worker.base, path, options);
const usage = (query, headers) => api(`/api/v1/credits/usage?${query}`, { headers });
const NOVEMBER = 'from=2026-11-01&to=2026-12-01';

async function ok(answer, status = 200) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
}

/** A consume made now, then moved to `at` (UTC). Returns its ledger id. */
async function spend(headers, amount, operation, at) {
  const body = await ok(await api('/api/v1/credits/consume', { method: 'POST', headers, body: { amount, operation } }));
  await worker.pool.query('UPDATE credit_transactions SET created_at = $2::timestamp WHERE id = $1', [body.transaction_id, at]);
  return body.transaction_id;
}

/** The ledger's own answer: usage rows in [from, to) for `where`, less their refunds, by `group`. */
async function ledger(where, params, group, from = '2026-11-01', to = '2026-12-01') {
  const { rows } = await worker.pool.query(
    `SELECT ${group} AS g, -sum(u.amount + coalesce(r.amount, 0))::int AS amount, count(*) FILTER (WHERE r.id IS NULL)::int AS count
     FROM credit_transactions u LEFT JOIN credit_transactions r ON r.id = 'refund_' || u.id
     WHERE u.type = 'usage' AND ${where} AND u.created_at >= $${params.length + 1}::timestamp AND u.created_at < $${params.length + 2}::timestamp
     GROUP BY 1 HAVING count(*) FILTER (WHERE r.id IS NULL) > 0 ORDER BY 1`,
    [...params, from, to],
  );
  return rows.map((row) => [row.g, row.amount, row.count]);
}

before(async () => {
  worker = await startWorker('usage');
  const auth = await makeAuth(worker.pool);
  alice = await signUp(auth, 'alice.usage@example.com');
  bob = await signUp(auth, 'bob.usage@example.com');
  await ok(await api('/admin/grant', { method: 'POST', headers: admin, body: { user_id: alice.userId, amount: 1000 } }));
  key = await ok(await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { name: 'usage' } }), 201);
  await ok(await api(`/api/v1/api-keys/${key.id}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 100 } }));

  // Alice's month: two days of documents, an image refunded a month later, usage through her key,
  // and a day in October (outside the range) whose refund comes in November.
  await spend(as(alice), 5, 'document.process', '2026-11-03 00:00:00');
  await spend(as(alice), 4, 'document.process', '2026-11-03 23:59:59.999999');
  const image = await spend(as(alice), 3, 'image.render', '2026-11-03 12:00:00');
  await spend(as(alice), 6, 'image.render', '2026-11-04 08:00:00');
  await spend({ 'x-api-key': key.key }, 7, 'document.process', '2026-11-04 09:00:00');
  await spend({ 'x-api-key': key.key }, 2, 'document.process', '2026-11-30 23:59:59');
  const october = await spend(as(alice), 11, 'document.process', '2026-10-31 23:59:59.999999');
  await spend(as(alice), 13, 'document.process', '2026-12-01 00:00:00');
  for (const id of [image, october]) {
    await ok(await api('/api/v1/credits/refund', { method: 'POST', headers: service, body: { transaction_id: id } }));
  }
  // A grant, an allocation and a refund are in the ledger too; none of them is usage.
  assert.ok(Number((await worker.pool.query("SELECT count(*) FROM credit_transactions WHERE user_id = $1 AND type <> 'usage'", [alice.userId])).rows[0].count) >= 4);

  // A team pool, spent by bob as a member.
  await worker.pool.query(`INSERT INTO teams (id, name, credits, owner_id, created_at, updated_at) VALUES ('team_usage', 'Usage team', 0, $1, now(), now())`, [bob.userId]);
  await worker.pool.query("UPDATE users SET team_id = 'team_usage' WHERE id = $1", [bob.userId]);
  await ok(await api('/admin/grant', { method: 'POST', headers: admin, body: { team_id: 'team_usage', amount: 50 } }));
  await spend(as(bob), 8, 'document.process', '2026-11-10 10:00:00');
});

after(async () => {
  try {
    if (worker) {
      const reconcile = await ok(await api('/admin/reconcile', { headers: admin }));
      assert.deepEqual(reconcile.drift, [], 'every balance equals its ledger');
    }
  } finally {
    await worker?.stop();
  }
});

test('a signed-in user sees their usage by UTC day, net of refunds counted on the usage\'s own day', async () => {
  const body = await ok(await usage(NOVEMBER, as(alice)));
  assert.deepEqual(body, {
    from: '2026-11-01', to: '2026-12-01', group_by: ['day'],
    usage: [
      { day: '2026-11-03', amount: 9, count: 2 },
      { day: '2026-11-04', amount: 13, count: 2 },
      { day: '2026-11-30', amount: 2, count: 1 },
    ],
  });
  const expected = await ledger('u.user_id = $1', [alice.userId], "to_char(u.created_at, 'YYYY-MM-DD')");
  assert.deepEqual(body.usage.map((row) => [row.day, row.amount, row.count]), expected);
  // `to` is excluded and `from` included, to the microsecond.
  const oneDay = await ok(await usage('from=2026-11-03&to=2026-11-04', as(alice)));
  assert.deepEqual(oneDay.usage, [{ day: '2026-11-03', amount: 9, count: 2 }]);
  const december = await ok(await usage('from=2026-12-01&to=2026-12-02', as(alice)));
  assert.deepEqual(december.usage, [{ day: '2026-12-01', amount: 13, count: 1 }]);
  // October's usage was refunded in November: the refund stays with October, where it nets to nothing.
  const october = await ok(await usage('from=2026-10-01&to=2026-11-01', as(alice)));
  assert.deepEqual(october.usage, []);
});

test('grouped by operation and by key (public id, null for no key), and by several at once', async () => {
  const byOperation = await ok(await usage(`${NOVEMBER}&group_by=operation`, as(alice)));
  assert.deepEqual(byOperation.usage, [
    { operation: 'document.process', amount: 18, count: 4 },
    { operation: 'image.render', amount: 6, count: 1 },
  ]);
  assert.deepEqual(byOperation.usage.map((row) => [row.operation, row.amount, row.count]), await ledger('u.user_id = $1', [alice.userId], 'u.operation'));
  const byKey = await ok(await usage(`${NOVEMBER}&group_by=api_key`, as(alice)));
  assert.deepEqual(byKey.usage, [{ api_key_id: key.id, amount: 9, count: 2 }, { api_key_id: null, amount: 15, count: 3 }]);
  const both = await ok(await usage(`${NOVEMBER}&group_by=operation,day`, as(alice)));
  assert.deepEqual(both.group_by, ['day', 'operation']);
  assert.deepEqual(both.usage, [
    { day: '2026-11-03', operation: 'document.process', amount: 9, count: 2 },
    { day: '2026-11-04', operation: 'document.process', amount: 7, count: 1 },
    { day: '2026-11-04', operation: 'image.render', amount: 6, count: 1 },
    { day: '2026-11-30', operation: 'document.process', amount: 2, count: 1 },
  ]);
});

test('an API key sees its own usage; the service names a user, a team or a key', async () => {
  const asKey = await ok(await usage(NOVEMBER, { 'x-api-key': key.key }));
  assert.deepEqual(asKey.usage, [{ day: '2026-11-04', amount: 7, count: 1 }, { day: '2026-11-30', amount: 2, count: 1 }]);
  assert.deepEqual(await ok(await usage(`${NOVEMBER}&api_key_id=${key.id}`, service)), asKey);
  assert.deepEqual(await ok(await usage(`${NOVEMBER}&user_id=${alice.userId}`, service)), await ok(await usage(NOVEMBER, as(alice))));
  const team = await ok(await usage(`${NOVEMBER}&team_id=team_usage&group_by=operation`, service));
  assert.deepEqual(team.usage, [{ operation: 'document.process', amount: 8, count: 1 }]);
  assert.deepEqual(team.usage.map((row) => [row.operation, row.amount, row.count]), await ledger("u.team_id = 'team_usage'", [], 'u.operation'));
  // Bob sees his own team-pool usage; alice sees none of it.
  assert.deepEqual((await ok(await usage(NOVEMBER, as(bob)))).usage, [{ day: '2026-11-10', amount: 8, count: 1 }]);
  const empty = await ok(await usage(`${NOVEMBER}&user_id=nobody`, service));
  assert.deepEqual(empty.usage, []);
});

test('an end user naming an account is 403; bad ranges and groupings are 400 invalid_request; no credential is 401', async () => {
  for (const query of [`${NOVEMBER}&user_id=${bob.userId}`, `${NOVEMBER}&team_id=team_usage`]) {
    const answer = await usage(query, as(alice));
    assert.deepEqual([answer.status, answer.body.error.code], [403, 'forbidden'], query);
  }
  for (const query of [
    'to=2026-12-01', 'from=2026-11-01', 'from=2026-11-01&to=2026-11-01', 'from=2026-12-01&to=2026-11-01',
    'from=2025-01-01&to=2026-01-03', 'from=2026-11-01T00:00:00Z&to=2026-12-01', 'from=2026-02-29&to=2026-03-01',
    `${NOVEMBER}&group_by=week`, `${NOVEMBER}&group_by=day,%20operation`, `${NOVEMBER}&limit=5`,
  ]) {
    const answer = await usage(query, as(alice));
    assert.deepEqual([answer.status, answer.body.error.code], [400, 'invalid_request'], `${query}: ${JSON.stringify(answer.body)}`);
  }
  const leap = await usage('from=2024-01-01&to=2025-01-01', as(alice));
  assert.equal(leap.status, 200, 'a leap year is 366 days');
  const anonymous = await usage(NOVEMBER, {});
  assert.equal(anonymous.status, 401);
  // Reading usage writes nothing.
  const { rows } = await worker.pool.query('SELECT credits FROM users WHERE id = $1', [alice.userId]);
  assert.equal(rows[0].credits, 1000 - 100 - 5 - 4 - 6 - 13);
});
