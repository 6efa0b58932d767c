// Expiring credits through the npm package, in Node, over the real Postgres (shared/API.md
// "Expiring credits"): spent soonest first by the edge module (the statement Next.js middleware
// runs) and by the Node entry, inside the caller's own transaction; at the deadline the rest stops
// counting by itself, the next debit writes the `expiration` row, `sweep()` writes the ones nobody
// else did, exactly once; a hold's released credits go back to their block; reconcile stays clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCredits } from 'fltr-credits/node.js';
import { initSync as initEdge, createCredits as createEdgeCredits } from 'fltr-credits';
import { throwawayDatabase, connect, user, scalar, rejection } from './helpers.mjs';

let db, client, credits, edge;

before(async () => {
  db = await throwawayDatabase('expiring');
  client = await connect(db.url);
  credits = createCredits(client);
  assert.deepEqual((await credits.migrate()).drift, []);
  const require = createRequire(import.meta.url);
  initEdge({ module: readFileSync(require.resolve('fltr-credits/fltr_credits_bg.wasm')) });
  edge = createEdgeCredits({ query: (text, params) => client.query(text, params) });
  for (const id of ['ema', 'finn', 'gus']) await user(client, id);
});

after(async () => {
  try {
    if (client) {
      // balance == Σ ledger for every user (the package has no reconcile; the CLI's runs in cargo's suite).
      const drift = await scalar(client, `SELECT count(*) FROM users u WHERE u.credits <> coalesce((SELECT sum(t.amount)
        FROM credit_transactions t WHERE t.user_id = u.id AND t.team_id IS NULL AND t.api_key_id IS NULL), 0)`);
      assert.equal(Number(drift), 0);
    }
  } finally {
    await client?.end();
    await db?.drop();
  }
});

const expirations = async (id) =>
  (await client.query("SELECT resource_id, amount FROM credit_transactions WHERE user_id = $1 AND type = 'expiration' ORDER BY created_at", [id]))
    .rows.map((r) => [r.resource_id, r.amount]);

test('the edge module spends the soonest-expiring block first; the deadline needs no job; the next debit records it once', async () => {
  await credits.grant({ userId: 'ema', amount: 10 });
  const soon = new Date(Date.now() + 2500);
  const block = await credits.grant({ userId: 'ema', amount: 20, expiresAt: soon });
  const later = new Date(Date.now() + 86_400_000);
  await credits.grant({ userId: 'ema', amount: 5, expiresAt: later });

  await client.query('BEGIN');
  const spent = await edge.consume({ userId: 'ema', amount: 12, operation: 'llm.call' });
  await client.query('COMMIT');
  assert.deepEqual([spent.balance, spent.available], [23, 23]);
  const { user } = await edge.balance({ userId: 'ema' });
  assert.deepEqual(user.expiring.map((e) => [e.amount, Date.parse(e.expires_at)]), [[8, soon.getTime()], [5, later.getTime()]]);

  while (Date.now() < soon.getTime() + 100) await sleep(50);
  const read = (await edge.balance({ userId: 'ema' })).user;
  assert.deepEqual([read.credits, read.available, read.expiring.length], [15, 15, 1]);
  assert.equal((await rejection(edge.check({ userId: 'ema', amount: 16 }))).code, 'insufficient_credits');
  assert.deepEqual(await expirations('ema'), []);

  const next = await edge.consume({ userId: 'ema', amount: 6, operation: 'llm.call' });
  assert.equal(next.balance, 9);
  assert.deepEqual(await expirations('ema'), [[block.transaction_id, -8]]);
  assert.deepEqual((await edge.balance({ userId: 'ema' })).user.expiring, [], 'the 5 of tomorrow went first');
  assert.equal(Number(await scalar(client, "SELECT credits FROM users WHERE id = 'ema'")), 9);
});

test("a released hold's credits go back to their block, and expire with it; sweep() writes each row once", async () => {
  const soon = new Date(Date.now() + 2500);
  const block = await credits.grant({ userId: 'finn', amount: 30, expiresAt: soon });
  await credits.grant({ userId: 'finn', amount: 10 });
  const hold = await credits.hold({ userId: 'finn', amount: 25, operation: 'document.process' });
  assert.deepEqual((await credits.balance({ userId: 'finn' })).user.expiring.map((e) => e.amount), [5]);
  const released = await credits.release({ holdId: hold.hold_id });
  assert.equal(released.available, 40);
  assert.deepEqual((await credits.balance({ userId: 'finn' })).user.expiring.map((e) => e.amount), [30]);

  const gusBlock = await credits.grant({ userId: 'gus', amount: 7, expiresAt: soon });
  while (Date.now() < soon.getTime() + 100) await sleep(50);
  const swept = await credits.sweep();
  assert.ok(swept.expired_blocks >= 2 && swept.accounts >= 2, JSON.stringify(swept));
  assert.deepEqual(await expirations('finn'), [[block.transaction_id, -30]]);
  assert.deepEqual(await expirations('gus'), [[gusBlock.transaction_id, -7]]);
  assert.deepEqual(await credits.sweep(), { ok: true, expired_holds: 0, accounts: 0, expired_blocks: 0 });
  assert.equal((await credits.balance({ userId: 'finn' })).user.credits, 10);
});
