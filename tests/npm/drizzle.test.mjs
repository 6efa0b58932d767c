// `fltr-credits/drizzle` against the real tools. The package's drizzle-orm tables import in Node
// ESM; drizzle-kit generate (the repository's pinned drizzle-kit) turns them into a migration;
// drizzle-orm's own migrator applies it to one database, `npx fltr-credits migrate` applies our
// migrations/ to another, and `pg_dump -s` of both is the same schema: every table, column (and
// its order), type, default, NOT NULL, key, named foreign key with its actions, and index. The
// migrations' PL/pgSQL functions (0006) are dropped first: drizzle has no place for functions and
// drizzle-kit never creates or drops them. (REFERENCE §10: the least fragile proof that a drizzle
// schema equals migrations; drizzle-kit push and pull misreport multi-column indexes.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { eq, is } from 'drizzle-orm';
import * as schema from 'fltr-credits/drizzle';
import { throwawayDatabase, connect, user } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DRIZZLE_KIT = join(ROOT, 'node_modules/.bin/drizzle-kit');
const EXPORTED = fileURLToPath(import.meta.resolve('fltr-credits/drizzle'));
const TABLES = ['users', 'sessions', 'accounts', 'verifications', 'api_key_credits', 'credit_transactions', 'teams',
  'credit_idempotency_keys', 'credit_unfulfilled_purchases', 'credit_holds'];

let ours, theirs, out;

/** A scratch folder under target/, named relative to the root: drizzle-kit 0.31 takes `--out` relative to its cwd. */
function scratch(label) {
  mkdirSync(join(ROOT, 'target'), { recursive: true });
  return relative(ROOT, mkdtempSync(join(ROOT, 'target', `${label}-`)));
}

before(async () => {
  ours = await throwawayDatabase('drizzle_ours');
  theirs = await throwawayDatabase('drizzle_kit');
  out = scratch('drizzle-kit-out');
});

after(async () => {
  await ours?.drop();
  await theirs?.drop();
  if (out) rmSync(join(ROOT, out), { recursive: true, force: true });
});

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  // drizzle-kit reports on stderr as well as stdout.
  return `${result.stdout}${result.stderr}`;
}

/** `pg_dump -s` of the public schema, without comments, session settings and psql meta-commands. */
function schemaDump(url) {
  return run('pg_dump', ['--schema-only', '--schema=public', '--no-owner', '--no-privileges', url])
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('--') && !line.startsWith('SET ') && !line.startsWith('\\')
      && !line.startsWith('SELECT pg_catalog.set_config'));
}

test('fltr-credits/drizzle exports a drizzle-orm pgTable for every table the migrations create', () => {
  const tables = Object.values(schema).filter((value) => is(value, PgTable));
  assert.deepEqual(tables.map((table) => getTableConfig(table).name).sort(), [...TABLES].sort());
  const users = getTableConfig(schema.users);
  assert.deepEqual(users.foreignKeys.map((fk) => fk.getName()), ['users_team_id_teams_id_fk']);
  assert.equal(schema.creditTransactions.createdAt.name, 'created_at');
  assert.equal(schema.users.emailVerified.notNull, true);
});

test('drizzle-kit generate on the exported tables builds the same schema as fltr-credits migrate (pg_dump -s equal)', async () => {
  // Ours: the package's migrator (migrations/ as generated from the model).
  run('npx', ['--no-install', 'fltr-credits', 'migrate', '--database-url', ours.url], { cwd: fileURLToPath(new URL('.', import.meta.url)) });
  const client = await connect(ours.url);
  try {
    const { rows } = await client.query(
      "SELECT p.oid::regprocedure::text AS signature FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1",
    );
    assert.deepEqual(rows.map((row) => row.signature.split('(')[0]), ['credit_blocks_left', 'credit_blocks_take']);
    for (const { signature } of rows) await client.query(`DROP FUNCTION ${signature}`);
  } finally {
    await client.end();
  }

  // Theirs: drizzle-kit's migration for the exported tables, applied by drizzle-orm's migrator.
  const generated = run(DRIZZLE_KIT, ['generate', '--dialect=postgresql', `--schema=${EXPORTED}`, `--out=${out}`, '--name=fltr_credits'], { cwd: ROOT });
  const files = readdirSync(join(ROOT, out)).filter((name) => name.endsWith('.sql'));
  assert.deepEqual(files, ['0000_fltr_credits.sql']);
  const sql = readFileSync(join(ROOT, out, files[0]), 'utf8');
  assert.doesNotMatch(sql, /FUNCTION/);
  const pool = new pg.Pool({ connectionString: theirs.url });
  try {
    await migrate(drizzle(pool), { migrationsFolder: join(ROOT, out) });
  } finally {
    await pool.end();
  }

  const expected = schemaDump(ours.url);
  const actual = schemaDump(theirs.url);
  for (const table of TABLES) assert.ok(expected.includes(`CREATE TABLE public.${table} (`), table);
  assert.ok(expected.some((line) => line.includes('credit_transactions_team_id_teams_id_fk FOREIGN KEY (team_id) REFERENCES public.teams(id) ON DELETE SET NULL')));
  assert.ok(expected.some((line) => line.includes('CREATE INDEX credit_transactions_user_id_created_at_idx ON public.credit_transactions USING btree (user_id, created_at, id);')));
  assert.deepEqual(actual, expected);

  // And drizzle-kit, run again on its own output, finds nothing left to generate.
  const again = run(DRIZZLE_KIT, ['generate', '--dialect=postgresql', `--schema=${EXPORTED}`, `--out=${out}`], { cwd: ROOT });
  assert.match(again, /No schema changes, nothing to migrate/, again);
});

test('drizzle-kit generate on the exported tables against our migrations/ folder finds nothing to generate', () => {
  // A copy: drizzle-kit would write its migration into the folder it compares with.
  const folder = scratch('drizzle-kit-migrations');
  const path = join(ROOT, folder);
  try {
    cpSync(join(ROOT, 'migrations'), path, { recursive: true });
    const output = run(DRIZZLE_KIT, ['generate', '--dialect=postgresql', `--schema=${EXPORTED}`, `--out=${folder}`], { cwd: ROOT });
    assert.match(output, /No schema changes, nothing to migrate/, output);
    assert.deepEqual(readdirSync(path).sort(), readdirSync(join(ROOT, 'migrations')).sort(), 'nothing written');
    // The check has teeth: against the snapshot before the last migration, the last one's changes show.
    rmSync(join(path, 'meta', readdirSync(join(path, 'meta')).filter((name) => name.endsWith('_snapshot.json')).sort().at(-1)));
    const behind = run(DRIZZLE_KIT, ['generate', '--dialect=postgresql', `--schema=${EXPORTED}`, `--out=${folder}`, '--name=behind'], { cwd: ROOT });
    assert.doesNotMatch(behind, /No schema changes/, behind);
    const written = readdirSync(path).filter((name) => name.endsWith('_behind.sql'));
    assert.equal(written.length, 1, behind);
    assert.match(readFileSync(join(path, written[0]), 'utf8'), /ADD COLUMN "expiring_take" jsonb/);
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
});

test('a typed drizzle query on the exported tables reads and writes a migrated database', async () => {
  const client = await connect(ours.url);
  try {
    await user(client, 'drizzle_user', { credits: 7 });
    const db = drizzle(client, { schema });
    await db.insert(schema.creditTransactions).values({ id: 'ctx_drizzle_1', userId: 'drizzle_user', amount: 7, type: 'grant', createdAt: new Date('2026-02-03T04:05:06.789Z') });
    const rows = await db.select().from(schema.creditTransactions).where(eq(schema.creditTransactions.userId, 'drizzle_user'));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].amount, 7);
    assert.equal(rows[0].createdAt.toISOString(), '2026-02-03T04:05:06.789Z');
    assert.equal(rows[0].expiring, null);
    const [found] = await db.select({ credits: schema.users.credits, held: schema.users.heldCredits }).from(schema.users).where(eq(schema.users.id, 'drizzle_user'));
    assert.deepEqual(found, { credits: 7, held: 0 });
  } finally {
    await client.end();
  }
});
