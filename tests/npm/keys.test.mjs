// API keys' lifecycle through the npm package, in Node, over the real Postgres (shared/API.md "API
// keys"): createKey (a secret shown once, only its hash stored), use, listKeys, updateKey,
// rotateKey with and without grace, revokeKey (the allowance back to its pool, ledgered),
// revokeLeakedKeys, team keys' rules, and bad input. Most calls go through the Node entry; one
// test runs the same lifecycle through the edge module (`fltr-credits`), which carries it too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createCredits } from 'fltr-credits/node.js';
import { initSync as initEdge, createCredits as createEdgeCredits } from 'fltr-credits';
import { throwawayDatabase, connect, user, team, apiKey, scalar, keyHash, legacyId, rejection } from './helpers.mjs';

let db, client, credits;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;

before(async () => {
  db = await throwawayDatabase('keys');
  client = await connect(db.url);
  credits = createCredits(client);
  assert.deepEqual((await credits.migrate()).drift, []);
  await user(client, 'ann', { credits: 100 });
  await user(client, 'ben', { credits: 0 });
  // team_k: olga owns it; max and tess are members.
  await user(client, 'olga');
  await user(client, 'max');
  await user(client, 'tess');
  await team(client, 'team_k', 'olga', 50);
  await client.query("UPDATE users SET team_id = 'team_k' WHERE id IN ('olga', 'max', 'tess')");
});

after(async () => {
  await client?.end();
  await db?.drop();
});

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function crc32(text) {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text)) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (~crc) >>> 0;
}
/** `fltr_` + 30 base62 + the base62 CRC-32 (6 characters) of everything before it. */
function checksumOk(secret) {
  let value = crc32(secret.slice(0, 35));
  let digits = '';
  for (let i = 0; i < 6; i++) {
    digits = BASE62[value % 62] + digits;
    value = Math.floor(value / 62);
  }
  return secret.slice(35) === digits;
}

/** Rows of `table` holding `text` in any column (the row's text form). */
const rowsHolding = (table, text) => scalar(client, `SELECT count(*) FROM ${table} t WHERE strpos(t::text, $1) > 0`, [text]);
const userCredits = (id) => scalar(client, 'SELECT credits FROM users WHERE id = $1', [id]).then(Number);
const teamCredits = (id) => scalar(client, 'SELECT credits FROM teams WHERE id = $1', [id]).then(Number);
const keyCredits = (id) => scalar(client, 'SELECT credits FROM api_key_credits WHERE api_key = $1', [id]).then(Number);
const presented = (secret) => ({ credential: { kind: 'api_key', value: secret } });
const use = (secret, amount = 1) => credits.consume({ ...presented(secret), amount, operation: 'api.call' });

// The key the sequential tests below follow through its life.
let key;

test('createKey returns the secret once (fltr_, 41 characters, checksummed); the database keeps only its hash', async () => {
  key = await credits.createKey({ userId: 'ann', name: 'ci', monthlyLimit: 1000 });
  assert.equal(key.key.length, 41);
  assert.match(key.key, /^fltr_[0-9A-Za-z]{36}$/);
  assert.ok(checksumOk(key.key), 'the secret carries its CRC-32');
  assert.match(key.id, /^key_[0-9a-f]{20}$/);
  assert.equal(key.start, key.key.slice(0, 9));
  assert.equal(key.masked, `${key.start}…`);
  assert.deepEqual(
    [key.name, key.user_id, key.team_id, key.credits, key.available, key.daily_limit, key.monthly_limit],
    ['ci', 'ann', null, 0, 0, null, 1000],
  );
  assert.deepEqual([key.limits.daily.limit, key.limits.monthly.limit, key.limits.monthly.remaining], [null, 1000, 1000]);
  assert.deepEqual([key.expires_at, key.revoked_at, key.last_used_at], [null, null, null]);
  assert.match(key.created_at, RFC3339);

  // Only the hash: no column of any key row, ledger row or idempotency record holds the secret.
  const row = (await client.query('SELECT api_key, key_hash, start FROM api_key_credits WHERE key_hash = $1', [keyHash(key.key)])).rows[0];
  assert.deepEqual(row, { api_key: key.id, key_hash: keyHash(key.key), start: key.start });
  for (const table of ['api_key_credits', 'credit_transactions', 'credit_idempotency_keys']) {
    assert.equal(await rowsHolding(table, key.key), '0', table);
    assert.equal(await rowsHolding(table, key.key.slice(9)), '0', `${table}: no part past start`);
  }

  // Each key its own secret and id, from the platform CSPRNG.
  const more = await Promise.all([1, 2, 3].map(() => credits.createKey({ userId: 'ben' })));
  assert.equal(new Set([key, ...more].map((k) => k.key)).size, 4);
  assert.equal(new Set([key, ...more].map((k) => k.id)).size, 4);
  assert.ok(more.every((k) => checksumOk(k.key) && k.name === null));
  for (const k of more) await credits.revokeKey({ id: k.id });

  // expiresAt: an RFC 3339 string or a Date.
  const at = new Date(Date.now() + 86_400_000);
  const expiring = await credits.createKey({ userId: 'ann', expiresAt: at, dailyLimit: 3 });
  assert.match(expiring.expires_at, RFC3339);
  assert.equal(Date.parse(expiring.expires_at), at.getTime());
  assert.equal(expiring.daily_limit, 3);
  await credits.revokeKey({ id: expiring.id });
});

test('the secret pays; listKeys shows the key masked, never its secret, with last_used_at', async () => {
  const allocated = await credits.allocate({ apiKey: key.id, amount: 30 });
  assert.deepEqual([allocated.charged, allocated.balance], [{ kind: 'api_key', id: key.id }, 30]);
  assert.equal(await userCredits('ann'), 70);

  const paid = await use(key.key, 5);
  assert.deepEqual([paid.charged, paid.balance], [{ kind: 'api_key', id: key.id }, 25]);
  assert.equal(paid.limits.monthly.used, 5);
  // The `apiKey` option names it by its secret or its id alike.
  assert.equal((await credits.consume({ apiKey: key.key, amount: 1, operation: 'api.call' })).balance, 24);
  assert.equal((await credits.consume({ apiKey: key.id, amount: 1, operation: 'api.call' })).balance, 23);
  assert.deepEqual(await credits.authenticate({ kind: 'bearer', value: key.key }), { kind: 'api_key', api_key: key.id, user_id: 'ann' });
  const row = (await client.query('SELECT api_key_id FROM credit_transactions WHERE id = $1', [paid.transaction_id])).rows[0];
  assert.deepEqual(row, { api_key_id: key.id });

  const { api_keys: listed } = await credits.listKeys({ userId: 'ann' });
  const mine = listed.find((k) => k.id === key.id);
  assert.ok(mine);
  assert.equal('key' in mine, false);
  assert.deepEqual([mine.start, mine.masked, mine.credits, mine.available], [key.start, `${key.start}…`, 23, 23]);
  assert.match(mine.last_used_at, RFC3339);
  assert.equal(mine.limits.monthly.used, 7);
  assert.ok(!JSON.stringify(listed).includes(key.key.slice(9)), 'no secret in a listing');
  // Revoked keys stay listed (oldest first); ben sees none of ann's.
  assert.ok(listed.some((k) => k.revoked_at !== null));
  assert.ok((await credits.listKeys({ userId: 'ben' })).api_keys.every((k) => k.user_id === 'ben'));
  assert.deepEqual(await credits.listKeys({ userId: 'nobody' }), { api_keys: [] });

  const balance = await credits.balance({ userId: 'ann' });
  const inBalance = balance.api_keys.find((k) => k.id === key.id);
  assert.deepEqual([inBalance.start, inBalance.api_key, inBalance.available], [key.start, `${key.start}…`, 23]);
});

test('updateKey: a limit set is enforced (429 daily_limit_exceeded), null removes it, absent fields stay', async () => {
  const limited = await credits.updateKey({ id: key.id, dailyLimit: 8 });
  assert.deepEqual([limited.daily_limit, limited.monthly_limit, limited.name], [8, 1000, 'ci']);
  assert.equal(limited.limits.daily.used, 7);
  assert.equal('key' in limited, false);
  const refused = await rejection(use(key.key, 2));
  assert.deepEqual([refused.code, refused.status, refused.limit, refused.used], ['daily_limit_exceeded', 429, 8, 7]);
  assert.equal(await keyCredits(key.id), 23);
  assert.equal((await use(key.key, 1)).limits.daily.remaining, 0);

  const unlimited = await credits.updateKey({ id: key.id, dailyLimit: null, name: 'ci-2' });
  assert.deepEqual([unlimited.daily_limit, unlimited.monthly_limit, unlimited.name], [null, 1000, 'ci-2']);
  assert.equal((await use(key.key, 2)).balance, 20);
  const cleared = await credits.updateKey({ id: key.id, monthlyLimit: null, name: null });
  assert.deepEqual([cleared.monthly_limit, cleared.name], [null, null]);
});

test('updateKey expiry: set, then removed with null; an expired key is unauthenticated at once', async () => {
  const soon = new Date(Date.now() + 3_600_000);
  const expiring = await credits.updateKey({ id: key.id, expiresAt: soon.toISOString() });
  assert.equal(Date.parse(expiring.expires_at), soon.getTime());
  assert.equal((await credits.updateKey({ id: key.id, expiresAt: null })).expires_at, null);

  const other = await credits.createKey({ userId: 'ann', expiresAt: soon });
  await client.query("UPDATE api_key_credits SET expires_at = (now() AT TIME ZONE 'utc') - interval '1 second' WHERE api_key = $1", [other.id]);
  assert.equal((await rejection(credits.authenticate({ kind: 'api_key', value: other.key }))).code, 'unauthenticated');
  assert.equal((await rejection(credits.check({ ...presented(other.key), amount: 1 }))).code, 'unauthenticated');
});

test('rotateKey with grace: both secrets work until it ends; without grace the old secret fails at once', async () => {
  const first = key.key;
  const rotated = await credits.rotateKey({ id: key.id, graceSeconds: 3600 });
  assert.equal(rotated.id, key.id);
  assert.match(rotated.key, /^fltr_[0-9A-Za-z]{36}$/);
  assert.ok(checksumOk(rotated.key));
  assert.notEqual(rotated.key, first);
  assert.equal(rotated.start, rotated.key.slice(0, 9));
  assert.equal(await rowsHolding('api_key_credits', rotated.key), '0');
  assert.equal((await use(first)).charged.id, key.id, 'the old secret works during its grace');
  assert.equal((await use(rotated.key)).charged.id, key.id);

  // A rotation without grace (the default) stops the replaced secret at once, and ends the
  // earlier grace too.
  const again = await credits.rotateKey({ id: key.id });
  for (const old of [first, rotated.key]) {
    const error = await rejection(use(old));
    assert.deepEqual([error.code, error.status], ['unauthenticated', 401]);
  }
  assert.equal((await use(again.key)).charged.id, key.id);
  const zero = await credits.rotateKey({ id: key.id, graceSeconds: 0 });
  assert.equal((await rejection(use(again.key))).code, 'unauthenticated');
  key = { ...key, key: zero.key };
  assert.equal((await use(key.key)).charged.id, key.id);
});

test('revokeKey returns the allowance to the pool with two ledger rows; the key is 401; a second revoke replays', async () => {
  const left = await keyCredits(key.id);
  assert.ok(left > 0);
  const annBefore = await userCredits('ann');
  const revoked = await credits.revokeKey({ id: key.id });
  assert.deepEqual([revoked.ok, revoked.id, revoked.returned, revoked.replayed], [true, key.id, left, false]);
  assert.match(revoked.revoked_at, RFC3339);
  assert.equal(await userCredits('ann'), annBefore + left);
  assert.equal(await keyCredits(key.id), 0);
  const ledger = (await client.query(
    "SELECT id, amount, type, operation, api_key_id, user_id FROM credit_transactions WHERE id LIKE 'revoke_' || $1 || '%' ORDER BY id",
    [key.id],
  )).rows;
  assert.deepEqual(ledger, [
    { id: `revoke_${key.id}`, amount: -left, type: 'allocation', operation: 'api_key.revoke', api_key_id: key.id, user_id: 'ann' },
    { id: `revoke_${key.id}_pool`, amount: left, type: 'allocation', operation: 'api_key.revoke', api_key_id: null, user_id: 'ann' },
  ]);

  const refused = await rejection(use(key.key));
  assert.deepEqual([refused.code, refused.status], ['unauthenticated', 401]);
  assert.equal((await rejection(credits.authenticate({ kind: 'api_key', value: key.key }))).code, 'unauthenticated');
  assert.equal((await rejection(credits.consume({ apiKey: key.id, amount: 1, operation: 'api.call' }))).code, 'not_found');

  const again = await credits.revokeKey({ id: key.id });
  assert.deepEqual(again, { ...revoked, replayed: true });
  assert.equal(await userCredits('ann'), annBefore + left, 'nothing returned twice');

  // A revoke is final: no rotation, no update (409 api_key_revoked).
  for (const change of [credits.rotateKey({ id: key.id }), credits.updateKey({ id: key.id, dailyLimit: 1 })]) {
    const error = await rejection(change);
    assert.deepEqual([error.code, error.status], ['api_key_revoked', 409]);
  }
  const listed = (await credits.listKeys({ userId: 'ann' })).api_keys.find((k) => k.id === key.id);
  assert.equal(listed.revoked_at, revoked.revoked_at);
});

test('revokeLeakedKeys revokes the keys of known secrets, ignores unknown ones, and takes seed-way keys too', async () => {
  const leaked = await credits.createKey({ userId: 'ben' });
  const kept = await credits.createKey({ userId: 'ben' });
  const seedWay = 'fltr_seed_way_leaked_key_0001';
  await apiKey(client, seedWay, 'ben');
  const result = await credits.revokeLeakedKeys({ keys: [leaked.key, seedWay, 'fltr_unknown_secret_0000000000000000', 'not-a-key'] });
  assert.deepEqual(result, { revoked: 2 });
  assert.equal((await rejection(credits.authenticate({ kind: 'api_key', value: leaked.key }))).code, 'unauthenticated');
  assert.equal((await rejection(credits.authenticate({ kind: 'api_key', value: seedWay }))).code, 'unauthenticated');
  assert.equal((await credits.authenticate({ kind: 'api_key', value: kept.key })).api_key, kept.id);
  // The seed-way row was hashed before it was revoked: no secret at rest, its id in the listing.
  assert.equal(await rowsHolding('api_key_credits', seedWay), '0');
  const listed = (await credits.listKeys({ userId: 'ben' })).api_keys;
  assert.ok(listed.find((k) => k.id === legacyId(seedWay)).revoked_at);
  assert.deepEqual(await credits.revokeLeakedKeys({ keys: [leaked.key] }), { revoked: 0 });
  assert.deepEqual(await credits.revokeLeakedKeys({ keys: [] }), { revoked: 0 });

  for (const options of [{}, { keys: 'one' }, { keys: [''] }, { keys: [1] }, { keys: Array(101).fill('x') }, { keys: ['x'.repeat(513)] }]) {
    assert.equal((await rejection(credits.revokeLeakedKeys(options))).code, 'invalid_request', JSON.stringify(options).slice(0, 40));
  }
});

test('team keys: on the team pool, seen by members, changed only by their creator or the team owner, rotated only by their creator', async () => {
  const teamKey = await credits.createKey({ userId: 'max', team: true, name: 'team ci' });
  assert.equal(teamKey.team_id, 'team_k');
  await credits.allocate({ apiKey: teamKey.id, amount: 10 });
  assert.equal(await teamCredits('team_k'), 40);
  // Current members see it; another user does not, and cannot tell it exists.
  assert.ok((await credits.listKeys({ userId: 'tess' })).api_keys.some((k) => k.id === teamKey.id));
  assert.ok(!(await credits.listKeys({ userId: 'ann' })).api_keys.some((k) => k.id === teamKey.id));
  for (const change of [
    credits.updateKey({ id: teamKey.id, actorId: 'ann', name: 'mine' }),
    credits.rotateKey({ id: teamKey.id, actorId: 'ann' }),
    credits.revokeKey({ id: teamKey.id, actorId: 'ann' }),
  ]) {
    const error = await rejection(change);
    assert.deepEqual([error.code, error.status], ['not_found', 404]);
  }
  // A member who neither created it nor owns the team may not change it.
  for (const change of [
    credits.updateKey({ id: teamKey.id, actorId: 'tess', dailyLimit: 1 }),
    credits.rotateKey({ id: teamKey.id, actorId: 'tess' }),
    credits.revokeKey({ id: teamKey.id, actorId: 'tess' }),
  ]) {
    const error = await rejection(change);
    assert.deepEqual([error.code, error.status], ['forbidden', 403]);
  }
  assert.equal((await credits.updateKey({ id: teamKey.id, actorId: 'max', dailyLimit: 5 })).daily_limit, 5);
  assert.equal((await credits.updateKey({ id: teamKey.id, actorId: 'olga', name: 'owned' })).name, 'owned');
  // Rotating hands out a credential: the owner may not take a member's key, only its creator may.
  const taken = await rejection(credits.rotateKey({ id: teamKey.id, actorId: 'olga' }));
  assert.deepEqual([taken.code, taken.status], ['forbidden', 403]);
  const rotated = await credits.rotateKey({ id: teamKey.id, actorId: 'max' });
  assert.equal((await use(rotated.key, 2)).charged.id, teamKey.id);
  // The owner revokes it: the rest of its allowance goes back to the team pool.
  const revoked = await credits.revokeKey({ id: teamKey.id, actorId: 'olga' });
  assert.equal(revoked.returned, 8);
  assert.equal(await teamCredits('team_k'), 48);

  // Another user's personal key is not_found to them; a team key needs a team.
  const annKey = await credits.createKey({ userId: 'ann' });
  assert.equal((await rejection(credits.updateKey({ id: annKey.id, actorId: 'ben', name: 'x' }))).code, 'not_found');
  assert.equal((await rejection(credits.revokeKey({ id: annKey.id, actorId: 'ben' }))).code, 'not_found');
  assert.equal((await credits.revokeKey({ id: annKey.id, actorId: 'ann' })).replayed, false);
  const noTeam = await rejection(credits.createKey({ userId: 'ann', team: true }));
  assert.deepEqual([noTeam.code, noTeam.status], ['forbidden', 403]);
  assert.equal((await rejection(credits.createKey({ userId: 'nobody' }))).code, 'not_found');
  assert.equal((await rejection(credits.revokeKey({ id: 'key_00000000000000000000' }))).code, 'not_found');
});

test('bad input is invalid_request before any write; a secret where an id belongs is refused and never echoed', async () => {
  const secret = (await credits.createKey({ userId: 'ben' })).key;
  const keysBefore = await scalar(client, 'SELECT count(*) FROM api_key_credits');
  const past = new Date(Date.now() - 60_000).toISOString();
  const tooFar = new Date(Date.now() + 11 * 366 * 86_400_000).toISOString();
  const cases = [
    () => credits.createKey({ userId: 'ann', dailyLimit: -1 }),
    () => credits.createKey({ userId: 'ann', monthlyLimit: 2 ** 31 }),
    () => credits.createKey({ userId: 'ann', dailyLimit: 1.5 }),
    () => credits.createKey({ userId: 'ann', dailyLimit: '5' }),
    () => credits.createKey({ userId: 'ann', expiresAt: past }),
    () => credits.createKey({ userId: 'ann', expiresAt: tooFar }),
    () => credits.createKey({ userId: 'ann', expiresAt: 'tomorrow' }),
    () => credits.createKey({ userId: 'ann', name: '' }),
    () => credits.createKey({ userId: 'ann', name: 'x'.repeat(65) }),
    () => credits.createKey({ userId: 'ann', team: 'yes' }),
    () => credits.createKey({ userId: 'ann', user_id: 'ann' }),
    () => credits.createKey({}),
    () => credits.listKeys({}),
    () => credits.updateKey({ id: secret, name: 'x' }),
    () => credits.updateKey({ id: secret.toUpperCase() }),
    () => credits.updateKey({ dailyLimit: 1 }),
    () => credits.updateKey({ id: 'key_00000000000000000000', dailyLimit: -5 }),
    () => credits.updateKey({ id: 'key_00000000000000000000', expiresAt: past }),
    () => credits.rotateKey({ id: secret }),
    () => credits.rotateKey({ id: 'key_00000000000000000000', graceSeconds: -1 }),
    () => credits.rotateKey({ id: 'key_00000000000000000000', graceSeconds: 604_801 }),
    () => credits.rotateKey({ id: 'key_00000000000000000000', graceSeconds: 1.5 }),
    () => credits.revokeKey({ id: secret }),
    () => credits.revokeKey({ id: 'key_1', actorId: '' }),
    () => credits.revokeKey('key_1'),
  ];
  for (const call of cases) {
    const error = await rejection(call());
    assert.deepEqual([error.code, error.status], ['invalid_request', 400], call.toString());
    assert.ok(!error.message.includes(secret.slice(5)), `the secret is not echoed: ${error.message}`);
  }
  assert.equal(await scalar(client, 'SELECT count(*) FROM api_key_credits'), keysBefore);
  // A limit of 0 is valid (the key may not spend), and so are seven days of grace.
  const zero = await credits.createKey({ userId: 'ann', dailyLimit: 0 });
  await credits.allocate({ apiKey: zero.id, amount: 1 });
  assert.equal((await rejection(use(zero.key))).code, 'daily_limit_exceeded');
  assert.ok((await credits.rotateKey({ id: zero.id, graceSeconds: 604_800 })).key);
});

test('the edge module (fltr-credits) carries the same lifecycle', async () => {
  const require = createRequire(import.meta.url);
  initEdge({ module: readFileSync(require.resolve('fltr-credits/fltr_credits_bg.wasm')) });
  const edge = createEdgeCredits({ query: (text, params) => client.query(text, params) });
  for (const method of ['createKey', 'listKeys', 'updateKey', 'rotateKey', 'revokeKey', 'revokeLeakedKeys']) {
    assert.equal(typeof edge[method], 'function', method);
  }
  const created = await edge.createKey({ userId: 'ann', dailyLimit: 2 });
  assert.ok(checksumOk(created.key));
  await edge.allocate({ apiKey: created.key, amount: 4 });
  assert.equal((await edge.consume({ ...presented(created.key), amount: 2, operation: 'api.call' })).balance, 2);
  assert.equal((await rejection(edge.consume({ ...presented(created.key), amount: 1, operation: 'api.call' }))).code, 'daily_limit_exceeded');
  assert.equal((await edge.updateKey({ id: created.id, dailyLimit: null })).daily_limit, null);
  const rotated = await edge.rotateKey({ id: created.id });
  assert.equal((await edge.consume({ ...presented(rotated.key), amount: 1, operation: 'api.call' })).balance, 1);
  assert.ok((await edge.listKeys({ userId: 'ann' })).api_keys.some((k) => k.id === created.id));
  assert.deepEqual(await edge.revokeLeakedKeys({ keys: [created.key] }), { revoked: 0 });
  assert.equal((await edge.revokeKey({ id: created.id })).returned, 1);
  assert.equal((await rejection(edge.updateKey({ id: rotated.key }))).code, 'invalid_request');
});
