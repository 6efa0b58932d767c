// Edge middleware: every /api/* call is authenticated (Better Auth session cookie or bearer,
// or x-api-key) and paid for in credits before it reaches the route. One statement per call:
// the session token is resolved inside the debit itself.
import { NextResponse, type NextRequest } from 'next/server';
import { credentialFromRequest, limitHeaders, type CreditError } from 'fltr-credits';
import { loadCredits, withCredits } from './lib/credits';

/** What each API route costs; 0 = authenticate only (nothing is written, nothing is charged). */
const COSTS: Record<string, number> = { '/api/documents': 5, '/api/balance': 0, '/api/ledger': 0 };

function refuse(error: CreditError) {
  const body = { error: { ...error, code: error.code, message: error.message, status: undefined, name: undefined } };
  return NextResponse.json(body, { status: error.status ?? 500, headers: limitHeaders(error) });
}

export async function middleware(request: NextRequest) {
  const cost = COSTS[request.nextUrl.pathname];
  if (cost === undefined) {
    return NextResponse.json({ error: { code: 'not_found', message: 'no such route' } }, { status: 404 });
  }
  await loadCredits();
  try {
    const credential = credentialFromRequest(request, process.env.BETTER_AUTH_SECRET ?? '');
    if (!credential) {
      return NextResponse.json({ error: { code: 'unauthenticated', message: 'sign in or send an API key' } }, { status: 401 });
    }
    const operation = `api${request.nextUrl.pathname.slice(4).replaceAll('/', '.')}`;
    const forwarded = new Headers(request.headers);
    forwarded.set('x-fltr-credential', JSON.stringify(credential));
    // Set below only from the credential just checked; never the caller's own copy.
    forwarded.delete('x-fltr-principal');
    forwarded.delete('x-fltr-charged');
    if (cost === 0) {
      // A free route still needs a valid credential (`check` takes amount >= 1: a check of 0
      // would answer "allowed" for an empty account, so it is not a sign-in test).
      const principal = await withCredits((credits) => credits.authenticate(credential));
      // Who is calling, for routes that read the database themselves (app/api/ledger: drizzle).
      forwarded.set('x-fltr-principal', JSON.stringify(principal));
      return NextResponse.next({ request: { headers: forwarded } });
    }
    const outcome = await withCredits((credits) => credits.consume({ credential, amount: cost, operation }));
    // The route learns who paid from headers only the middleware sets.
    forwarded.set('x-fltr-charged', JSON.stringify(outcome.charged));
    const response = NextResponse.next({ request: { headers: forwarded } });
    for (const [name, value] of Object.entries(limitHeaders(outcome))) response.headers.set(name, value);
    response.headers.set('X-Credits-Balance', String(outcome.balance));
    if (outcome.transaction_id) response.headers.set('X-Credits-Transaction', outcome.transaction_id);
    return response;
  } catch (error) {
    return refuse(error as CreditError);
  }
}

export const config = { matcher: '/api/:path*' };
