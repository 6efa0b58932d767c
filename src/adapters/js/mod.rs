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
pub mod holds;
pub mod keys;
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
/** `api_key` is the key's public id (`key_…`), never its secret. */
export type Principal =
  | { kind: "user"; user_id: string }
  | { kind: "api_key"; api_key: string; user_id: string };
/**
 * Who pays. `userId`/`teamId`/`apiKey` act for a named account: server code only (API.md "Who may do what").
 * `apiKey` is a key's public id (`key_…`) or its secret.
 */
export type Payer = { userId: string } | { teamId: string } | { apiKey: string } | { sessionToken: string } | { credential: Credential };
export type ConsumeOptions = Payer & {
  amount: number; operation: string; resourceId?: string; metadata?: Record<string, unknown>; idempotencyKey?: string;
};
/** `amount` ≥ 1, as for consume: a check of 0 is `invalid_amount`. */
export type CheckOptions = Payer & { amount: number };
/** `apiKey`: the key's public id (`key_…`) or its secret (looked up by its hash; an unknown or revoked one is `not_found`). */
export type AccountOptions = { userId: string } | { teamId: string } | { apiKey: string };
/**
 * `expiresAt`: when the unspent rest of these credits expires (a future RFC 3339 UTC time or a Date, at most ten years
 * ahead); absent or null, they never expire. Usage spends the credits that expire soonest first, never-expiring ones last.
 */
export type GrantOptions = AccountOptions & {
  amount: number; operation?: string; metadata?: Record<string, unknown>; idempotencyKey?: string; expiresAt?: string | Date | null;
};
/** Server code only: giving credits back is the service's decision, never an end user's. */
export interface RefundOptions { transactionId: string; userId?: string; apiKey?: string }
/**
 * `ttlSeconds`: 1 to 86400, default 900. Refused like a consume (402 `insufficient_credits`, 429). Opened with the end
 * user's `sessionToken`/`credential` (or a key's secret) it is theirs to capture too; named by `userId`/`teamId`/a key's
 * public id, only the service may capture it.
 */
export type HoldOptions = Payer & {
  amount: number; operation: string; resourceId?: string; metadata?: Record<string, unknown>; ttlSeconds?: number; idempotencyKey?: string;
};
/**
 * The end user (or key) on whose behalf the backend acts on a hold: only the holds it opened itself, with its session
 * or the key's secret (any other is `not_found`; a team hold only while still a member). A hold opened by naming the
 * account (`userId`, `teamId`, a key's public id) is the service's alone. Absent: the service (any hold).
 */
export type HoldActor = { userId: string } | { apiKey: string } | { sessionToken: string } | { credential: Credential };
/** `amount`: 0 to the held amount (0 writes no ledger row); absent, all of it. */
export interface CaptureOptions { holdId: string; amount?: number; actor?: HoldActor; idempotencyKey?: string }
/** Server code only: giving credits back is the service's decision, never an end user's. */
export interface ReleaseOptions { holdId: string; idempotencyKey?: string }
export interface GetHoldOptions { holdId: string; actor?: HoldActor }
export interface AllocateOptions { apiKey: string; amount: number; idempotencyKey?: string; ownerId?: string }
export type TransactionsOptions = AccountOptions & { limit?: number; cursor?: string };
export type UsageDimension = "day" | "operation" | "api_key";
/**
 * `from`, `to`: UTC dates `YYYY-MM-DD`, `from` included, `to` excluded, at most 366 days apart. `groupBy`: one
 * dimension or several (default `"day"`). Server code only for a named account, like `balance`.
 */
export type UsageOptions = AccountOptions & { from: string; to: string; groupBy?: UsageDimension | UsageDimension[] };

/** A new key for `userId`; `team: true` puts it on their current team's pool (current members only). */
export interface CreateKeyOptions {
  userId: string; name?: string; dailyLimit?: number | null; monthlyLimit?: number | null; expiresAt?: string | Date | null; team?: boolean;
}
export interface ListKeysOptions { userId: string }
/**
 * `id`: the key's public id (a secret here is `invalid_request`). `actorId`: the signed-in user acting (their rights
 * apply: another user's key is `not_found`, a team key is changed only by its creator or the team owner);
 * absent, the service acts. A field left out is unchanged; `null` removes a limit, the expiry or the name.
 */
export interface UpdateKeyOptions {
  id: string; actorId?: string; name?: string | null; dailyLimit?: number | null; monthlyLimit?: number | null; expiresAt?: string | Date | null;
}
/** `graceSeconds`: how long the old secret keeps working, 0 (default: at once) to 604800. */
export interface RotateKeyOptions { id: string; actorId?: string; graceSeconds?: number }
export interface RevokeKeyOptions { id: string; actorId?: string }
/** Secrets from a scanner's alert, at most 100. Server code only. */
export interface RevokeLeakedKeysOptions { keys: string[] }

export interface AccountRef { kind: "user" | "team" | "api_key"; id: string }
export interface WindowUsage { limit: number | null; used: number; remaining: number | null; reset: string }
export interface Limits { daily: WindowUsage; monthly: WindowUsage }
/** shared/API.md "Consume / check result". For an API key `charged.id` is its public id. */
export interface ChargeResult {
  ok: true; transaction_id?: string; replayed: boolean; charged: AccountRef; amount: number; balance: number;
  /** `balance` minus active holds: what the next consume may spend. */
  available: number;
  limits?: Limits;
}
export type HoldState = "active" | "captured" | "released" | "expired";
/** API.md "Holds". `available` already excludes this hold; `balance` is unchanged by it. */
export interface HoldResult {
  ok: true; hold_id: string; replayed: boolean; charged: AccountRef; amount: number; expires_at: string; balance: number;
  available: number; limits?: Limits;
}
/** A capture (`amount` captured, `released` the rest) or a release (`amount` 0). `transaction_id`: the `usage` row, absent when nothing was captured. */
export interface CloseResult {
  ok: true; transaction_id?: string; hold_id: string; replayed: boolean; charged: AccountRef; amount: number; released: number;
  balance: number; available: number; limits?: Limits;
}
/** An active hold past `expires_at` reads `expired` at once, with or without a sweep. */
export interface Hold {
  hold_id: string; state: HoldState; amount: number;
  /** What a capture took (0 for a release); null while active or once expired. */
  captured: number | null;
  expires_at: string; charged: AccountRef; operation: string; resource_id: string | null;
  /** The capture's `usage` row, when it wrote one. */
  transaction_id: string | null;
  created_at: string; closed_at: string | null;
}
/**
 * `sweep()` (fltr-credits/node.js): expired holds closed, accounts settled, and `expired_blocks`: the `expiration` ledger
 * rows written (one per expiring grant with credits left at its deadline).
 */
export interface SweepReport { ok: true; expired_holds: number; accounts: number; expired_blocks: number }
/** `expires_at`: the deadline of an expiring grant's credits; absent when they never expire. */
export interface CreditResult {
  ok: true; transaction_id: string; replayed: boolean; account: AccountRef; amount: number; balance: number; expires_at?: string;
}
/** What is left of one expiring grant (API.md "Expiring credits"). */
export interface Expiring { amount: number; expires_at: string }
export interface RefundResult { ok: true; transaction_id: string; refunded: number; balance: number; replayed: boolean }
export interface KeyBalance {
  /** The key's public id (`key_…`). */
  id: string;
  /** The first 9 characters of its secret. */
  start: string;
  /** Masked: `start…`. */
  api_key: string;
  credits: number; available: number; team_id: string | null; daily_limit: number | null; monthly_limit: number | null; limits: Limits;
  /** What is left of each expiring grant (or allocation carrying one), soonest first; part of `credits`. */
  expiring: Expiring[];
}
/** `expiring` on each account: what is left of each expiring grant, soonest first; part of `credits`. */
export interface Balance {
  user: {
    id: string; credits: number; available: number; total_credits_purchased: number; team_id: string | null; expiring: Expiring[];
  } | null;
  team: { id: string; name: string; credits: number; available: number; expiring: Expiring[] } | null;
  api_keys: KeyBalance[];
  api_key?: KeyBalance;
}
/** API.md's key object. `key` (the secret) only in the answer to createKey and rotateKey: shown once, never stored. */
export interface ApiKey {
  id: string; key?: string; start: string; masked: string; name: string | null; user_id: string; team_id: string | null;
  credits: number; available: number; daily_limit: number | null; monthly_limit: number | null; limits: Limits;
  expires_at: string | null; revoked_at: string | null; last_used_at: string | null; created_at: string;
}
export interface ApiKeyList { api_keys: ApiKey[] }
/** `returned`: the unspent allowance given back to the pool it came from; `replayed`: it was already revoked. */
export interface Revoked { ok: true; id: string; revoked_at: string; returned: number; replayed: boolean }
export interface RevokedLeaked { revoked: number }
/** Ledger row types; new ones may be added. `expiration`: the unspent rest of an expiring grant, at its deadline (negative). */
export type TransactionType = "grant" | "purchase" | "usage" | "refund" | "allocation" | "adjustment" | "expiration" | (string & {});
export interface Transaction {
  id: string; amount: number; type: TransactionType; operation: string | null; resource_id: string | null;
  /** The key's public id. */
  api_key_id: string | null;
  user_id: string; team_id: string | null; created_at: string; metadata: unknown;
}
export interface TransactionPage { transactions: Transaction[]; next_cursor: string | null }
/**
 * One group of `usage()`: only the dimensions asked for are present. `amount`: credits used and not refunded (a refund
 * counts on its usage's day, operation and key); `count`: usage rows not refunded. `api_key_id`: the key's public id,
 * null for usage through no key.
 */
export interface UsageRow { day?: string; operation?: string | null; api_key_id?: string | null; amount: number; count: number }
/** Groups ordered by day, operation, key (null last); days without usage are absent. */
export interface UsageReport { from: string; to: string; group_by: UsageDimension[]; usage: UsageRow[] }
export interface Drift { kind: string; object: string; expected: string; found: string }
export interface MigrateReport {
  applied: string[]; adopted_existing_tables: string[]; hash_mismatches: string[]; validated: string[];
  /** Key rows found with their secret in plain text (written the seed's way) and moved to hashed form. */
  hashed_api_keys: number;
  drift: Drift[]; dry_run: boolean; sql?: string[];
}
export interface MigrationFile { tag: string; when: number; hash: string; up: string; down: string }
/** The stable codes of shared/API.md (and `schema_not_ready`, `api_key_revoked`, …); new ones may be added. */
export type CreditErrorCode =
  | "invalid_request" | "invalid_amount" | "unauthenticated" | "forbidden" | "not_found" | "idempotency_conflict"
  | "api_key_revoked" | "hold_closed" | "insufficient_credits" | "daily_limit_exceeded" | "monthly_limit_exceeded"
  | "database_unavailable" | "schema_not_ready" | "internal" | (string & {});
/** Every rejection: `.code` is the stable code of shared/API.md, `.status` its HTTP status. */
export interface CreditError extends Error {
  name: "CreditError"; code: CreditErrorCode; status: number;
  balance?: number; available?: number; required?: number;
  /** `hold_closed`: the hold's state. */
  state?: HoldState;
  limit?: number; used?: number; reset?: string; retry_after?: number; idempotency_key?: string;
}
"#;
