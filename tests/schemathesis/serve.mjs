// The Worker for schemathesis (scripts/test-schemathesis.sh): starts it under `wrangler dev` with
// the e2e harness (a throwaway Postgres database, Hyperdrive), makes the four credentials the
// schemathesis profiles use, funds them, prints them as one JSON line on stdout (the API key's
// secret as `api_key`, its public id as `api_key_id`, a spare key's id as `spare_api_key_id`), and
// stays alive until it is sent SIGTERM or SIGINT (then stops wrangler and drops the database).
import { startWorker, makeAuth, signUp, call, seedKey, SECRETS } from '../worker/harness.mjs';

const FUNDS = 1_000_000;
const KEY = `fltr_live_schemathesis_key_${process.pid}`;
// A second key of the same user, unfunded: hooks.py sends the update, rotate and revoke calls that
// name the funded key to this one instead, so the funded key keeps working for every run.
const SPARE_KEY = `${KEY}_spare`;
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };

const worker = await startWorker('schemathesis');
let stopping = false;
const stop = async (code) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(worker.output()); // wrangler's own log: the Worker's console.error lines
  await worker.stop().catch((error) => console.error(`[serve] stop: ${error.message}`));
  process.exit(code);
};
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  const user = await signUp(await makeAuth(worker.pool), 'schemathesis@example.com');
  // A key written the seed's way (the secret in api_key_credits.api_key), no daily/monthly limit.
  // Its first use adopts it (hashed, public id key_…); from then on it is named by that id.
  const keyId = await seedKey(worker.pool, KEY, user.userId);
  const spareKeyId = await seedKey(worker.pool, SPARE_KEY, user.userId);
  for (const [secret, id] of [[KEY, keyId], [SPARE_KEY, spareKeyId]]) {
    const adopted = await call(worker.base, '/api/v1/credits/balance', { headers: { 'x-api-key': secret } });
    if (adopted.status !== 200 || adopted.body.api_key?.id !== id) {
      throw new Error(`first use of a seed-way key: ${adopted.status} ${JSON.stringify(adopted.body)}`);
    }
  }
  const grants = [{ user_id: user.userId }, { api_key_id: keyId }];
  for (const account of grants) {
    const answer = await call(worker.base, '/admin/grant', { method: 'POST', headers: admin, body: { ...account, amount: FUNDS } });
    if (answer.status !== 200) throw new Error(`grant ${JSON.stringify(account)}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  process.stdout.write(`${JSON.stringify({
    base: worker.base,
    user_id: user.userId,
    session_token: user.token,
    session_cookie: user.cookie,
    api_key: KEY,
    api_key_id: keyId,
    spare_api_key_id: spareKeyId,
    service_token: SECRETS.SERVICE_TOKEN,
    admin_token: SECRETS.ADMIN_TOKEN,
    stripe_webhook_secret: SECRETS.STRIPE_WEBHOOK_SECRET,
  })}\n`);
} catch (error) {
  console.error(`[serve] ${error.stack ?? error}`);
  await stop(1);
}
// Stay alive: the open wrangler child and pg pool keep the event loop busy; this keeps it so
// even if they do not.
setInterval(() => {}, 1 << 30);
