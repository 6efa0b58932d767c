// Node entry: the same module, instantiated synchronously from the file next to it.
//   import { createCredits } from 'fltr-credits/node.js';
import { readFileSync } from 'node:fs';
import { initSync } from './fltr_credits.js';

initSync({ module: readFileSync(new URL('./fltr_credits_bg.wasm', import.meta.url)) });

export * from './fltr_credits.js';
