// Review of fltr-credits/better-auth as an attacker (issue 13): a sign-up or profile update cannot
// choose the user's id, credits, purchased total or team (team_id decides who may spend a team pool).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createCredits } from 'fltr-credits/node.js';
import { throwawayDatabase, connect, scalar, rejection, team } from './helpers.mjs';

const SECRET = 'better-auth-attack-test-secret-0123456789abcdef';
const tables = {
  user: { modelName: 'users', fields: { emailVerified: 'email_verified', createdAt: 'created_at', updatedAt: 'updated_at' } },
  session: { modelName: 'sessions', fields: { expiresAt: 'expires_at', createdAt: 'created_at', updatedAt: 'updated_at', ipAddress: 'ip_address', userAgent: 'user_agent', userId: 'user_id' } },
  account: { modelName: 'accounts', fields: { accountId: 'account_id', providerId: 'provider_id', userId: 'user_id', accessToken: 'access_token', refreshToken: 'refresh_token', idToken: 'id_token', accessTokenExpiresAt: 'access_token_expires_at', refreshTokenExpiresAt: 'refresh_token_expires_at', createdAt: 'created_at', updatedAt: 'updated_at' } },
  verification: { modelName: 'verifications', fields: { expiresAt: 'expires_at', createdAt: 'created_at', updatedAt: 'updated_at' } },
};
let db, client, pool, auth;

before(async () => {
  db = await throwawayDatabase('ba_attacks');
  client = await connect(db.url);
  await createCredits(client).migrate();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const { credits } = await import('fltr-credits/better-auth');
  const { bearer } = await import('better-auth/plugins');
  const { betterAuth } = await import('better-auth');
  auth = betterAuth({
    database: pool, secret: SECRET, baseURL: 'http://localhost:3000', emailAndPassword: { enabled: true },
    telemetry: { enabled: false }, logger: { disabled: true }, plugins: [bearer(), credits()], ...tables,
  });
});

after(async () => {
  await pool?.end();
  await client?.end();
  await db?.drop();
});

const row = async (id) => (await client.query('SELECT credits, team_id, total_credits_purchased FROM users WHERE id = $1', [id])).rows[0];
const password = 'correct-horse-battery-staple';

test('sign-up: a chosen id, credits, total purchased or team is never taken from the body', async () => {
  await client.query("INSERT INTO users (id, name, email, credits) VALUES ('victim', 'V', 'victim@example.com', 0)");
  await team(client, 'victim_team', 'victim', 5000);
  const body = { email: `a${process.pid}@example.com`, password, name: 'A', id: 'chosen_id', credits: 99999, totalCreditsPurchased: 99999, teamId: 'victim_team' };
  let user;
  try {
    ({ user } = await auth.api.signUpEmail({ body }));
  } catch (error) {
    assert.equal(error.statusCode ?? error.status, 400, 'a refusal is a 400, never a partial user');
    assert.equal(Number(await scalar(client, 'SELECT count(*) FROM users WHERE email = $1', [body.email])), 0);
    return;
  }
  assert.notEqual(user.id, 'chosen_id');
  assert.deepEqual(await row(user.id), { credits: 100, team_id: null, total_credits_purchased: 0 });
  assert.equal(Number(await scalar(client, "SELECT credits FROM teams WHERE id = 'victim_team'")), 5000);
});

test('update-user: teamId, credits and totalCreditsPurchased are refused (400), nothing changes', async () => {
  const { user, token } = await auth.api.signUpEmail({ body: { email: `b${process.pid}@example.com`, password, name: 'B' } });
  const headers = new Headers({ authorization: `Bearer ${token}` });
  for (const body of [{ teamId: 'victim_team' }, { credits: 5000 }, { totalCreditsPurchased: 5000 }, { name: 'B2', teamId: 'victim_team' }]) {
    const error = await rejection(auth.api.updateUser({ body, headers }));
    assert.equal(error.statusCode ?? error.status, 400, JSON.stringify(body));
  }
  assert.deepEqual(await row(user.id), { credits: 100, team_id: null, total_credits_purchased: 0 });
  // The session's balance fields are the engine's, whatever the client sends.
  const session = await auth.api.getSession({ headers });
  assert.deepEqual([session.user.credits, session.user.available, session.user.teamId ?? null], [100, 100, null]);
});
