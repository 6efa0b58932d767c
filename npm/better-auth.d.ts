// Types of fltr-credits/better-auth (npm/better-auth.js): a Better Auth 1.7 server plugin.
import type { BetterAuthPlugin } from 'better-auth';

/** Anything that runs one parameterized statement: a pg Pool/Client, neon's Pool, or a wrapper. */
export interface Queryable {
  query(text: string, params: Array<string | null>): Promise<unknown>;
}

export interface CreditsPluginOptions {
  /** The pg Pool Better Auth's adapter uses (default: Better Auth's `database` when it is a pg Pool).
   * The same Pool lets the starting grant join the sign-up transaction; a `{ query }` object grants
   * after the commit instead (retried, idempotent). */
  database?: Queryable;
  /** Credits granted to every new user, ledgered once (`grant`, key `signup:<user id>`). Default 100; 0: none. */
  startingCredits?: number;
  /** Add the engine's `credits` and `available` to `getSession`'s user: one `balance` query per call. Default true. */
  sessionBalance?: boolean;
}

/** What the plugin adds to `session.user` (credits, teamId and totalCreditsPurchased are also
 * inferred from the schema; the others only with `sessionBalance`). */
export interface CreditsSessionUser {
  credits: number;
  teamId?: string | null;
  totalCreditsPurchased: number;
  /** Spendable now: credits less active holds and expired blocks; null when the balance could not be read. */
  available?: number | null;
  /** The team pool, when `teamId` is set (a team member's usage is charged there). */
  teamCredits?: number;
  teamAvailable?: number;
}

export declare function credits(options?: CreditsPluginOptions): {
  id: 'fltr-credits';
  schema: {
    user: {
      fields: {
        credits: { type: 'number'; fieldName: 'credits'; required: false; input: false; defaultValue: 0; returned: true };
        teamId: { type: 'string'; fieldName: 'team_id'; required: false; input: false; returned: true };
        totalCreditsPurchased: {
          type: 'number';
          fieldName: 'total_credits_purchased';
          required: false;
          input: false;
          defaultValue: 0;
          returned: true;
        };
      };
    };
  };
  init: NonNullable<BetterAuthPlugin['init']>;
  hooks: NonNullable<BetterAuthPlugin['hooks']>;
};
