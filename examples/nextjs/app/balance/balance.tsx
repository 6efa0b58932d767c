'use client';
// Fetches the balance (through the middleware, so only a signed-in user sees it) and formats it
// in the browser with fltr-credits' formatCredits (Intl, from wasm) in the reader's locale.
import { useEffect, useState } from 'react';
import init, { formatCredits, balanceStatus, type Balance as BalanceObject } from 'fltr-credits';

type View = { locale: string; full: string; compact: string; status: string } | { error: string };

export default function Balance() {
  const [view, setView] = useState<View | null>(null);
  useEffect(() => {
    (async () => {
      await init();
      const response = await fetch('/api/balance', { cache: 'no-store' });
      const body = await response.json();
      if (!response.ok) return setView({ error: body.error?.code ?? String(response.status) });
      const balance = body as BalanceObject;
      const credits = balance.team?.credits ?? balance.user?.credits ?? 0;
      const locale = new URLSearchParams(location.search).get('locale') ?? navigator.language;
      setView({
        locale,
        full: formatCredits(credits, { locale }),
        compact: formatCredits(credits, { locale, compact: true }),
        status: balanceStatus(credits, { low: 10 }),
      });
    })().catch((error) => setView({ error: String(error?.code ?? error) }));
  }, []);
  if (!view) return <p id="loading">Loading…</p>;
  if ('error' in view) return <p id="error">Could not load the balance: {view.error}</p>;
  return (
    <section id="balance" data-locale={view.locale} data-status={view.status}>
      <p style={{ fontSize: '2rem', margin: 0 }}>
        <output id="balance-full">{view.full}</output>
      </p>
      <p>
        Compact: <output id="balance-compact">{view.compact}</output> · status: <output id="balance-status">{view.status}</output>
      </p>
    </section>
  );
}
