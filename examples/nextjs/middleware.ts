// Edge middleware: every /api/* call is authenticated (Better Auth session cookie or bearer,
// or x-api-key) and paid for in credits before it reaches the route. One statement per call:
// the session token is resolved inside the debit itself.
import { NextResponse, type NextRequest } from 'next/server';
import { credentialFromRequest, limitHeaders, type CreditError } from 'fltr-credits';
import { loadCredits, withCredits } from './lib/credits';

/** What each API route costs; 0 = authenticate and check only (nothing is written). */
const COSTS: Record<string, number> = { '/api/documents': 5, '/api/balance': 0 };

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
    const outcome = await withCredits((credits) =>
      cost > 0 ? credits.consume({ credential, amount: cost, operation }) : credits.check({ credential, amount: 0 }),
    );
    // The route learns who paid from headers only the middleware sets.
    const forwarded = new Headers(request.headers);
    forwarded.set('x-fltr-charged', JSON.stringify(outcome.charged));
    forwarded.set('x-fltr-credential', JSON.stringify(credential));
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
