// fltr-credits/better-auth: a Better Auth (1.7.x) server plugin for FLTR's credits.
//   import { credits } from 'fltr-credits/better-auth';
//   betterAuth({ database: pool, plugins: [credits()] });
//
// 1. Declares the three `users` columns of the credit schema (credits, team_id,
//    total_credits_purchased) as Better Auth user fields, so its adapters read and write them,
//    `getSession` returns them and its CLI (`getMigrations`) knows them. None is accepted as input.
// 2. Grants `startingCredits` (default 100; 0 turns it off) to every new user through the engine's
//    `grant` (one `grant` ledger row, idempotency key `signup:<user id>`).
//    Where: Better Auth 1.7 creates the user and its first account in ONE transaction and runs the
//    `*.create.after` hooks only after COMMIT. So the grant runs in `account.create.before`, on the
//    transaction's own connection: it commits or rolls back with the user row. The connection is
//    found by watching which pooled pg client runs the transaction's statements (the pool's
//    `acquire` event and the adapter store Better Auth keeps in an AsyncLocalStorage). When that is
//    impossible (no pg Pool shared with Better Auth, an adapter without transactions, a sign-up
//    that creates no account row), the grant runs in `user.create.after`, after the commit, and is
//    retried (same idempotency key, so a retry never grants twice).
// 3. Adds `available` (and the engine's `credits`) to the session user of `/get-session` and
//    `auth.api.getSession`: one `balance` statement per call (`sessionBalance: false`: none, and
//    `session.user.credits` is the column as Better Auth read it).
import { createCredits } from './node.js';

const BETTER_AUTH_GLOBAL = Symbol.for('better-auth:global');
const TRACKED = Symbol('fltr-credits:tracked');
const GRANT_ATTEMPTS_MAX = 3;
const GRANT_RETRY_DELAY_MS = 200;
const AMOUNT_MAX = 2147483647;

/** The Better Auth transaction store → the pg client running it, and whether it creates a user. */
const transactions = new WeakMap();

/** A configuration error: a CreditError-shaped `invalid_request`, raised when the plugin is built. */
function invalid(message) {
  const error = new Error(`fltr-credits/better-auth: ${message}`);
  error.name = 'CreditError';
  error.code = 'invalid_request';
  error.status = 400;
  return error;
}

/** Better Auth's current adapter store (its AsyncLocalStorage), or undefined outside of one. */
function currentStore() {
  return globalThis[BETTER_AUTH_GLOBAL]?.context?.adapterAsyncStorage?.getStore();
}

/**
 * Remembers, for each Better Auth transaction, the pooled client its statements run on: the client
 * of its first statement, fixed from then on. Another query made in the same async context straight
 * on the pool (another plugin's hook doing `pool.query(…)`) runs on another client and must never
 * be taken for the transaction's, or the grant would run outside it (or inside another request's).
 */
function track(client) {
  if (client[TRACKED]) return;
  const query = client.query;
  client.query = function trackedQuery(...args) {
    const store = currentStore();
    if (store?.isTransactionActive) {
      // The first statement Better Auth runs in its transaction's context is on the
      // transaction's client (its `BEGIN` runs before the context is set): it names it for good.
      if (!transactions.has(store)) transactions.set(store, { client: this, creatingUser: false });
    }
    return query.apply(this, args);
  };
  client[TRACKED] = true;
}

function isQueryable(value) {
  return value != null && typeof value.query === 'function';
}

function isPool(value) {
  return isQueryable(value) && typeof value.connect === 'function' && typeof value.on === 'function';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The plugin. Options:
 * - `database`: a pg `Pool`/`Client` or anything with `query(text, params)`; default: Better Auth's
 *   own `database` when it is a pg Pool. Give the SAME Pool Better Auth (or its drizzle instance)
 *   uses for the grant to join the user's transaction.
 * - `startingCredits`: credits for each new user (default 100; 0: none, no hook is installed).
 * - `sessionBalance`: add `credits`/`available` from the engine to the session (default true; one
 *   query per `getSession`).
 */
export function credits(options = {}) {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  const known = ['database', 'startingCredits', 'sessionBalance'];
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw invalid(`unknown option ${JSON.stringify(name)} (known: ${known.join(', ')})`);
  }
  const startingCredits = options.startingCredits ?? 100;
  if (!Number.isSafeInteger(startingCredits) || startingCredits < 0 || startingCredits > AMOUNT_MAX) {
    throw invalid(`startingCredits must be an integer from 0 to ${AMOUNT_MAX}, got ${String(startingCredits)}`);
  }
  if (options.database !== undefined && !isQueryable(options.database)) {
    throw invalid('database must be a pg Pool/Client or an object with query(text, params)');
  }
  const sessionBalance = options.sessionBalance ?? true;
  if (typeof sessionBalance !== 'boolean') throw invalid('sessionBalance must be true or false');

  let engine = null;
  let logger = console;
  /** Whether this plugin's database is the pool Better Auth's transactions run on. */
  let joinsTransactions = false;
  /** Users granted inside their creating transaction, skipped by the after-commit hook. */
  const grantedInTransaction = new Set();

  const grantFor = (target, userId) =>
    target.grant({ userId, amount: startingCredits, operation: 'signup', idempotencyKey: `signup:${userId}` });

  const databaseHooks = {
    user: {
      create: {
        // Inside the transaction, before the users insert: remember that this one creates a user.
        before: async () => {
          const store = currentStore();
          if (!store?.isTransactionActive) return;
          const entry = transactions.get(store);
          if (entry) entry.creatingUser = true;
          else transactions.set(store, { client: null, creatingUser: true });
        },
        // After COMMIT: only when the grant could not join the transaction.
        after: async (user) => {
          if (!user?.id) return;
          if (grantedInTransaction.delete(user.id)) return;
          for (let attempt = 1; ; attempt += 1) {
            try {
              await grantFor(engine, user.id);
              return;
            } catch (error) {
              const transient = error?.code === 'database_unavailable' || error?.code === 'internal';
              if (!transient || attempt >= GRANT_ATTEMPTS_MAX) {
                logger.error?.(`fltr-credits/better-auth: starting credits for user ${user.id} not granted: ${error?.code ?? ''} ${error?.message ?? error}`);
                throw error;
              }
              await sleep(GRANT_RETRY_DELAY_MS * attempt);
            }
          }
        },
      },
    },
    account: {
      create: {
        // Inside the sign-up transaction, after the users insert: the atomic grant.
        before: async (account) => {
          if (!joinsTransactions) return;
          const store = currentStore();
          const entry = store?.isTransactionActive ? transactions.get(store) : undefined;
          if (!entry?.creatingUser || !entry.client || !account?.userId) return;
          if (entry.granted === account.userId) return;
          const client = entry.client;
          await grantFor(createCredits({ query: (text, params) => client.query(text, params) }), account.userId);
          entry.granted = account.userId;
          grantedInTransaction.add(account.userId);
        },
      },
    },
  };

  const sessionHook = {
    matcher: (context) => context.path === '/get-session',
    handler: async (context) => {
      const returned = context.context?.returned;
      const user = returned && typeof returned === 'object' && !(returned instanceof Response) ? returned.user : null;
      if (!user?.id) return {};
      try {
        const balance = await engine.balance({ userId: user.id });
        const updated = { ...user, credits: balance.user.credits, available: balance.user.available };
        if (balance.team) {
          updated.teamCredits = balance.team.credits;
          updated.teamAvailable = balance.team.available;
        }
        return { response: { ...returned, user: updated } };
      } catch (error) {
        // A session must not fail because the balance could not be read: `available` is null then.
        logger.error?.(`fltr-credits/better-auth: balance of user ${user.id} not read: ${error?.code ?? ''} ${error?.message ?? error}`);
        return { response: { ...returned, user: { ...user, available: null } } };
      }
    },
  };

  return {
    id: 'fltr-credits',
    schema: {
      user: {
        fields: {
          credits: { type: 'number', fieldName: 'credits', required: false, input: false, defaultValue: 0, returned: true },
          teamId: { type: 'string', fieldName: 'team_id', required: false, input: false, returned: true },
          totalCreditsPurchased: {
            type: 'number',
            fieldName: 'total_credits_purchased',
            required: false,
            input: false,
            defaultValue: 0,
            returned: true,
          },
        },
      },
    },
    init(context) {
      if (context?.logger) logger = context.logger;
      const own = context?.options?.database;
      const database = options.database ?? (isQueryable(own) ? own : undefined);
      if (!database) {
        throw invalid("Better Auth's database is not a pg Pool: pass credits({ database }) (the pg Pool your adapter uses, or { query(text, params) })");
      }
      engine = createCredits(database);
      // The grant joins the user's transaction only on the pool Better Auth's transactions run on,
      // and only when its adapter has real transactions.
      const transactional = context?.adapter?.options?.adapterConfig?.transaction !== false;
      joinsTransactions = startingCredits > 0 && transactional && isPool(database);
      if (joinsTransactions && !database[TRACKED]) {
        database.on('acquire', track);
        database[TRACKED] = true;
      }
      return startingCredits > 0 ? { options: { databaseHooks } } : {};
    },
    hooks: { after: sessionBalance ? [sessionHook] : [] },
  };
}
