// One place that loads fltr-credits in the edge runtime and connects it to Postgres through
// @neondatabase/serverless (WebSocket). Used by middleware.ts and the edge route handlers.
import init, { createCredits } from 'fltr-credits';
import wasmModule from 'fltr-credits/fltr_credits_bg.wasm?module';
import { Pool, neonConfig } from '@neondatabase/serverless';

let ready: Promise<unknown> | undefined;
/** Instantiates the wasm once per isolate (initSync is not usable in edge: REFERENCE §3). */
export const loadCredits = () => (ready ??= init({ module_or_path: wasmModule }));

// Local development and tests reach a plain Postgres through a WebSocket-to-TCP relay
// (FLTR_WS_PROXY=host:port); on Neon leave it unset and the driver's defaults apply.
const relay = process.env.FLTR_WS_PROXY;
if (relay) {
  neonConfig.wsProxy = (host, port) => `${relay}/?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

/** A pool per request: edge isolates must not keep sockets between requests. */
export async function withCredits<T>(work: (credits: ReturnType<typeof createCredits>) => Promise<T>): Promise<T> {
  await loadCredits();
  const pool = new Pool({ connectionString: process.env.DATABASE_URL });
  try {
    return await work(createCredits(pool));
  } finally {
    await pool.end();
  }
}
