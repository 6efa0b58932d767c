// The Worker for schemathesis (scripts/test-schemathesis.sh): starts it under `wrangler dev` with
// the e2e harness (a throwaway Postgres database, Hyperdrive), makes the four credentials the
// schemathesis profiles use, funds them, prints them as one JSON line on stdout, and stays alive
// until it is sent SIGTERM or SIGINT (then stops wrangler and drops the database).
import { startWorker, makeAuth, signUp, call, SECRETS } from '../worker/harness.mjs';

const FUNDS = 1_000_000;
const KEY = `fltr_live_schemathesis_key_${process.pid}`;
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
  await worker.pool.query(
    'INSERT INTO api_key_credits (api_key, user_id, created_at, updated_at) VALUES ($1, $2, now(), now())',
    [KEY, user.userId],
  );
  const grants = [{ user_id: user.userId }, { api_key_id: KEY }];
  for (const account of grants) {
    let answer = await call(worker.base, '/admin/grant', { method: 'POST', headers: admin, body: { ...account, amount: FUNDS } });
    if (answer.status === 400 && account.api_key_id) {
      // A server that still names the key `api_key` in /admin/grant.
      answer = await call(worker.base, '/admin/grant', { method: 'POST', headers: admin, body: { api_key: KEY, amount: FUNDS } });
    }
    if (answer.status !== 200) throw new Error(`grant ${JSON.stringify(account)}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  process.stdout.write(`${JSON.stringify({
    base: worker.base,
    user_id: user.userId,
    session_token: user.token,
    session_cookie: user.cookie,
    api_key: KEY,
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
