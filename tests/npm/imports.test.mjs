// The edge module's imports: Vercel Edge and Next.js middleware instantiate the .wasm with only
// wasm-bindgen's own glue, so it must import nothing from "env" (an unresolved libc or allocator
// symbol would fail at instantiation on the edge, not in Node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('fltr-credits/fltr_credits_bg.wasm');

test('the npm package\'s wasm imports only from its own wasm-bindgen glue, nothing from "env"', () => {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const imports = WebAssembly.Module.imports(module);
  const fromEnv = imports.filter((entry) => entry.module === 'env').map((entry) => entry.name);
  assert.deepEqual(fromEnv, []);
  const modules = [...new Set(imports.map((entry) => entry.module))];
  assert.ok(modules.every((name) => name === './fltr_credits_bg.js' || name.startsWith('__wbindgen')), modules.join(', '));
});
