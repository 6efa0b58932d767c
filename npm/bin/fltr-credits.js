#!/usr/bin/env node
// `npx fltr-credits migrate | verify | seed-credits --amount N | rollback --to TAG | sql up|down`
// The commands, flags, output and exit codes are the native CLI's, run by the same wasm core
// (runCli); this script only loads the module, opens pg connections and prints.
import { readFileSync } from 'node:fs';
import { initSync, runCli } from '../admin/fltr_credits_admin.js';

initSync({ module: readFileSync(new URL('../admin/fltr_credits_admin_bg.wasm', import.meta.url)) });

const clients = [];

/** One pg.Client per command: migrate's BEGIN … COMMIT must stay on one connection. */
async function connect(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'fltr-credits' });
  // A dropped connection is reported by the next query; don't crash on the event.
  client.on('error', () => {});
  clients.push(client);
  await client.connect();
  return client;
}

const result = await runCli(process.argv.slice(2), process.env, connect);
await Promise.allSettled(clients.map((client) => client.end()));
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
process.exitCode = result.exit_code;
