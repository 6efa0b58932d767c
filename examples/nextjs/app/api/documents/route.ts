// A paid API route: the middleware has already debited 5 credits when this runs.
export const runtime = 'edge';

export async function POST(request: Request) {
  const charged = JSON.parse(request.headers.get('x-fltr-charged') ?? 'null');
  return Response.json({ ok: true, processed: true, charged });
}
