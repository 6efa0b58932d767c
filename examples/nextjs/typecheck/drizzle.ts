// Compile-time checks, run by `npm run typecheck` (tsc --noEmit) and next build: the tables of
// 'fltr-credits/drizzle' carry their columns' types, so a wrong use is an error, never `any`.
import type { apiKeyCredits, creditTransactions, users } from 'fltr-credits/drizzle';

type Transaction = typeof creditTransactions.$inferSelect;
type NewTransaction = typeof creditTransactions.$inferInsert;
type User = typeof users.$inferSelect;
type Key = typeof apiKeyCredits.$inferSelect;

export const transactionFields = (row: Transaction): [string, number, string, string | null, Date, unknown] => [
  row.id, row.amount, row.type, row.apiKeyId, row.createdAt, row.expiring,
];
export const userFields = (row: User): [number, number, string | null, boolean, string[] | null, number[] | null] => [
  row.credits, row.totalCreditsPurchased, row.teamId, row.emailVerified, row.expiringIds, row.expiringLeft,
];
export const keyLimits = (row: Key): [number | null, number | null, Date | null] => [row.dailyLimit, row.monthlyLimit, row.expiresAt];
// The insert type requires what has no default (id, user_id, amount, type, created_at) and nothing else.
export const minimalInsert: NewTransaction = { id: 'ctx_1', userId: 'u', amount: 1, type: 'grant', createdAt: new Date() };

// @ts-expect-error amount is a number, not a string
export const wrongType = (row: Transaction): string => row.amount;
// @ts-expect-error no such column
export const noSuchColumn = (row: Transaction) => row.balance;
// @ts-expect-error user_id is NOT NULL without a default: an insert needs it
export const missingUser: NewTransaction = { id: 'ctx_2', amount: 1, type: 'grant', createdAt: new Date() };
