// Holds through the real Worker (wrangler dev + Hyperdrive + Postgres) with real better-auth
// sessions and API keys (API.md "Holds"): open, read, capture and release through a session, an
// API key and the service; who may do what (release is the service's, another user's hold is 404,
// an ex-member cannot capture a team hold); idempotent replays; a hold past its deadline stops
// counting by itself, without any sweep; and the cron trigger's sweep (wrangler dev
// --test-scheduled) tidies what expired.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, makeAuth, signUp, call, runCron, logged, SECRETS } from './harness.mjs';

let worker, auth, alice, bob;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const service = { authorization: `Bearer ${SECRETS.SERVICE_TOKEN}` };
const as = (session) => ({ authorization: `Bearer ${session.token}` });
const api = (path, options) => call(worker.base, path, options);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HOLD_ID = /^hold_[0-9a-f]{32}$/;
const OPERATION = 'document.process';

/** POST /api/v1/credits/holds; asserts the status (201 by default) and returns the answer. */
async function hold(headers, body, status = 201) {
  const made = await api('/api/v1/credits/holds', { method: 'POST', headers, body: { operation: OPERATION, ...body } });
  assert.equal(made.status, status, JSON.stringify(made.body));
  return made;
}
const capture = (headers, id, body = {}) => api(`/api/v1/credits/holds/${id}/capture`, { method: 'POST', headers, body });
const release = (headers, id) => api(`/api/v1/credits/holds/${id}/release`, { method: 'POST', headers, body: {} });
const read = (headers, id) => api(`/api/v1/credits/holds/${id}`, { headers });
const balance = async (headers) => {
  const answer = await api('/api/v1/credits/balance', { headers });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
};
const refusal = (answer) => [answer.status, answer.body?.error?.code];

/** A hold's row as stored, and its account's stored `held_credits`. */
async function stored(id) {
  const { rows: [row] } = await worker.pool.query(
    `SELECT h.state, h.captured, h.amount, h.closed_at,
       CASE h.account_kind WHEN 'user' THEN (SELECT held_credits FROM users WHERE id = h.account_id)
         WHEN 'team' THEN (SELECT held_credits FROM teams WHERE id = h.account_id)
         ELSE (SELECT held_credits FROM api_key_credits WHERE api_key = h.account_id) END AS held
     FROM credit_holds h WHERE h.id = $1`,
    [id],
  );
  return row;
}



before(async () => {
  worker = await startWorker('holds', { scheduled: true, logLevel: 'log' });
  auth = await makeAuth(worker.pool);
  alice = await signUp(auth, 'alice.holds@example.com');
  bob = await signUp(auth, 'bob.holds@example.com');
  for (const user of [alice, bob]) {
    const granted = await api('/admin/grant', { method: 'POST', headers: admin, body: { user_id: user.userId, amount: 1000 } });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
  }
});

after(async () => {
  try {
    if (worker) {
      const reconcile = await api('/admin/reconcile', { headers: admin });
      assert.equal(reconcile.status, 200, JSON.stringify(reconcile.body));
      assert.deepEqual(reconcile.body.drift, [], 'every balance equals its ledger');
      assert.deepEqual(reconcile.body.holds, [], 'every held total equals its active holds');
    }
  } finally {
    await worker?.stop();
  }
});

test('a session holds, reads and captures part: one usage row of what was captured, the rest back; a second capture is 409 hold_closed', async () => {
  const start = (await balance(as(alice))).user;
  const made = await hold(as(alice), { amount: 50, resource_id: 'doc_1', metadata: { pages: 12 }, ttl_seconds: 600 });
  const opened = made.body;
  assert.match(opened.hold_id, HOLD_ID);
  assert.deepEqual(
    [opened.ok, opened.replayed, opened.charged, opened.amount, opened.balance, opened.available, opened.limits],
    [true, false, { kind: 'user', id: alice.userId }, 50, start.credits, start.available - 50, undefined],
  );
  const ttl = Date.parse(opened.expires_at) - Date.now();
  assert.ok(ttl > 590_000 && ttl <= 600_000, `expires_at ${opened.expires_at} is ttl_seconds from now`);
  assert.equal(made.headers.get('idempotent-replayed'), null);

  const held = (await balance(as(alice))).user;
  assert.deepEqual([held.credits, held.available], [start.credits, start.available - 50], 'a hold never changes the balance');

  const active = await read(as(alice), opened.hold_id);
  assert.equal(active.status, 200, JSON.stringify(active.body));
  assert.deepEqual(active.body, {
    hold_id: opened.hold_id, state: 'active', amount: 50, captured: null, expires_at: opened.expires_at,
    charged: { kind: 'user', id: alice.userId }, operation: OPERATION, resource_id: 'doc_1', transaction_id: null,
    created_at: active.body.created_at, closed_at: null,
  });

  const tooMuch = await capture(as(alice), opened.hold_id, { amount: 51 });
  assert.deepEqual(refusal(tooMuch), [400, 'invalid_amount'], 'more than held');
  const negative = await capture(as(alice), opened.hold_id, { amount: -1 });
  assert.deepEqual(refusal(negative), [400, 'invalid_amount']);

  const captured = await capture(as(alice), opened.hold_id, { amount: 42 });
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  assert.ok(captured.body.transaction_id);
  assert.deepEqual(
    [captured.body.ok, captured.body.hold_id, captured.body.replayed, captured.body.charged, captured.body.amount, captured.body.released],
    [true, opened.hold_id, false, { kind: 'user', id: alice.userId }, 42, 8],
  );
  assert.deepEqual([captured.body.balance, captured.body.available], [start.credits - 42, start.available - 42]);
  const { rows: ledger } = await worker.pool.query(
    'SELECT amount, type, operation, resource_id FROM credit_transactions WHERE id = $1', [captured.body.transaction_id],
  );
  assert.deepEqual(ledger, [{ amount: -42, type: 'usage', operation: OPERATION, resource_id: 'doc_1' }]);

  const closed = await read(as(alice), opened.hold_id);
  assert.deepEqual(
    [closed.body.state, closed.body.captured, closed.body.transaction_id, Boolean(closed.body.closed_at)],
    ['captured', 42, captured.body.transaction_id, true],
  );
  const again = await capture(as(alice), opened.hold_id);
  assert.deepEqual(refusal(again), [409, 'hold_closed']);
  assert.equal(again.body.error.state, 'captured');
  const releasedLate = await release(service, opened.hold_id);
  assert.deepEqual([...refusal(releasedLate), releasedLate.body.error.state], [409, 'hold_closed', 'captured']);
  const row = await stored(opened.hold_id);
  assert.deepEqual([row.state, row.captured, row.amount, row.held], ['captured', 42, 50, 0]);
});

test('release is the service\'s: a session is 403 and the hold stays active; the service releases it all', async () => {
  const start = (await balance(as(alice))).user;
  const opened = (await hold(as(alice), { amount: 30 })).body;
  const ttl = Date.parse(opened.expires_at) - Date.now();
  assert.ok(ttl > 890_000 && ttl <= 900_000, 'ttl_seconds defaults to 900');
  const refused = await release(as(alice), opened.hold_id);
  assert.deepEqual(refusal(refused), [403, 'forbidden']);
  assert.equal((await read(as(alice), opened.hold_id)).body.state, 'active');

  const released = await release(service, opened.hold_id);
  assert.equal(released.status, 200, JSON.stringify(released.body));
  assert.equal(released.body.transaction_id, undefined, 'a release writes no ledger row');
  assert.deepEqual(
    [released.body.ok, released.body.hold_id, released.body.amount, released.body.released, released.body.balance, released.body.available],
    [true, opened.hold_id, 0, 30, start.credits, start.available],
  );
  const read2 = await read(service, opened.hold_id);
  assert.deepEqual([read2.status, read2.body.state, read2.body.captured], [200, 'released', 0]);
  const captureReleased = await capture(as(alice), opened.hold_id);
  assert.deepEqual([...refusal(captureReleased), captureReleased.body.error.state], [409, 'hold_closed', 'released']);
  const twice = await release(service, opened.hold_id);
  assert.deepEqual([...refusal(twice), twice.body.error.state], [409, 'hold_closed', 'released']);
  assert.equal((await balance(as(alice))).user.available, start.available);
});

test('another user\'s hold is 404 to read and capture; the service may read and capture it', async () => {
  const opened = (await hold(as(alice), { amount: 10 })).body;
  for (const answer of [await read(as(bob), opened.hold_id), await capture(as(bob), opened.hold_id, { amount: 1 })]) {
    assert.deepEqual(refusal(answer), [404, 'not_found'], JSON.stringify(answer.body));
  }
  assert.deepEqual(refusal(await read(as(bob), 'hold_00000000000000000000000000000000')), [404, 'not_found'], 'as one that does not exist');
  assert.deepEqual(refusal(await read(as(alice), 'not-a-hold-id')), [404, 'not_found']);
  assert.equal((await read(as(alice), opened.hold_id)).body.state, 'active', 'bob changed nothing');
  const seen = await read(service, opened.hold_id);
  assert.deepEqual([seen.status, seen.body.charged], [200, { kind: 'user', id: alice.userId }]);
  const captured = await capture(service, opened.hold_id, { amount: 0 });
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  assert.deepEqual([captured.body.amount, captured.body.released, captured.body.transaction_id], [0, 10, undefined], 'a capture of 0 writes no row');
  assert.equal((await read(as(alice), opened.hold_id)).body.state, 'captured');
});

test('the service opens a hold for a named account (its own to close); a session naming one is 403; a hold over available is 402 with available', async () => {
  const named = await hold(service, { amount: 20, user_id: bob.userId });
  assert.deepEqual(named.body.charged, { kind: 'user', id: bob.userId });
  // A hold the service opened is the service's to close: bob capturing it at 0 would decide his
  // own cost. To him it is another's hold (404), though it is on his account.
  assert.deepEqual(refusal(await read(as(bob), named.body.hold_id)), [404, 'not_found']);
  assert.deepEqual(refusal(await capture(as(bob), named.body.hold_id, { amount: 0 })), [404, 'not_found']);
  const none = await hold(service, { amount: 1 }, 400);
  assert.equal(none.body.error.code, 'invalid_request');
  const forbidden = await hold(as(alice), { amount: 1, user_id: bob.userId }, 403);
  assert.equal(forbidden.body.error.code, 'forbidden');
  for (const ttl of [0, 86_401, 1.5, '60']) {
    const bad = await hold(as(bob), { amount: 1, ttl_seconds: ttl }, 400);
    assert.equal(bad.body.error.code, 'invalid_request', `ttl_seconds ${JSON.stringify(ttl)}`);
  }
  const { available, credits } = (await balance(as(bob))).user;
  assert.equal(available, credits - 20);
  const over = await hold(as(bob), { amount: available + 1 }, 402);
  assert.deepEqual(
    [over.body.error.code, over.body.error.balance, over.body.error.available, over.body.error.required],
    ['insufficient_credits', credits, available, available + 1],
  );
  const consume = await api('/api/v1/credits/consume', { method: 'POST', headers: as(bob), body: { amount: available + 1, operation: OPERATION } });
  assert.deepEqual(refusal(consume), [402, 'insufficient_credits'], 'the held 20 cannot be consumed either');
  const exact = await hold(as(bob), { amount: available });
  assert.equal(exact.body.available, 0);
  for (const id of [named.body.hold_id, exact.body.hold_id]) assert.equal((await release(service, id)).status, 200);
  assert.equal((await balance(as(bob))).user.available, credits);
});

test('idempotent: the same open and the same capture are replayed (200, Idempotent-Replayed, same ids); another body is 409', async () => {
  const key = { ...as(alice), 'idempotency-key': 'holds-open-1' };
  const first = await hold(key, { amount: 7 });
  const replay = await hold(key, { amount: 7 }, 200);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual([replay.body.hold_id, replay.body.replayed], [first.body.hold_id, true]);
  const { rows: [{ n }] } = await worker.pool.query('SELECT count(*)::int AS n FROM credit_holds WHERE user_id = $1 AND amount = 7', [alice.userId]);
  assert.equal(n, 1, 'one hold');
  const conflict = await hold(key, { amount: 8 }, 409);
  assert.equal(conflict.body.error.code, 'idempotency_conflict');

  const captureKey = { ...as(alice), 'idempotency-key': 'holds-capture-1' };
  const captured = await capture(captureKey, first.body.hold_id, { amount: 5 });
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  assert.equal(captured.headers.get('idempotent-replayed'), null);
  const again = await capture(captureKey, first.body.hold_id, { amount: 5 });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(
    [again.body.transaction_id, again.body.replayed, again.body.amount, again.body.released],
    [captured.body.transaction_id, true, 5, 2],
  );
  const { rows } = await worker.pool.query('SELECT id FROM credit_transactions WHERE id = $1 OR (user_id = $2 AND amount = -5)', [captured.body.transaction_id, alice.userId]);
  assert.equal(rows.length, 1, 'one usage row');
  const changed = await capture(captureKey, first.body.hold_id, { amount: 6 });
  assert.deepEqual(refusal(changed), [409, 'idempotency_conflict']);
  const unkeyed = await capture(as(alice), first.body.hold_id, { amount: 5 });
  assert.deepEqual([...refusal(unkeyed), unkeyed.body.error.state], [409, 'hold_closed', 'captured'], 'without the key it is a second capture');
});

test('through an API key: the hold counts against the key\'s window at once; the key captures; the window keeps only what was captured', async () => {
  const created = await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { name: 'holds', daily_limit: 100 } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const key = created.body;
  const funded = await api(`/api/v1/api-keys/${key.id}/allocate`, { method: 'POST', headers: as(alice), body: { amount: 200 } });
  assert.equal(funded.status, 200, JSON.stringify(funded.body));
  const byKey = { 'x-api-key': key.key };

  const made = await hold(byKey, { amount: 60 });
  assert.deepEqual([made.body.charged, made.body.balance, made.body.available], [{ kind: 'api_key', id: key.id }, 200, 140]);
  assert.deepEqual([made.body.limits.daily.used, made.body.limits.daily.remaining], [60, 40]);
  assert.equal(made.headers.get('x-ratelimit-remaining'), '40');
  const limited = await hold(byKey, { amount: 41 }, 429);
  assert.equal(limited.body.error.code, 'daily_limit_exceeded');
  assert.ok(Number(limited.headers.get('retry-after')) > 0);

  const keyBalance = (await balance(byKey)).api_key;
  assert.deepEqual([keyBalance.credits, keyBalance.available, keyBalance.limits.daily.used], [200, 140, 60]);
  const seen = await read(byKey, made.body.hold_id);
  assert.deepEqual([seen.status, seen.body.state, seen.body.charged.id], [200, 'active', key.id]);
  const bearer = await read({ authorization: `Bearer ${key.key}` }, made.body.hold_id);
  assert.equal(bearer.status, 200, 'as Bearer too');
  assert.deepEqual(refusal(await release(byKey, made.body.hold_id)), [403, 'forbidden'], 'an API key cannot release either');

  const captured = await capture(byKey, made.body.hold_id, { amount: 25 });
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  assert.deepEqual(
    [captured.body.amount, captured.body.released, captured.body.balance, captured.body.available, captured.body.limits.daily.used],
    [25, 35, 175, 175, 25],
  );
  assert.equal(captured.headers.get('x-ratelimit-remaining'), '75');
  const { rows: [row] } = await worker.pool.query('SELECT amount, api_key_id FROM credit_transactions WHERE id = $1', [captured.body.transaction_id]);
  assert.deepEqual(row, { amount: -25, api_key_id: key.id });

  // Another key of the same user did not make it: not its hold.
  const other = await api('/api/v1/api-keys', { method: 'POST', headers: as(alice), body: { name: 'other' } });
  assert.equal(other.status, 201);
  const byOther = { 'x-api-key': other.body.key };
  const second = await hold(byKey, { amount: 10 });
  assert.deepEqual(refusal(await read(byOther, second.body.hold_id)), [404, 'not_found']);
  assert.deepEqual(refusal(await capture(byOther, second.body.hold_id)), [404, 'not_found']);
  const all = await capture(byKey, second.body.hold_id);
  assert.deepEqual([all.status, all.body.amount, all.body.released], [200, 10, 0], 'no amount: all of it');
});

test('a hold past its deadline stops counting by itself: available is whole again, capture is 409 expired — before any sweep', { timeout: 30_000 }, async () => {
  const start = (await balance(as(bob))).user;
  const made = await hold(as(bob), { amount: 15, ttl_seconds: 1 });
  assert.equal((await balance(as(bob))).user.available, start.available - 15);
  await sleep(1200);
  const past = (await balance(as(bob))).user;
  assert.deepEqual([past.credits, past.available], [start.credits, start.available]);
  // Nothing has swept it: the row and the counter still say active, and available does not depend on that.
  const row = await stored(made.body.hold_id);
  assert.deepEqual([row.state, row.held], ['active', 15]);
  const late = await capture(as(bob), made.body.hold_id);
  assert.deepEqual([...refusal(late), late.body.error.state], [409, 'hold_closed', 'expired']);
  const lateRelease = await release(service, made.body.hold_id);
  assert.deepEqual([...refusal(lateRelease), lateRelease.body.error.state], [409, 'hold_closed', 'expired']);
  assert.equal((await read(as(bob), made.body.hold_id)).body.state, 'expired');
  const spend = await api('/api/v1/credits/consume', { method: 'POST', headers: as(bob), body: { amount: start.available, operation: OPERATION } });
  assert.equal(spend.status, 200, `all of available can be spent: ${JSON.stringify(spend.body)}`);
  assert.equal(spend.body.available, 0);
  const back = await api('/admin/grant', { method: 'POST', headers: admin, body: { user_id: bob.userId, amount: start.available } });
  assert.equal(back.status, 200);
});

test('a member who left the team cannot capture the team hold they made (403); the service can', async () => {
  const owner = await signUp(auth, 'olivia.holds@example.com');
  const member = await signUp(auth, 'carl.holds@example.com');
  await worker.pool.query(`INSERT INTO teams (id, name, credits, owner_id, created_at, updated_at) VALUES ('team_holds', 'Holds team', 0, $1, now(), now())`, [owner.userId]);
  await worker.pool.query(`UPDATE users SET team_id = 'team_holds' WHERE id = ANY($1)`, [[owner.userId, member.userId]]);
  const granted = await api('/admin/grant', { method: 'POST', headers: admin, body: { team_id: 'team_holds', amount: 100 } });
  assert.equal(granted.status, 200, JSON.stringify(granted.body));

  const made = await hold(as(member), { amount: 40 });
  assert.deepEqual([made.body.charged, made.body.available], [{ kind: 'team', id: 'team_holds' }, 60]);
  assert.equal((await balance(as(owner))).team.available, 60, 'the whole team sees it held');
  const other = await hold(as(member), { amount: 5 });
  assert.equal((await capture(as(member), other.body.hold_id, { amount: 1 })).status, 200, 'while a member, it captures');

  await worker.pool.query('UPDATE users SET team_id = NULL WHERE id = $1', [member.userId]);
  const refused = await capture(as(member), made.body.hold_id, { amount: 10 });
  assert.deepEqual(refusal(refused), [403, 'forbidden'], JSON.stringify(refused.body));
  const { rows: [team] } = await worker.pool.query(`SELECT credits, held_credits FROM teams WHERE id = 'team_holds'`);
  assert.deepEqual(team, { credits: 99, held_credits: 40 }, 'nothing was taken from the pool');
  const byService = await capture(service, made.body.hold_id, { amount: 10 });
  assert.equal(byService.status, 200, JSON.stringify(byService.body));
  assert.deepEqual([byService.body.amount, byService.body.released, byService.body.balance, byService.body.available], [10, 30, 89, 89]);
});

test('the cron trigger sweeps: expired holds become expired in the table and held_credits return to 0', { timeout: 30_000 }, async () => {
  const carol = await signUp(auth, 'carol.holds@example.com');
  const granted = await api('/admin/grant', { method: 'POST', headers: admin, body: { user_id: carol.userId, amount: 100 } });
  assert.equal(granted.status, 200);
  const created = await api('/api/v1/api-keys', { method: 'POST', headers: as(carol), body: { name: 'swept', daily_limit: 50 } });
  assert.equal(created.status, 201);
  const key = created.body;
  assert.equal((await api(`/api/v1/api-keys/${key.id}/allocate`, { method: 'POST', headers: as(carol), body: { amount: 30 } })).status, 200);

  const short = [
    (await hold(as(carol), { amount: 11, ttl_seconds: 1 })).body.hold_id,
    (await hold(as(carol), { amount: 12, ttl_seconds: 1 })).body.hold_id,
    (await hold({ 'x-api-key': key.key }, { amount: 13, ttl_seconds: 1 })).body.hold_id,
  ];
  const long = (await hold(as(carol), { amount: 5, ttl_seconds: 3600 })).body.hold_id;
  await sleep(1200);
  for (const id of short) assert.equal((await stored(id)).state, 'active', 'not swept yet');
  const { rows: [before] } = await worker.pool.query('SELECT held_credits FROM users WHERE id = $1', [carol.userId]);
  assert.equal(before.held_credits, 28);

  await runCron(worker);
  for (const id of short) {
    const row = await stored(id);
    assert.equal(row.state, 'expired', id);
    assert.ok(row.closed_at, 'closed_at is set');
    assert.equal(row.captured, null);
  }
  assert.equal((await stored(long)).state, 'active', 'a hold before its deadline is left alone');
  const { rows: [user] } = await worker.pool.query('SELECT held_credits FROM users WHERE id = $1', [carol.userId]);
  assert.equal(user.held_credits, 5, 'only the live hold is still held');
  const { rows: [keyRow] } = await worker.pool.query('SELECT held_credits, daily_used FROM api_key_credits WHERE api_key = $1', [key.id]);
  assert.deepEqual(keyRow, { held_credits: 0, daily_used: 0 }, "the key's window gets the expired hold back");
  assert.equal((await release(service, long)).status, 200);
  const { rows: [done] } = await worker.pool.query('SELECT held_credits FROM users WHERE id = $1', [carol.userId]);
  assert.equal(done.held_credits, 0);
  // Nothing active is left past its deadline in the whole database (bob's expired hold included).
  const { rows: [{ overdue }] } = await worker.pool.query(`SELECT count(*)::int AS overdue FROM credit_holds WHERE state = 'active' AND expires_at <= now() AT TIME ZONE 'UTC'`);
  assert.equal(overdue, 0);
  const { rows: [{ held }] } = await worker.pool.query(`SELECT count(*)::int AS held FROM users WHERE id = $1 AND held_credits <> 0`, [bob.userId]);
  assert.equal(held, 0, "bob's expired hold was given back");
  const report = /cron \* \* \* \* \*: sweep expired ([0-9]+) holds and [0-9]+ blocks on ([0-9]+) accounts/;
  const [, expired, accounts] = report.exec(await logged(worker, report)) ?? [];
  // carol's three on her user and her key (bob's, expired earlier, too unless a debit tidied it first).
  assert.ok(Number(expired) >= 3 && Number(accounts) >= 2, `the run logs its report (${expired} holds, ${accounts} accounts)`);

  await runCron(worker);
  assert.match(await logged(worker, /sweep expired 0 holds and 0 blocks on 0 accounts/), /cron \* \* \* \* \*: sweep expired 0 holds and 0 blocks on 0 accounts/, 'a second run finds nothing');
});

test('POST /admin/sweep: the admin token sweeps and reports; a session is 403, the service token 403, nothing is 401', { timeout: 30_000 }, async () => {
  const made = await hold(as(alice), { amount: 3, ttl_seconds: 1 });
  await sleep(1200);
  for (const [headers, status] of [[as(alice), 403], [service, 403], [{}, 401]]) {
    const refused = await api('/admin/sweep', { method: 'POST', headers, body: {} });
    assert.equal(refused.status, status, JSON.stringify(refused.body));
  }
  assert.equal((await stored(made.body.hold_id)).state, 'active', 'no refused call swept');
  const swept = await api('/admin/sweep', { method: 'POST', headers: admin, body: {} });
  assert.equal(swept.status, 200, JSON.stringify(swept.body));
  assert.deepEqual(swept.body, { ok: true, expired_holds: 1, accounts: 1, expired_blocks: 0 });
  const row = await stored(made.body.hold_id);
  assert.deepEqual([row.state, row.held], ['expired', 0]);
  const again = await api('/admin/sweep', { method: 'POST', headers: admin, body: {} });
  assert.deepEqual(again.body, { ok: true, expired_holds: 0, accounts: 0, expired_blocks: 0 });
});
