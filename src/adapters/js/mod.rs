//! The npm package (`wasm-pack build --target web` → `pkg/`): the pure core plus wasm-bindgen
//! glue, with no I/O crate. Statements travel through the caller's `query(text, params)`, so the
//! same module runs in Next.js edge middleware, Node and the browser. Built twice: feature `js`
//! is the edge module (`fltr-credits`); `js-admin` adds the migrator, seeding and the CLI for Node
//! (`fltr-credits/node.js`, `npx fltr-credits`).
//!
//! Return values keep the contract's snake_case field names (shared/API.md), as stripe-node
//! does; function names and option names are camelCase.

#[cfg(feature = "js-admin")]
pub mod admin;
#[cfg(feature = "js-admin")]
pub mod cli;
pub mod convert;
pub mod credits;
pub mod executor;
pub mod format;
pub mod request;
#[cfg(feature = "js-admin")]
pub mod schema;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Anything with `query(text, params)`: pg Pool/Client, neon Pool, or `{ query }`. */
export interface CreateCreditsOptions {
  query(text: string, params?: (string | null)[]): Promise<{ rows: Record<string, string | null>[] } | Record<string, string | null>[]>;
}
/** What a request presented (credentialFromRequest). */
export interface Credential { kind: "session" | "bearer" | "api_key"; value: string }
export type Principal =
  | { kind: "user"; user_id: string }
  | { kind: "api_key"; api_key: string; user_id: string };
/** Who pays. `userId`/`teamId`/`apiKey` act for a named account: server code only (API.md "Who may do what"). */
export type Payer = { userId: string } | { teamId: string } | { apiKey: string } | { sessionToken: string } | { credential: Credential };
export type ConsumeOptions = Payer & {
  amount: number; operation: string; resourceId?: string; metadata?: Record<string, unknown>; idempotencyKey?: string;
};
/** `amount` ≥ 1, as for consume: a check of 0 is `invalid_amount`. */
export type CheckOptions = Payer & { amount: number };
export type AccountOptions = { userId: string } | { teamId: string } | { apiKey: string };
export type GrantOptions = AccountOptions & { amount: number; operation?: string; metadata?: Record<string, unknown>; idempotencyKey?: string };
/** Server code only: giving credits back is the service's decision, never an end user's. */
export interface RefundOptions { transactionId: string; userId?: string; apiKey?: string }
export interface AllocateOptions { apiKey: string; amount: number; idempotencyKey?: string; ownerId?: string }
export type TransactionsOptions = AccountOptions & { limit?: number; cursor?: string };

export interface AccountRef { kind: "user" | "team" | "api_key"; id: string }
export interface WindowUsage { limit: number | null; used: number; remaining: number | null; reset: string }
export interface Limits { daily: WindowUsage; monthly: WindowUsage }
/** shared/API.md "Consume / check result". */
export interface ChargeResult {
  ok: true; transaction_id?: string; replayed: boolean; charged: AccountRef; amount: number; balance: number; limits?: Limits;
}
export interface CreditResult { ok: true; transaction_id: string; replayed: boolean; account: AccountRef; amount: number; balance: number }
export interface RefundResult { ok: true; transaction_id: string; refunded: number; balance: number; replayed: boolean }
export interface KeyBalance {
  api_key: string; credits: number; team_id: string | null; daily_limit: number | null; monthly_limit: number | null; limits: Limits;
}
export interface Balance {
  user: { id: string; credits: number; total_credits_purchased: number; team_id: string | null } | null;
  team: { id: string; name: string; credits: number } | null;
  api_keys: KeyBalance[];
  api_key?: KeyBalance;
}
export interface Transaction {
  id: string; amount: number; type: string; operation: string | null; resource_id: string | null; api_key_id: string | null;
  user_id: string; team_id: string | null; created_at: string; metadata: unknown;
}
export interface TransactionPage { transactions: Transaction[]; next_cursor: string | null }
export interface Drift { kind: string; object: string; expected: string; found: string }
export interface MigrateReport {
  applied: string[]; adopted_existing_tables: string[]; hash_mismatches: string[]; validated: string[]; drift: Drift[];
  dry_run: boolean; sql?: string[];
}
export interface MigrationFile { tag: string; when: number; hash: string; up: string; down: string }
/** Every rejection: `.code` is the stable code of shared/API.md, `.status` its HTTP status. */
export interface CreditError extends Error {
  name: "CreditError"; code: string; status: number;
  balance?: number; required?: number; limit?: number; used?: number; reset?: string; retry_after?: number; idempotency_key?: string;
}
"#;
