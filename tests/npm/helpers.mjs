// Shared test support: a throwaway database per test file on the real Postgres, dropped after.
import pg from 'pg';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';

export const SERVER = process.env.FLTR_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
let counter = 0;

export async function admin(sql) {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `fltr_npm_<label>_<pid>_<n>`; returns { name, url, drop() }. */
export async function throwawayDatabase(label) {
  const name = `fltr_npm_${label}_${process.pid}_${counter++}`;
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin(`CREATE DATABASE "${name}"`);
  return { name, url: `${SERVER}/${name}`, drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

export async function connect(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

export async function user(client, id, { credits = 0, team = null } = {}) {
  await client.query("INSERT INTO users (id, name, email, team_id, credits) VALUES ($1, $1, $1 || '@example.com', $2, $3)", [id, team, credits]);
}

export async function team(client, id, owner, credits = 0) {
  await client.query('INSERT INTO teams (id, name, owner_id, credits, created_at, updated_at) VALUES ($1, $1, $2, $3, now(), now())', [id, owner, credits]);
}

/** The SHA-256 (hex) of an API key's secret: the only form the database keeps of it. */
export const keyHash = (secret) => createHash('sha256').update(secret).digest('hex');
/** The public id a key written the seed's way takes when adopted (shared/API.md "API keys"). */
export const legacyId = (secret) => `key_${keyHash(secret).slice(0, 20)}`;

/** A key row written the seed's way: the secret in plain text in `api_key_credits.api_key`. It is
 * hashed at its first use, after which `WHERE api_key = <secret>` finds nothing: query by
 * `keyHash(secret)` or `legacyId(secret)`. */
export async function apiKey(client, key, owner, { daily = null, monthly = null } = {}) {
  await client.query(
    'INSERT INTO api_key_credits (api_key, user_id, daily_limit, monthly_limit, created_at, updated_at) VALUES ($1, $2, $3, $4, now(), now())',
    [key, owner, daily, monthly],
  );
}

export async function session(client, token, userId, { expiresInSeconds = 3600 } = {}) {
  await client.query(
    "INSERT INTO sessions (id, token, user_id, expires_at, updated_at) VALUES ($1, $1, $2, (now() at time zone 'utc') + make_interval(secs => $3), now())",
    [token, userId, expiresInSeconds],
  );
}

export async function scalar(client, sql, params = []) {
  const { rows } = await client.query(`SELECT (${sql})::text AS v`, params);
  return rows[0].v;
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}
