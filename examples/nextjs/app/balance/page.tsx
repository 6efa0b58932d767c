// The balance page, rendered on the server in the edge runtime: the caller's balance, what of it
// expires, the last 30 days of usage as an inline SVG chart (per UTC day, stacked by operation)
// and the ledger, paginated by links. Every number comes in the HTML, formatted for the reader's
// locale (Accept-Language, or ?locale=) with fltr-credits' formatCredits; nothing needs JavaScript.
import { headers } from 'next/headers';
import { credentialFromRequest, formatCredits, balanceStatus, type Balance, type CreditError, type TransactionPage, type UsageReport } from 'fltr-credits';
import { loadCredits, withCredits } from '../../lib/credits';
import { UsageChart, chartDays } from './usage-chart';

export const runtime = 'edge';
export const dynamic = 'force-dynamic';

const DAYS = 30;
const PAGE = 10;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The first locale the reader asked for that Intl knows; en-US otherwise. */
function readerLocale(asked: string | undefined, acceptLanguage: string | null): string {
  for (const tag of [asked, ...(acceptLanguage ?? '').split(',').map((part) => part.split(';')[0].trim())]) {
    if (!tag) continue;
    try {
      const [canonical] = Intl.getCanonicalLocales(tag);
      if (canonical && Intl.NumberFormat.supportedLocalesOf(canonical).length) return canonical;
    } catch {
      // not a language tag: try the next one
    }
  }
  return 'en-US';
}

type Data = { balance: Balance; usage: UsageReport; ledger: TransactionPage; days: string[] };

async function load(cursor: string | undefined): Promise<Data> {
  await loadCredits();
  const credential = credentialFromRequest(await headers(), process.env.BETTER_AUTH_SECRET ?? '');
  if (!credential) throw Object.assign(new Error('sign in first'), { code: 'unauthenticated' });
  const today = Date.now();
  const days = Array.from({ length: DAYS }, (_, index) => utcDay(today - (DAYS - 1 - index) * 86_400_000));
  return withCredits(async (credits) => {
    const principal = await credits.authenticate(credential);
    const account = principal.kind === 'user' ? { userId: principal.user_id } : { apiKey: principal.api_key };
    const [balance, usage, ledger] = await Promise.all([
      credits.balance(account),
      credits.usage({ ...account, from: days[0], to: utcDay(today + 86_400_000), groupBy: ['day', 'operation'] }),
      credits.transactions({ ...account, limit: PAGE, cursor }),
    ]);
    return { balance, usage, ledger, days };
  });
}

export default async function BalancePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const query = await searchParams;
  const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
  const locale = readerLocale(one(query.locale), (await headers()).get('accept-language'));
  let data: Data;
  try {
    data = await load(one(query.cursor) || undefined);
  } catch (error) {
    return (
      <main>
        <h1>Credits</h1>
        <p id="error">Could not load the balance: {String((error as CreditError).code ?? error)}</p>
      </main>
    );
  }
  const { balance, usage, ledger, days } = data;
  const account = balance.team ?? balance.user ?? balance.api_key;
  const credits = account?.credits ?? 0;
  const expiring = account?.expiring ?? [];
  const status = balanceStatus(credits, { low: 10 });
  const date = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' });
  const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  const chart = chartDays(days, usage.usage);
  const link = (cursor?: string) => {
    const params = new URLSearchParams();
    if (one(query.locale)) params.set('locale', one(query.locale)!);
    if (cursor) params.set('cursor', cursor);
    return `/balance${params.size ? `?${params}` : ''}`;
  };
  return (
    <main style={{ maxWidth: 720 }}>
      <h1>Credits</h1>
      <section id="balance" data-locale={locale} data-status={status} data-credits={credits}>
        <p style={{ fontSize: '2rem', margin: 0 }}>
          <output id="balance-full">{formatCredits(credits, { locale })}</output>
        </p>
        <p>
          Compact: <output id="balance-compact">{formatCredits(credits, { locale, compact: true })}</output> · status:{' '}
          <output id="balance-status">{status}</output>
        </p>
        {expiring.length > 0 ? (
          <ul id="expiring">
            {expiring.map((block) => (
              <li key={block.expires_at} data-amount={block.amount} data-expires-at={block.expires_at}>
                {formatCredits(block.amount, { locale })} expire on {date.format(new Date(block.expires_at))}
              </li>
            ))}
          </ul>
        ) : null}
      </section>

      <section id="usage" data-from={usage.from} data-to={usage.to}>
        <h2>Last {DAYS} days</h2>
        {usage.usage.length === 0 ? (
          <p id="usage-empty">No usage in the last {DAYS} days.</p>
        ) : (
          <UsageChart days={chart.days} operations={chart.operations} locale={locale} />
        )}
      </section>

      <section id="ledger">
        <h2>Ledger</h2>
        {ledger.transactions.length === 0 ? (
          <p id="ledger-empty">No transactions yet.</p>
        ) : (
          <table style={{ borderCollapse: 'collapse', width: '100%' }}>
            <thead>
              <tr>
                <th style={{ textAlign: 'left' }}>When (UTC)</th>
                <th style={{ textAlign: 'left' }}>Type</th>
                <th style={{ textAlign: 'left' }}>Operation</th>
                <th style={{ textAlign: 'right' }}>Amount</th>
              </tr>
            </thead>
            <tbody>
              {ledger.transactions.map((row) => (
                <tr key={row.id} className="ledger-row" data-id={row.id} data-amount={row.amount}>
                  <td>{dateTime.format(new Date(row.created_at))}</td>
                  <td>{row.type}</td>
                  <td>{row.operation ?? '–'}</td>
                  <td style={{ textAlign: 'right' }}>{formatCredits(row.amount, { locale })}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <nav>
          {one(query.cursor) ? <a id="ledger-newest" href={link()}>Newest</a> : null}{' '}
          {ledger.next_cursor ? <a id="ledger-older" href={link(ledger.next_cursor)}>Older</a> : null}
        </nav>
      </section>
    </main>
  );
}
