// The caller's balance (API.md's balance object), read through fltr-credits in the edge runtime.
import { withCredits } from '../../../lib/credits';

export const runtime = 'edge';

export async function GET(request: Request) {
  const credential = JSON.parse(request.headers.get('x-fltr-credential') ?? 'null');
  const balance = await withCredits(async (credits) => {
    const principal = await credits.authenticate(credential);
    return principal.kind === 'user' ? credits.balance({ userId: principal.user_id }) : credits.balance({ apiKey: credential.value });
  });
  return Response.json(balance, { headers: { 'Cache-Control': 'no-store' } });
}
