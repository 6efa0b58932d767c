// fltr-credits/better-auth with the real better-auth (1.7, the repository's root devDependency)
// over the real Postgres, configured as FLTR configures it (plural tables, snake_case columns, a pg
// Pool): Better Auth knows the three `users` columns (its adapter, getSession and its CLI's
// getMigrations); every sign-up gets its starting credits and exactly one `grant` row, inside the
// sign-up transaction (a grant that fails leaves no user behind); concurrent sign-ups; retried
// hooks grant nothing more; the after-commit fallback retries a failed grant; the session carries
// `credits` and `available` for one query.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, copyFileSync } from 'node:fs';
import pg from 'pg';
import { createCredits } from 'fltr-credits/node.js';
import { throwawayDatabase, connect, scalar, rejection, team } from './helpers.mjs';

const SECRET = 'better-auth-plugin-test-secret-0123456789abcdef';
let db, client, pool, credits, plugin;

/** `fltr-credits/better-auth` from the installed (packed) package. Until its package.json exports
 * it, the hand-written file is copied into the installed package and imported by path. */
async function loadPlugin() {
  const installed = new URL('./node_modules/fltr-credits/', import.meta.url);
  const manifest = JSON.parse(readFileSync(new URL('package.json', installed), 'utf8'));
  if (manifest.exports?.['./better-auth']) return import('fltr-credits/better-auth');
  copyFileSync(new URL('../../npm/better-auth.js', import.meta.url), new URL('better-auth.js', installed));
  return import(new URL('better-auth.js', installed).href);
}

const tables = {
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
};

/** FLTR's Better Auth configuration (tests/worker/harness.mjs makeAuth) plus the plugin. */
async function authOptions(database, plugins) {
  const { bearer } = await import('better-auth/plugins');
  return {
    database,
    secret: SECRET,
    baseURL: 'http://localhost:3000',
    emailAndPassword: { enabled: true },
    plugins: [bearer(), ...plugins],
    telemetry: { enabled: false },
    logger: { disabled: true },
    ...tables,
  };
}

async function makeAuth(database, plugins) {
  const { betterAuth } = await import('better-auth');
  return betterAuth(await authOptions(database, plugins));
}

let counter = 0;
async function signUp(auth, extra = {}) {
  const email = `user${counter++}_${process.pid}@example.com`;
  const result = await auth.api.signUpEmail({ body: { email, password: 'correct-horse-battery-staple', name: 'U', ...extra } });
  return { ...result, email };
}

const bearerHeaders = (token) => new Headers({ authorization: `Bearer ${token}` });
const balanceOf = async (id) => Number(await scalar(client, 'SELECT credits FROM users WHERE id = $1', [id]));
/** Whether the sign-up's account row and the grant row were written by the same transaction (same
 * xmin; the users row itself is rewritten by the grant, so it always shares the grant's). */
const sameTransaction = async (id) =>
  (await scalar(client, "SELECT bool_and(a.xmin::text = t.xmin::text) FROM accounts a JOIN credit_transactions t ON t.user_id = a.user_id AND t.type = 'grant' WHERE a.user_id = $1", [id])) === 'true';
const grants = async (id) =>
  (await client.query("SELECT amount, operation FROM credit_transactions WHERE user_id = $1 AND type = 'grant'", [id])).rows;

before(async () => {
  db = await throwawayDatabase('better_auth');
  client = await connect(db.url);
  credits = createCredits(client);
  assert.deepEqual((await credits.migrate()).drift, []);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  plugin = await loadPlugin();
});

after(async () => {
  try {
    if (client) {
      // balance == Σ ledger for every user.
      const drift = await scalar(client, `SELECT count(*) FROM users u WHERE u.credits <> coalesce((SELECT sum(t.amount)
        FROM credit_transactions t WHERE t.user_id = u.id AND t.team_id IS NULL AND t.api_key_id IS NULL), 0)`);
      assert.equal(Number(drift), 0);
    }
  } finally {
    await pool?.end();
    await client?.end();
    await db?.drop();
  }
});

test("Better Auth's CLI knows the three users columns: nothing to add on a migrated database, created on an empty one", async () => {
  const { getMigrations } = await import('better-auth/db/migration');
  const migrated = await getMigrations(await authOptions(pool, [plugin.credits()]));
  assert.deepEqual(migrated.toBeAdded.filter((t) => t.table === 'users'), []);
  assert.deepEqual(migrated.toBeCreated, []);

  const empty = await throwawayDatabase('better_auth_empty');
  const emptyPool = new pg.Pool({ connectionString: empty.url, max: 1 });
  try {
    const fresh = await getMigrations(await authOptions(emptyPool, [plugin.credits()]));
    const users = fresh.toBeCreated.find((t) => t.table === 'users');
    assert.ok(users, 'users is created on an empty database');
    for (const column of ['credits', 'team_id', 'total_credits_purchased']) {
      assert.ok(Object.values(users.fields).some((f) => f.fieldName === column), `users.${column} is declared`);
    }
  } finally {
    await emptyPool.end();
    await empty.drop();
  }
});

test('sign-up grants 100 credits with one grant row (key signup:<id>); the session shows credits and available; credits are not input', async () => {
  const auth = await makeAuth(pool, [plugin.credits()]);
  const { user, token } = await signUp(auth, { credits: 999999 });
  assert.equal(await balanceOf(user.id), 100);
  assert.deepEqual(await grants(user.id), [{ amount: 100, operation: 'signup' }]);
  assert.equal(Number(await scalar(client, "SELECT count(*) FROM credit_transactions WHERE user_id = $1", [user.id])), 1);
  assert.equal(await sameTransaction(user.id), true, 'the grant committed with the user row');
  assert.equal(
    await scalar(client, "SELECT idempotency_key FROM credit_idempotency_keys WHERE account_kind = 'user' AND account_id = $1", [user.id]),
    `grant:signup:${user.id}`,
  );
  const session = await auth.api.getSession({ headers: bearerHeaders(token) });
  assert.equal(session.user.credits, 100);
  assert.equal(session.user.available, 100);
  assert.equal(session.user.totalCreditsPurchased, 0);
  assert.equal(session.user.teamId ?? null, null);
  // A hold lowers `available`, never `credits`.
  await credits.hold({ userId: user.id, amount: 30, operation: 'llm.call' });
  const held = await auth.api.getSession({ headers: bearerHeaders(token) });
  assert.deepEqual([held.user.credits, held.user.available], [100, 70]);
  // Credits cannot be set through Better Auth's own endpoints.
  const error = await rejection(auth.api.updateUser({ body: { credits: 5000 }, headers: bearerHeaders(token) }));
  assert.equal(error.statusCode ?? error.status, 400);
  assert.equal(await balanceOf(user.id), 100);
});

test("another plugin's query straight on the pool during sign-up does not move the grant out of the sign-up transaction", async () => {
  // Better Auth runs plugin hooks before the app's: this one queries the pool (another client)
  // inside the sign-up's context, right before the plugin's in-transaction grant.
  const audit = {
    id: 'audit',
    init: () => ({ options: { databaseHooks: { account: { create: { before: async (account) => {
      await pool.query('SELECT 1');
      return { data: account };
    } } } } } }),
  };
  const auth = await makeAuth(pool, [audit, plugin.credits()]);
  const signedUp = await Promise.all([signUp(auth), signUp(auth), signUp(auth)]);
  for (const { user } of signedUp) {
    assert.equal(await balanceOf(user.id), 100);
    assert.deepEqual(await grants(user.id), [{ amount: 100, operation: 'signup' }]);
    assert.equal(await sameTransaction(user.id), true, 'the grant committed with the user row');
  }
});

test('a team member session also shows the team pool', async () => {
  const auth = await makeAuth(pool, [plugin.credits()]);
  const { user, token } = await signUp(auth);
  await team(client, `team_${user.id}`, user.id, 500);
  await client.query('UPDATE users SET team_id = $1 WHERE id = $2', [`team_${user.id}`, user.id]);
  const session = await auth.api.getSession({ headers: bearerHeaders(token) });
  assert.deepEqual(
    [session.user.teamId, session.user.credits, session.user.available, session.user.teamCredits, session.user.teamAvailable],
    [`team_${user.id}`, 100, 100, 500, 500],
  );
});

test('the grant runs inside the sign-up transaction: when it fails, no user, account or session is left', async () => {
  const auth = await makeAuth(pool, [plugin.credits()]);
  await client.query(`CREATE FUNCTION fail_signup_grant() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.operation = 'signup' AND (SELECT email FROM users WHERE id = NEW.user_id) LIKE 'doomed%' THEN
        RAISE EXCEPTION 'injected grant failure';
      END IF;
      RETURN NEW;
    END $$`);
  await client.query('CREATE TRIGGER fail_signup_grant BEFORE INSERT ON credit_transactions FOR EACH ROW EXECUTE FUNCTION fail_signup_grant()');
  const email = `doomed_${process.pid}@example.com`;
  const body = { email, password: 'correct-horse-battery-staple', name: 'D' };
  try {
    await rejection(auth.api.signUpEmail({ body }));
    assert.equal(Number(await scalar(client, 'SELECT count(*) FROM users WHERE email = $1', [email])), 0);
    assert.equal(Number(await scalar(client, 'SELECT count(*) FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.email = $1', [email])), 0);
  } finally {
    await client.query('DROP TRIGGER fail_signup_grant ON credit_transactions');
    await client.query('DROP FUNCTION fail_signup_grant()');
  }
  // The same sign-up, retried once the fault is gone, gets its credits.
  const { user } = await auth.api.signUpEmail({ body });
  assert.equal(await balanceOf(user.id), 100);
  assert.equal((await grants(user.id)).length, 1);
});

test('concurrent sign-ups of different users (more than the pool has connections) each get 100 credits and one grant row', async () => {
  const auth = await makeAuth(pool, [plugin.credits()]);
  const users = await Promise.all(Array.from({ length: 12 }, () => signUp(auth)));
  for (const { user } of users) {
    assert.equal(await balanceOf(user.id), 100);
    assert.equal(await sameTransaction(user.id), true);
    assert.deepEqual(await grants(user.id), [{ amount: 100, operation: 'signup' }]);
  }
});

test('a retried hook grants nothing more: the after-commit hook and the in-transaction grant replay signup:<id>', async () => {
  const instance = plugin.credits();
  const auth = await makeAuth(pool, [instance]);
  const { user } = await signUp(auth);
  const { options } = instance.init(await auth.$context);
  await options.databaseHooks.user.create.after(user);
  await options.databaseHooks.user.create.after(user);
  assert.equal(await balanceOf(user.id), 100);
  assert.equal((await grants(user.id)).length, 1);
});

test('without a pool shared with Better Auth the grant runs after the commit, retries a failed attempt, and grants once', async () => {
  let failures = 1;
  const flaky = {
    query(text, params) {
      if (/credit_transactions/.test(text) && /'grant'/.test(text) && failures > 0) {
        failures -= 1;
        return Promise.reject(Object.assign(new Error('Connection terminated unexpectedly'), {}));
      }
      return pool.query(text, params);
    },
  };
  const instance = plugin.credits({ database: flaky });
  const auth = await makeAuth(pool, [instance]);
  const { user } = await signUp(auth);
  assert.equal(failures, 0, 'the first grant attempt failed');
  assert.equal(await balanceOf(user.id), 100);
  assert.equal(await sameTransaction(user.id), false, 'granted after the commit');
  assert.equal((await grants(user.id)).length, 1);
  // A retried hook (Better Auth re-running it, or a second call) replays.
  const { options } = instance.init(await auth.$context);
  await options.databaseHooks.user.create.after(user);
  assert.equal((await grants(user.id)).length, 1);
});

test("with Better Auth's drizzle adapter (transaction: true) and credits({ database: pool }) the grant joins the sign-up transaction", async () => {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { pgTable, text, boolean, timestamp, integer } = await import('drizzle-orm/pg-core');
  const { drizzleAdapter } = await import('better-auth/adapters/drizzle');
  const { betterAuth } = await import('better-auth');
  // Drizzle tables keyed by column name, as Better Auth's field mapping names them.
  const columns = (spec) => Object.fromEntries(Object.entries(spec).map(([name, make]) => [name, make(name)]));
  const t = (name) => text(name);
  const nn = (make) => (name) => make(name).notNull();
  const schema = {
    users: pgTable('users', columns({ id: nn(t), name: nn(t), email: nn(t), email_verified: nn(boolean), image: t, created_at: nn(timestamp),
      updated_at: nn(timestamp), credits: nn(integer), team_id: t, total_credits_purchased: nn(integer) })),
    sessions: pgTable('sessions', columns({ id: nn(t), expires_at: nn(timestamp), token: nn(t), created_at: nn(timestamp), updated_at: nn(timestamp),
      ip_address: t, user_agent: t, user_id: nn(t) })),
    accounts: pgTable('accounts', columns({ id: nn(t), account_id: nn(t), provider_id: nn(t), user_id: nn(t), access_token: t, refresh_token: t,
      id_token: t, access_token_expires_at: timestamp, refresh_token_expires_at: timestamp, scope: t, password: t, created_at: nn(timestamp),
      updated_at: nn(timestamp) })),
    verifications: pgTable('verifications', columns({ id: nn(t), identifier: nn(t), value: nn(t), expires_at: nn(timestamp), created_at: timestamp,
      updated_at: timestamp })),
  };
  const options = await authOptions(drizzleAdapter(drizzle(pool), { provider: 'pg', transaction: true, schema }), [plugin.credits({ database: pool })]);
  const auth = betterAuth(options);
  const { user } = await signUp(auth);
  assert.equal(await balanceOf(user.id), 100);
  assert.deepEqual(await grants(user.id), [{ amount: 100, operation: 'signup' }]);
  assert.equal(await sameTransaction(user.id), true);
});

test('startingCredits: 0 grants nothing; sessionBalance: false reads the column with no extra query', async () => {
  const counted = new pg.Pool({ connectionString: db.url, max: 2 });
  let statements = 0;
  counted.on('acquire', (c) => {
    if (c.counted) return;
    const query = c.query;
    c.query = function (...args) {
      statements += 1;
      return query.apply(this, args);
    };
    c.counted = true;
  });
  try {
    const quiet = await makeAuth(counted, [plugin.credits({ startingCredits: 0, sessionBalance: false })]);
    const { user, token } = await signUp(quiet);
    assert.equal(await balanceOf(user.id), 0);
    assert.deepEqual(await grants(user.id), []);
    await credits.grant({ userId: user.id, amount: 7 });
    await quiet.api.getSession({ headers: bearerHeaders(token) }); // warm: schema check, first reads
    statements = 0;
    const plain = await quiet.api.getSession({ headers: bearerHeaders(token) });
    const without = statements;
    assert.equal(plain.user.credits, 7);
    assert.equal('available' in plain.user, false);

    const loud = await makeAuth(counted, [plugin.credits({ startingCredits: 0 })]);
    await loud.api.getSession({ headers: bearerHeaders(token) });
    statements = 0;
    const rich = await loud.api.getSession({ headers: bearerHeaders(token) });
    const withBalance = statements;
    assert.deepEqual([rich.user.credits, rich.user.available], [7, 7]);
    assert.equal(withBalance - without, 1, `getSession: ${without} statements, ${withBalance} with the balance`);
    console.log(`# getSession statements: ${without} without the balance, ${withBalance} with it`);
  } finally {
    await counted.end();
  }
});

test('bad plugin options are refused with invalid_request', () => {
  for (const options of [{ startingCredits: -1 }, { startingCredits: 1.5 }, { startingCredits: 2 ** 31 }, { database: {} }, { sessionBalance: 'yes' }, { startCredits: 5 }]) {
    assert.throws(() => plugin.credits(options), (e) => e.code === 'invalid_request' && e.name === 'CreditError', JSON.stringify(options));
  }
});
