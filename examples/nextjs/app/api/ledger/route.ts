// The caller's ledger, newest first: a typed drizzle query on fltr-credits' own tables
// (`fltr-credits/drizzle`), through drizzle-orm/node-postgres in the Node runtime. The middleware
// has authenticated the caller (cost 0) and says who it is in `x-fltr-principal`.
import { desc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { creditTransactions } from 'fltr-credits/drizzle';
import type { Principal } from 'fltr-credits';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

let database: ReturnType<typeof drizzle> | undefined;
/** One pool per server process (Node runtime: sockets may outlive a request). */
const db = () => (database ??= drizzle(process.env.DATABASE_URL ?? ''));

/** What the route returns per ledger row: the columns, typed by the drizzle table. */
type LedgerEntry = Pick<typeof creditTransactions.$inferSelect, 'id' | 'amount' | 'type' | 'operation' | 'createdAt'>;

export async function GET(request: Request) {
  const principal = JSON.parse(request.headers.get('x-fltr-principal') ?? 'null') as Principal | null;
  if (!principal) {
    return Response.json({ error: { code: 'unauthenticated', message: 'sign in or send an API key' } }, { status: 401 });
  }
  // A user sees every row of theirs (their pool, their team's debits, their keys); a key its own.
  const mine =
    principal.kind === 'user' ? eq(creditTransactions.userId, principal.user_id) : eq(creditTransactions.apiKeyId, principal.api_key);
  const rows = await db()
    .select()
    .from(creditTransactions)
    .where(mine)
    .orderBy(desc(creditTransactions.createdAt), desc(creditTransactions.id))
    .limit(50);
  const entries: LedgerEntry[] = rows.map(({ id, amount, type, operation, createdAt }) => ({ id, amount, type, operation, createdAt }));
  return Response.json({ entries }, { headers: { 'Cache-Control': 'no-store' } });
}
