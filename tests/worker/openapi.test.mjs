// openapi.json against the running Worker: it documents exactly the router's ROUTES, every
// documented path and method answers (never the unknown-route 404), other methods are 405 with
// Allow, and the main cases' bodies and headers (end user, service and admin credentials) match
// the documented schemas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { startWorker, makeAuth, signUp, signStripe, call, seedKey, legacyKeyId, SECRETS, ROOT } from './harness.mjs';

const doc = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(doc, 'openapi.json');
const KEY = 'fltr_live_openapi_key_0001'; // written the seed's way; adopted by the first listing
const KEY_ID = legacyKeyId(KEY);
let worker, user;
// Ids the cases name in paths: {id} (a key) or {hold_id} is ids[id], KEY_ID unless a case names
// another (`created`: the key the main cases create, change, rotate and revoke; `hold` and
// `serviceHold`: the holds they open, capture and release).
const ids = { key: KEY_ID };
const concrete = (path, id = 'key') => path.replace(/\{(id|hold_id)\}/, ids[id]);

const deref = (object) => (object?.$ref ? deref(object.$ref.slice(2).split('/').reduce((node, part) => node[part], doc)) : object);

/** Checks an answer against the documented response for its status. */
function conforms(path, method, answer) {
  const operation = doc.paths[path][method];
  const documented = deref(operation.responses[String(answer.status)]);
  assert.ok(documented, `${method.toUpperCase()} ${path}: status ${answer.status} is not documented (${JSON.stringify(answer.body)})`);
  const schema = documented.content?.['application/json']?.schema;
  if (schema) {
    const validate = ajv.compile(schema.$ref ? { $ref: `openapi.json${schema.$ref}` } : schema);
    assert.ok(validate(answer.body), `${method.toUpperCase()} ${path} ${answer.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(answer.body)}`);
  }
  for (const [name, header] of Object.entries(documented.headers ?? {})) {
    const value = answer.headers.get(name);
    if (value === null) {
      // Optional documented headers appear when they apply (limits, replays); required ones always.
      assert.ok(!deref(header).required, `${method.toUpperCase()} ${path} ${answer.status}: required header ${name} is missing`);
      continue;
    }
    const headerSchema = deref(header).schema;
    assert.ok(ajv.validate(headerSchema, value), `${name}: ${value}`);
  }
}

before(async () => {
  worker = await startWorker('openapi');
  user = await signUp(await makeAuth(worker.pool), 'openapi@example.com');
  await seedKey(worker.pool, KEY, user.userId, { dailyLimit: 3 });
});
after(async () => { await worker?.stop(); });

const session = () => ({ authorization: `Bearer ${user.token}` });
const admin = { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` };
const service = { authorization: `Bearer ${SECRETS.SERVICE_TOKEN}` };

/** The main case of each documented operation, in an order where each can succeed:
 * [path, method, options, status (200), key id in the path]. */
/** A UTC date `days` from today, YYYY-MM-DD. */
const today = (days = 0) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

function mainCases() {
  const inAYear = new Date(Date.now() + 365 * 86_400_000).toISOString();
  return [
    ['/health', 'get', {}],
    ['/admin/migrate', 'post', { headers: admin }],
    ['/admin/verify', 'get', { headers: admin }],
    ['/admin/grant', 'post', { headers: { ...admin, 'idempotency-key': 'oa-1' }, body: { user_id: user.userId, amount: 50 } }],
    ['/admin/grant', 'post', { headers: admin, body: { user_id: user.userId, amount: 5, expires_at: inAYear } }],
    ['/api/v1/credits/balance', 'get', { headers: session() }],
    ['/api/v1/credits/check', 'post', { headers: session(), body: { amount: 5 } }],
    ['/api/v1/credits/consume', 'post', { headers: { ...session(), 'idempotency-key': 'oa-c1' }, body: { amount: 5, operation: 'document.process' } }],
    ['/api/v1/credits/consume', 'post', { headers: service, body: { amount: 2, operation: 'document.process', user_id: user.userId } }],
    ['/api/v1/credits/balance', 'get', { headers: service, query: `?user_id=${encodeURIComponent(user.userId)}` }],
    ['/api/v1/credits/holds', 'post', { headers: { ...session(), 'idempotency-key': 'oa-h1' }, body: { amount: 4, operation: 'document.process', ttl_seconds: 600 } }, 201],
    ['/api/v1/credits/holds/{hold_id}', 'get', { headers: session() }, 200, 'hold'],
    ['/api/v1/credits/holds/{hold_id}/capture', 'post', { headers: session(), body: { amount: 3 } }, 200, 'hold'],
    ['/api/v1/credits/holds', 'post', { headers: service, body: { amount: 2, operation: 'document.process', user_id: user.userId } }, 201],
    ['/api/v1/credits/holds/{hold_id}/release', 'post', { headers: service }, 200, 'serviceHold'],
    ['/admin/sweep', 'post', { headers: admin }],
    ['/api/v1/api-keys', 'get', { headers: session() }],
    ['/api/v1/api-keys', 'get', { headers: service, query: `?user_id=${encodeURIComponent(user.userId)}` }],
    ['/api/v1/api-keys', 'post', { headers: session(), body: { name: 'ci', daily_limit: 100, monthly_limit: 1000, expires_at: inAYear } }, 201],
    ['/api/v1/api-keys', 'post', { headers: service, body: { user_id: user.userId, name: 'made by the service' } }, 201],
    ['/api/v1/api-keys/{id}', 'patch', { headers: session(), body: { name: 'ci-renamed', daily_limit: null } }, 200, 'created'],
    ['/api/v1/api-keys/{id}/rotate', 'post', { headers: session(), body: { grace_seconds: 60 } }, 200, 'created'],
    ['/api/v1/api-keys/{id}/allocate', 'post', { headers: session(), body: { amount: 10 } }],
    ['/api/v1/api-keys/{id}', 'delete', { headers: session() }, 200, 'created'],
    // A scanner reports the service-made key's secret and one that is no key: one revoked.
    ['/api/v1/api-keys/revoke-leaked', 'post', { headers: service, body: () => ({ keys: [ids.serviceSecret, 'fltr_not_a_real_key'] }) }],
    ['/api/v1/credits/transactions', 'get', { headers: session(), query: '?limit=2' }],
    ['/api/v1/credits/usage', 'get', { headers: session(), query: `?from=${today()}&to=${today(1)}&group_by=day,operation,api_key` }],
    ['/api/v1/credits/usage', 'get', { headers: service, query: `?from=${today(-365)}&to=${today(1)}&user_id=${encodeURIComponent(user.userId)}` }],
    ['/admin/reconcile', 'get', { headers: admin }],
  ];
}

test('openapi.json documents exactly the router\'s ROUTES (src/http/router.rs)', () => {
  const router = readFileSync(join(ROOT, 'src/http/router.rs'), 'utf8');
  const table = /pub const ROUTES: \[\(&str, &str\); (\d+)\] = \[([\s\S]*?)\];/.exec(router);
  assert.ok(table, 'ROUTES in src/http/router.rs');
  const routes = [...table[2].matchAll(/\("([A-Z]+)", "([^"]+)"\)/g)].map(([, method, path]) => `${method} ${path}`);
  assert.equal(routes.length, Number(table[1]));
  const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
  assert.deepEqual([...documented].sort(), [...routes].sort());
  const operationIds = documented.map((route) => { const [method, path] = route.split(' '); return doc.paths[path][method.toLowerCase()].operationId; });
  assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds are unique');
});

test('every documented path and method answers, and no undocumented route does', async () => {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const method of Object.keys(methods)) {
      const answer = await call(worker.base, concrete(path), { method: method.toUpperCase() });
      const unknownRoute = answer.status === 404 && /no route/.test(answer.body?.error?.message ?? '');
      assert.ok(!unknownRoute, `${method.toUpperCase()} ${path} is documented but not routed`);
      conforms(path, method, answer);
    }
  }
  const undocumented = await call(worker.base, '/api/v1/credits');
  assert.equal(undocumented.status, 404);
  // A documented path with a method it does not serve: 405 with Allow, the error body.
  for (const [path, methods] of Object.entries(doc.paths)) {
    const served = Object.keys(methods).map((method) => method.toUpperCase());
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !served.includes(m))) {
      const answer = await call(worker.base, concrete(path), { method });
      assert.equal(answer.status, 405, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body?.error?.code, 'method_not_allowed');
      const allow = (answer.headers.get('allow') ?? '').split(',').map((m) => m.trim());
      for (const m of served) assert.ok(allow.includes(m), `${method} ${path}: Allow ${allow}`);
      assert.ok(ajv.validate({ $ref: 'openapi.json#/components/schemas/Error' }, answer.body), JSON.stringify(answer.body));
      assert.ok(answer.headers.get('x-request-id'));
    }
  }
});

test('main cases match the documented 2xx schemas and headers', async () => {
  const answered = new Set();
  for (const [path, method, { headers = {}, body, query = '' }, status = 200, id = 'key'] of mainCases()) {
    const sent = typeof body === 'function' ? body() : body;
    const answer = await call(worker.base, concrete(path, id) + query, { method: method.toUpperCase(), headers, body: sent });
    assert.equal(answer.status, status, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body)}`);
    conforms(path, method, answer);
    answered.add(`${method} ${path}`);
    if (path === '/api/v1/api-keys' && method === 'post') {
      if (headers === service) ids.serviceSecret = answer.body.key;
      else [ids.created, ids.createdSecret] = [answer.body.id, answer.body.key];
    }
    if (path === '/api/v1/credits/holds') ids[headers === service ? 'serviceHold' : 'hold'] = answer.body.hold_id;
    if (path === '/api/v1/api-keys/revoke-leaked') assert.equal(answer.body.revoked, 1);
    if (path === '/api/v1/api-keys' && method === 'get' && !query) {
      assert.deepEqual(answer.body.api_keys.map((k) => k.id), [KEY_ID], 'the listing shows the seed-way key by its id');
    }
  }
  const replay = await call(worker.base, '/api/v1/credits/consume', { method: 'POST', headers: { ...session(), 'idempotency-key': 'oa-c1' }, body: { amount: 5, operation: 'document.process' } });
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  conforms('/api/v1/credits/consume', 'post', replay);
  const heldAgain = await call(worker.base, '/api/v1/credits/holds', { method: 'POST', headers: { ...session(), 'idempotency-key': 'oa-h1' }, body: { amount: 4, operation: 'document.process', ttl_seconds: 600 } });
  assert.deepEqual([heldAgain.status, heldAgain.headers.get('idempotent-replayed'), heldAgain.body.hold_id], [200, 'true', ids.hold]);
  conforms('/api/v1/credits/holds', 'post', heldAgain);
  const usage = await call(worker.base, '/api/v1/credits/consume', { method: 'POST', headers: session(), body: { amount: 1, operation: 'document.process' } });
  // Refunds are the service's: the end user who was charged gets 403.
  const refused = await call(worker.base, '/api/v1/credits/refund', { method: 'POST', headers: session(), body: { transaction_id: usage.body.transaction_id } });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  conforms('/api/v1/credits/refund', 'post', refused);
  const refund = await call(worker.base, '/api/v1/credits/refund', { method: 'POST', headers: service, body: { transaction_id: usage.body.transaction_id } });
  assert.equal(refund.status, 200, JSON.stringify(refund.body));
  conforms('/api/v1/credits/refund', 'post', refund);
  assert.equal(refund.body.refunded, 1);
  const payload = JSON.stringify({ id: 'evt_oa', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_oa', client_reference_id: user.userId, payment_status: 'paid', metadata: { credits: '10' } } } });
  const webhook = await call(worker.base, '/api/v1/webhooks/stripe', { method: 'POST', raw: payload, headers: { 'stripe-signature': await signStripe(payload) } });
  assert.equal(webhook.status, 200);
  conforms('/api/v1/webhooks/stripe', 'post', webhook);
  answered.add('post /api/v1/credits/refund').add('post /api/v1/webhooks/stripe');
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const method of Object.keys(methods)) assert.ok(answered.has(`${method} ${path}`), `no main case for ${method.toUpperCase()} ${path}`);
  }
});

test('documented error answers: 400, 401, 402, 403, 404, 409, 413, 415, 429, 500 and key balances', async () => {
  const cases = [
    ['/api/v1/credits/holds/{hold_id}/capture', 'post', { headers: session() }, 409, 'hold_closed', 'hold'],
    ['/api/v1/credits/holds/{hold_id}/release', 'post', { headers: service }, 409, 'hold_closed', 'serviceHold'],
    ['/api/v1/credits/holds/{hold_id}/release', 'post', { headers: session() }, 403, 'forbidden', 'hold'],
    ['/api/v1/credits/holds/{hold_id}', 'get', { headers: session() }, 404, 'not_found', 'missingHold'],
    ['/api/v1/credits/holds/{hold_id}/capture', 'post', { headers: session() }, 404, 'not_found', 'serviceHold'],
    ['/api/v1/credits/holds/{hold_id}', 'get', { headers: session(), query: '?x=1' }, 400, 'invalid_request', 'hold'],
    ['/api/v1/credits/holds', 'post', { headers: session(), body: { amount: 100000, operation: 'x' } }, 402, 'insufficient_credits'],
    ['/api/v1/credits/holds', 'post', { headers: session(), body: { amount: 1, operation: 'x', ttl_seconds: 0 } }, 400, 'invalid_request'],
    ['/api/v1/credits/holds', 'post', { headers: { ...session(), 'idempotency-key': 'oa-h1' }, body: { amount: 5, operation: 'document.process' } }, 409, 'idempotency_conflict'],
    ['/api/v1/credits/holds', 'post', { headers: { 'x-api-key': KEY }, body: { amount: 4, operation: 'x' } }, 429],
    ['/admin/sweep', 'post', { headers: session() }, 403, 'forbidden'],
    ['/admin/sweep', 'post', { headers: admin, body: { batches: 1 } }, 400, 'invalid_request'],
    ['/api/v1/api-keys/{id}', 'patch', { headers: session(), body: { name: 'again' } }, 409, 'api_key_revoked', 'created'],
    ['/api/v1/api-keys/{id}/rotate', 'post', { headers: session() }, 409, 'api_key_revoked', 'created'],
    ['/api/v1/api-keys/{id}', 'delete', { headers: session() }, 200, undefined, 'created'],
    ['/api/v1/api-keys/{id}', 'patch', { headers: session(), body: {} }, 404, 'not_found', 'missing'],
    ['/api/v1/api-keys/{id}', 'delete', { headers: service }, 404, 'not_found', 'missing'],
    ['/api/v1/api-keys/{id}/rotate', 'post', { headers: session() }, 400, 'invalid_request', 'secret'],
    ['/api/v1/api-keys/{id}', 'patch', { headers: session(), body: { daily_limit: -1 } }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'get', { headers: { 'x-api-key': KEY } }, 403, 'forbidden'],
    ['/api/v1/api-keys', 'get', { headers: service }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'post', { headers: { ...session(), 'idempotency-key': 'oa-k1' }, body: {} }, 400, 'invalid_request'],
    ['/api/v1/api-keys', 'post', { headers: session(), body: { team: true } }, 403, 'forbidden'],
    ['/api/v1/api-keys', 'post', { headers: service, body: { user_id: 'no_such_user' } }, 404, 'not_found'],
    ['/api/v1/api-keys/revoke-leaked', 'post', { headers: session(), body: { keys: [] } }, 403, 'forbidden'],
    ['/api/v1/api-keys/revoke-leaked', 'post', { headers: service, body: { keys: 'fltr_x' } }, 400, 'invalid_request'],
    ['/api/v1/credits/consume', 'post', { headers: session(), body: { amount: 100000, operation: 'x' } }, 402],
    ['/api/v1/credits/consume', 'post', { headers: { ...session(), 'idempotency-key': 'oa-c1' }, body: { amount: 6, operation: 'document.process' } }, 409],
    ['/api/v1/credits/consume', 'post', { headers: session(), raw: 'x'.repeat(70000), contentType: true }, 413],
    ['/api/v1/credits/consume', 'post', { headers: session(), raw: '{}' }, 415],
    ['/api/v1/credits/consume', 'post', { headers: { 'x-api-key': KEY }, body: { amount: 4, operation: 'x' } }, 429],
    ['/api/v1/credits/balance', 'get', { headers: { 'x-api-key': KEY } }, 200],
    ['/api/v1/api-keys/{id}/allocate', 'post', { headers: { 'x-api-key': KEY }, body: { amount: 1 } }, 403],
    ['/api/v1/credits/check', 'post', { headers: session(), body: { amount: 0 } }, 400, 'invalid_amount'],
    ['/api/v1/credits/consume', 'post', { headers: session(), body: { amount: 1, operation: 'x', unknown: 1 } }, 400, 'invalid_request'],
    ['/api/v1/credits/consume', 'post', { headers: session(), body: { amount: 1, operation: 'x', user_id: user.userId } }, 403, 'forbidden'],
    ['/api/v1/credits/consume', 'post', { headers: service, body: { amount: 1, operation: 'x' } }, 400, 'invalid_request'],
    ['/api/v1/credits/balance', 'get', { headers: session(), query: `?user_id=${encodeURIComponent(user.userId)}` }, 403, 'forbidden'],
    ['/api/v1/credits/refund', 'post', { body: { transaction_id: 'ctx_none' } }, 401, 'unauthenticated'],
    ['/api/v1/credits/refund', 'post', { headers: service, body: { transaction_id: 'ctx_none' } }, 404, 'not_found'],
    ['/api/v1/credits/transactions', 'get', { headers: session(), query: '?cursor=zz' }, 400, 'invalid_request'],
    ['/admin/grant', 'post', { headers: service, body: { user_id: user.userId, amount: 1 } }, 403, 'forbidden'],
    ['/admin/grant', 'post', { headers: admin, body: { user_id: user.userId, amount: 1, expires_at: '2000-01-01T00:00:00Z' } }, 400, 'invalid_request'],
  ];
  ids.missing = 'key_00000000000000000000';
  ids.missingHold = `hold_${'0'.repeat(32)}`;
  ids.secret = ids.createdSecret;
  for (const [path, method, { headers = {}, body, raw, contentType, query = '' }, status, code, id = 'key'] of cases) {
    const allHeaders = contentType ? { ...headers, 'content-type': 'application/json' } : headers;
    const answer = await call(worker.base, concrete(path, id) + query, { method: method.toUpperCase(), headers: allHeaders, body, raw });
    assert.equal(answer.status, status, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body)}`);
    if (code) assert.equal(answer.body?.error?.code, code, `${method.toUpperCase()} ${path}: ${JSON.stringify(answer.body)}`);
    assert.doesNotMatch(JSON.stringify(answer.body), /fltr_[0-9A-Za-z]{36}/, 'no secret in an answer that did not create one');
    conforms(path, method, answer);
  }
  // A verified purchase that cannot be credited (unknown buyer) is 500 purchase_not_credited, so
  // Stripe retries; /health counts it.
  const payload = JSON.stringify({ id: 'evt_oa_lost', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_oa_lost', client_reference_id: 'no_such_user', payment_status: 'paid', metadata: { credits: '10' } } } });
  const lost = await call(worker.base, '/api/v1/webhooks/stripe', { method: 'POST', raw: payload, headers: { 'stripe-signature': await signStripe(payload) } });
  assert.equal(lost.status, 500, JSON.stringify(lost.body));
  assert.equal(lost.body.error.code, 'purchase_not_credited');
  conforms('/api/v1/webhooks/stripe', 'post', lost);
  const unsigned = await call(worker.base, '/api/v1/webhooks/stripe', { method: 'POST', raw: payload, headers: { 'stripe-signature': 't=1,v1=00' } });
  assert.equal(unsigned.status, 400);
  assert.equal(unsigned.body.error.code, 'invalid_signature');
  conforms('/api/v1/webhooks/stripe', 'post', unsigned);
  const health = await call(worker.base, '/health');
  assert.equal(health.status, 200);
  assert.ok(health.body.unfulfilled_purchases >= 1, JSON.stringify(health.body));
  conforms('/health', 'get', health);
});
