// Node entry: the edge module's API plus migrate/verify/rollback/seedCredits, migrations(),
// migrationSql() and runCli (the admin module, built with feature js-admin), already initialised.
//   import { createCredits } from 'fltr-credits/node.js';
import { readFileSync } from 'node:fs';
import { initSync } from './admin/fltr_credits_admin.js';

initSync({ module: readFileSync(new URL('./admin/fltr_credits_admin_bg.wasm', import.meta.url)) });

export * from './admin/fltr_credits_admin.js';
