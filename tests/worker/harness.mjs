// The e2e harness: a throwaway Postgres database (migrated with the real CLI), the built Worker
// under `wrangler dev` (workerd) reaching it through the Hyperdrive binding, Better Auth sessions
// made by the `better-auth` library against our schema, and Stripe signatures from `stripe`.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

process.env.TZ = 'UTC'; // node-postgres writes Dates in local time into `timestamp` columns: keep them UTC.

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SECRETS = {
  BETTER_AUTH_SECRET: 'e2e-better-auth-secret-0123456789abcdefghijkl',
  STRIPE_WEBHOOK_SECRET: 'whsec_e2e_0123456789',
  ADMIN_TOKEN: 'e2e-admin-token-0123456789abcdef',
  SERVICE_TOKEN: 'e2e-service-token-0123456789abcdef',
};
export const ORIGIN = 'https://app.example';
const SERVER = process.env.FLTR_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Hyperdrive's local binding insists on a password; trust auth ignores it. */
function withPassword(url) {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = 'postgres';
  if (!parsed.username) parsed.username = 'postgres';
  return parsed;
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await client.connect();
  try { await client.query(sql); } finally { await client.end(); }
}

/** The cron schedules of the repository's wrangler.toml (`[triggers] crons`), as written there. */
export function crons() {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const found = /^\[triggers\][^[]*?^crons\s*=\s*(\[[^\]]*\])/m.exec(toml);
  if (!found) throw new Error('wrangler.toml has no [triggers] crons');
  return JSON.parse(found[1]);
}

/** Runs `worker`'s scheduled handler once, as the cron trigger would (started with `scheduled: true`). */
export async function runCron(worker) {
  const [cron] = crons();
  const response = await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent(cron).replace(/%20/g, '+')}`);
  if (response.status !== 200) throw new Error(`scheduled handler answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer().catch(() => {});
}

/** Waits (up to 5 s) for `worker`'s wrangler output to show `pattern`: a Worker's log line may
 * reach it after the answer that ended the invocation. Returns the output. */
export async function logged(worker, pattern) {
  const deadline = Date.now() + 5000;
  while (!pattern.test(worker.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return worker.output();
}

/** Starts everything; returns { base, pool, databaseUrl, database, stop }. `vars` are extra
 * [vars] of the Worker (e.g. short DB_LOCK_TIMEOUT_MS for the timeout tests). `scheduled: true`
 * adds the repository's cron triggers and `--test-scheduled`, so `GET /__scheduled?cron=…` runs
 * the Worker's scheduled handler once (wrangler dev never fires crons by itself). `logLevel: 'log'`
 * keeps the Worker's console.log lines in `output()` (wrangler drops them at the default `warn`). */
export async function startWorker(label, { hyperdriveUrl, vars = {}, scheduled = false, logLevel = 'warn' } = {}) {
  const database = `fltr_worker_e2e_${label}_${process.pid}`;
  await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin(`CREATE DATABASE "${database}"`);
  const databaseUrl = `${SERVER}/${database}`;
  const cli = process.env.FLTR_CLI ?? join(ROOT, 'target/debug/fltr-credits');
  execFileSync(cli, ['migrate', '--database-url', databaseUrl], { stdio: 'pipe' });

  const wasm = join(ROOT, 'build/index.js');
  if (!existsSync(wasm)) throw new Error('build/index.js is missing: run scripts/test-worker.sh (it builds the Worker first)');
  const dir = mkdtempSync(join(tmpdir(), 'fltr-worker-e2e-'));
  // `hyperdriveUrl` (benchmarks) points the binding elsewhere, e.g. a pooler in front of the database.
  const hyperdrive = withPassword(hyperdriveUrl ? hyperdriveUrl.replace('{database}', database) : databaseUrl);
  hyperdrive.searchParams.set('sslmode', 'disable');
  // No [build] here: the Worker is built once by scripts/test-worker.sh, and wrangler does not
  // watch src/ (other work in the tree must not restart the Worker mid-test).
  writeFileSync(join(dir, 'wrangler.toml'), [
    'name = "fltr-credits-e2e"',
    `main = ${JSON.stringify(wasm)}`,
    'compatibility_date = "2026-04-01"',
    '[[hyperdrive]]',
    'binding = "HYPERDRIVE"',
    'id = "00000000000000000000000000000000"',
    `localConnectionString = ${JSON.stringify(hyperdrive.toString())}`,
    ...(scheduled ? ['[triggers]', `crons = ${JSON.stringify(crons())}`] : []),
    '[vars]',
    `CORS_ORIGINS = ${JSON.stringify(JSON.stringify([ORIGIN]))}`,
    ...Object.entries(vars).map(([name, value]) => `${name} = ${JSON.stringify(String(value))}`),
    '',
  ].join('\n'));
  writeFileSync(join(dir, '.dev.vars'), Object.entries(SECRETS).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  const port = await freePort();
  const child = spawn(join(ROOT, 'node_modules/.bin/wrangler'), [
    'dev', '-c', join(dir, 'wrangler.toml'), '--env-file', join(dir, '.dev.vars'), '--ip', '127.0.0.1', '--port', String(port),
    '--persist-to', join(dir, 'state'), '--show-interactive-dev-session=false', '--log-level', logLevel,
    ...(scheduled ? ['--test-scheduled'] : []),
  ], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' } });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
    try {
      const response = await fetch(`${base}/no-such-route`);
      if (response.status === 404) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      process.kill(-child.pid, 'SIGTERM');
      throw new Error(`wrangler dev not ready in 90 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const stop = async () => {
    await pool.end().catch(() => {});
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  return { base, pool, database, databaseUrl, stop, output: () => output };
}

/** Better Auth on our schema: plural table names, snake_case columns (REFERENCE §5). */
export async function makeAuth(pool) {
  const { betterAuth } = await import('better-auth');
  const { bearer } = await import('better-auth/plugins');
  return betterAuth({
    database: pool,
    secret: SECRETS.BETTER_AUTH_SECRET,
    baseURL: 'http://localhost:3000',
    emailAndPassword: { enabled: true },
    plugins: [bearer()],
    telemetry: { enabled: false },
    user: { modelName: 'users', fields: { emailVerified: 'email_verified', createdAt: 'created_at', updatedAt: 'updated_at' } },
    session: {
      modelName: 'sessions',
      fields: { expiresAt: 'expires_at', createdAt: 'created_at', updatedAt: 'updated_at', ipAddress: 'ip_address', userAgent: 'user_agent', userId: 'user_id' },
    },
    account: {
      modelName: 'accounts',
      fields: {
        accountId: 'account_id', providerId: 'provider_id', userId: 'user_id', accessToken: 'access_token', refreshToken: 'refresh_token',
        idToken: 'id_token', accessTokenExpiresAt: 'access_token_expires_at', refreshTokenExpiresAt: 'refresh_token_expires_at',
        createdAt: 'created_at', updatedAt: 'updated_at',
      },
    },
    verification: { modelName: 'verifications', fields: { expiresAt: 'expires_at', createdAt: 'created_at', updatedAt: 'updated_at' } },
  });
}

/** Signs up a user through Better Auth; returns { userId, token, cookie } (cookie: the signed Set-Cookie value). */
export async function signUp(auth, email) {
  const password = 'correct-horse-battery-staple';
  const created = await auth.api.signUpEmail({ body: { email, password, name: email.split('@')[0] } });
  const response = await auth.api.signInEmail({ body: { email, password }, asResponse: true });
  const setCookie = response.headers.get('set-cookie') ?? '';
  const match = /better-auth\.session_token=([^;]+)/.exec(setCookie);
  if (!match) throw new Error(`no session cookie in ${setCookie}`);
  return { userId: created.user.id, token: created.token, cookie: match[1] };
}

export async function signStripe(payload, options = {}) {
  const { default: Stripe } = await import('stripe');
  const stripe = new Stripe('sk_test_e2e_not_used');
  return stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? SECRETS.STRIPE_WEBHOOK_SECRET, timestamp: options.timestamp });
}

/** What the database keeps of an API key's secret: the lowercase hex SHA-256 (`key_hash`). */
export const keyHash = (secret) => createHash('sha256').update(secret, 'utf8').digest('hex');

/** The public id a key written the seed's way (its secret in `api_key_credits.api_key`) takes when
 * it is adopted at first use: `key_` + the first 20 hex digits of the secret's SHA-256. */
export const legacyKeyId = (secret) => `key_${keyHash(secret).slice(0, 20)}`;

/** Writes a key row the seed's way: the secret itself in `api_key_credits.api_key`, no hash (an
 * older FLTR app does this). It authenticates, and is moved to hashed form by its first use. */
export async function seedKey(pool, secret, userId, { dailyLimit = null, monthlyLimit = null, teamId = null } = {}) {
  await pool.query(
    `INSERT INTO api_key_credits (api_key, user_id, team_id, daily_limit, monthly_limit, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, now(), now())`,
    [secret, userId, teamId, dailyLimit, monthlyLimit],
  );
  return legacyKeyId(secret);
}

/** fetch with JSON in and out; returns { status, headers, body }. */
export async function call(base, path, { method = 'GET', body, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] ??= 'application/json';
  }
  if (raw !== undefined) init.body = raw;
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: response.status, headers: response.headers, body: parsed };
}
