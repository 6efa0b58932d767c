// `npx fltr-credits` from the installed package: migrate, verify, seed-credits (and sql,
// rollback) with the native CLI's flags, output and exit codes, against the real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { throwawayDatabase, connect, user, scalar } from './helpers.mjs';

/** Every migration's tag, oldest first, as the repository's drizzle journal lists them. */
const TAGS = JSON.parse(readFileSync(new URL('../../migrations/meta/_journal.json', import.meta.url), 'utf8')).entries.map((e) => e.tag);

let db, client;

function cli(args, env = {}) {
  const clean = { ...process.env };
  delete clean.DATABASE_URL;
  delete clean.AUTH_DATABASE_URL;
  const run = spawnSync('npx', ['--no-install', 'fltr-credits', ...args], {
    cwd: new URL('.', import.meta.url),
    env: { ...clean, ...env },
    encoding: 'utf8',
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

before(async () => {
  db = await throwawayDatabase('cli');
});

after(async () => {
  await client?.end();
  await db?.drop();
});

test('migrate --dry-run prints the SQL and changes nothing; migrate applies; again is a no-op', async () => {
  const dry = cli(['migrate', '--dry-run'], { DATABASE_URL: db.url });
  assert.equal(dry.code, 0, dry.stderr);
  assert.ok(dry.stdout.split('\n').includes(`would apply ${TAGS.join(', ')}`), dry.stdout.slice(0, 300));
  client = await connect(db.url);
  assert.equal(await scalar(client, "to_regclass('public.users') IS NULL"), 'true');

  const applied = cli(['migrate', '--json'], { DATABASE_URL: db.url });
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  const report = JSON.parse(applied.stdout);
  assert.deepEqual(report.applied, TAGS);
  assert.equal(report.hashed_api_keys, 0);
  assert.deepEqual(report.drift, []);
  assert.equal(report.dry_run, false);
  assert.equal(applied.stdout.trim().split('\n').length, 1, 'exactly one JSON object');
  assert.equal(await scalar(client, 'SELECT count(*) FROM drizzle.__drizzle_migrations'), String(TAGS.length));

  const again = cli(['migrate', '--database-url', db.url]);
  assert.equal(again.code, 0);
  assert.equal(again.stdout, 'no pending migrations\n');
});

test('verify exits 0 without drift and 8 with it, listing each difference', async () => {
  const clean = cli(['verify'], { DATABASE_URL: db.url });
  assert.equal(clean.code, 0);
  assert.equal(clean.stdout, 'schema matches the model: no drift\n');
  await client.query('DROP INDEX credit_transactions_user_id_created_at_idx');
  const drifted = cli(['verify', '--json', `--database-url=${db.url}`]);
  assert.equal(drifted.code, 8);
  const body = JSON.parse(drifted.stdout);
  assert.equal(body.ok, false);
  assert.ok(body.drift.some((d) => d.kind === 'missing_index' && d.object === 'credit_transactions_user_id_created_at_idx'), drifted.stdout);
  const text = cli(['verify'], { DATABASE_URL: db.url });
  assert.match(text.stdout, /^1 difference\(s\) from the model:\n  missing_index credit_transactions_user_id_created_at_idx/);
});

test('seed-credits grants once per user, with a ledger row', async () => {
  await user(client, 'u1');
  await user(client, 'u2');
  await user(client, 'rich', { credits: 5 });
  const first = cli(['seed-credits', '--amount', '100'], { DATABASE_URL: db.url });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'granted 100 credits to 2 user(s)\n');
  assert.equal(await scalar(client, "SELECT string_agg(id || '=' || credits, ',' ORDER BY id) FROM users"), 'rich=5,u1=100,u2=100');
  assert.equal(await scalar(client, "SELECT count(*) FROM credit_transactions WHERE id LIKE 'seed_%' AND amount = 100 AND type = 'grant'"), '2');
  const second = cli(['seed-credits', '--amount=100', '--json'], { DATABASE_URL: db.url });
  assert.deepEqual(JSON.parse(second.stdout), { granted_users: 0, amount: 100 });
});

test('exit codes: bad input 2, unreachable database 6, missing schema 7', async () => {
  const zero = cli(['seed-credits', '--amount', '0', '--json'], { DATABASE_URL: db.url });
  assert.equal(zero.code, 2);
  assert.equal(JSON.parse(zero.stdout).error.code, 'invalid_amount');
  const none = cli(['verify']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^error\[invalid_request\]: no database configured/);
  const differing = cli(['verify'], { DATABASE_URL: db.url, AUTH_DATABASE_URL: `${db.url}_other` });
  assert.equal(differing.code, 2);
  assert.equal(cli(['frobnicate'], { DATABASE_URL: db.url }).code, 2);
  assert.equal(cli(['verify', '--bogus'], { DATABASE_URL: db.url }).code, 2);
  const down = cli(['verify', '--json'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' });
  assert.equal(down.code, 6);
  assert.equal(JSON.parse(down.stdout).error.code, 'database_unavailable');
  const missing = cli(['verify'], { DATABASE_URL: `${db.url}_missing_database` });
  assert.equal(missing.code, 6);
  const empty = await throwawayDatabase('cli_empty');
  try {
    const seeded = cli(['seed-credits', '--amount', '5', '--json'], { DATABASE_URL: empty.url });
    assert.equal(seeded.code, 7, seeded.stdout);
    assert.equal(JSON.parse(seeded.stdout).error.code, 'schema_not_ready');
  } finally {
    await empty.drop();
  }
});

test('sql up prints the migrations; rollback undoes and migrate re-applies', async () => {
  const up = cli(['sql', 'up', '--to', '0000']);
  assert.equal(up.code, 0);
  assert.equal(up.stdout, readFileSync(new URL('../../migrations/0000_nifty_bruce_banner.sql', import.meta.url), 'utf8') + '\n');
  const rolled = cli(['rollback', '--to', '0001_abandoned_human_fly'], { DATABASE_URL: db.url });
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.equal(rolled.stdout, `rolled back ${TAGS.slice(2).reverse().join(', ')}\n`);
  const reapplied = cli(['migrate'], { DATABASE_URL: db.url });
  assert.equal(reapplied.code, 0, reapplied.stdout);
  assert.ok(reapplied.stdout.split('\n').includes(`applied ${TAGS.slice(2).join(', ')}`), reapplied.stdout);
  assert.equal(cli(['--help']).code, 0);
});
