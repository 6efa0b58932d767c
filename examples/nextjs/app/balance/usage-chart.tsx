// The last 30 days of usage as an inline SVG, rendered on the server: one column per UTC day,
// stacked by operation, with the numbers in each bar's <title> and data-* attributes and in a
// table under the chart. No client chart library and no JavaScript: the HTML is the chart.
import { formatCredits, type UsageRow } from 'fltr-credits';

const PALETTE = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#0ea5e9', '#84cc16'];
const OTHER = '(other)';
const NONE = '(none)';
const [WIDTH, HEIGHT, LEFT, BOTTOM, TOP] = [640, 220, 56, 24, 8];

export type Day = { day: string; parts: { operation: string; amount: number }[]; total: number };

/** `days` (YYYY-MM-DD, oldest first) filled from `usage` (grouped by day and operation); at most
 * seven operations keep their own colour, the rest are summed as "(other)". */
export function chartDays(days: string[], usage: UsageRow[]): { days: Day[]; operations: string[] } {
  const totals = new Map<string, number>();
  for (const row of usage) totals.set(row.operation ?? NONE, (totals.get(row.operation ?? NONE) ?? 0) + row.amount);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name]) => name);
  const kept = ranked.length > PALETTE.length ? ranked.slice(0, PALETTE.length - 1) : ranked;
  const operations = ranked.length > kept.length ? [...kept, OTHER] : kept;
  const byDay = new Map(days.map((day) => [day, new Map<string, number>()]));
  for (const row of usage) {
    const cell = byDay.get(row.day ?? '');
    if (!cell) continue;
    const name = kept.includes(row.operation ?? NONE) ? (row.operation ?? NONE) : OTHER;
    cell.set(name, (cell.get(name) ?? 0) + row.amount);
  }
  return {
    operations,
    days: days.map((day) => {
      const cell = byDay.get(day)!;
      const parts = operations.filter((name) => cell.has(name)).map((operation) => ({ operation, amount: cell.get(operation)! }));
      return { day, parts, total: parts.reduce((sum, part) => sum + part.amount, 0) };
    }),
  };
}

/** A round upper bound for the y axis (1, 2 or 5 times a power of ten). */
function ceiling(max: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(max, 1)));
  return [1, 2, 5, 10].map((step) => step * power).find((value) => value >= max)!;
}

export function UsageChart({ days, operations, locale }: { days: Day[]; operations: string[]; locale: string }) {
  const dayLabel = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const label = (day: string) => dayLabel.format(new Date(`${day}T00:00:00Z`));
  const credits = (amount: number) => formatCredits(amount, { locale });
  const top = ceiling(Math.max(...days.map((day) => day.total)));
  const [plotWidth, plotHeight] = [WIDTH - LEFT, HEIGHT - BOTTOM - TOP];
  const column = plotWidth / days.length;
  const barWidth = Math.max(column * 0.7, 1);
  const y = (amount: number) => (amount / top) * plotHeight;
  const colour = (operation: string) => PALETTE[operations.indexOf(operation) % PALETTE.length];
  return (
    <figure style={{ margin: 0 }}>
      <svg
        id="usage-chart"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width="100%"
        role="img"
        aria-labelledby="usage-chart-title"
        data-max={top}
        style={{ maxWidth: WIDTH, font: '11px system-ui, sans-serif' }}
      >
        <title id="usage-chart-title">{`Usage per day, ${label(days[0].day)} – ${label(days[days.length - 1].day)}`}</title>
        <line x1={LEFT} x2={WIDTH} y1={TOP + plotHeight} y2={TOP + plotHeight} stroke="#999" />
        <line x1={LEFT} x2={WIDTH} y1={TOP} y2={TOP} stroke="#eee" />
        <text x={LEFT - 4} y={TOP + 4} textAnchor="end">{formatCredits(top, { locale, compact: true })}</text>
        <text x={LEFT - 4} y={TOP + plotHeight} textAnchor="end">{formatCredits(0, { locale, compact: true })}</text>
        {days.map((day, index) => {
          const x = LEFT + index * column + (column - barWidth) / 2;
          let base = TOP + plotHeight;
          return (
            <g key={day.day} className="usage-day" data-day={day.day} data-total={day.total}>
              {day.parts.map((part) => {
                const height = y(part.amount);
                base -= height;
                return (
                  <rect
                    key={part.operation}
                    className="usage-bar"
                    data-day={day.day}
                    data-operation={part.operation}
                    data-amount={part.amount}
                    x={x.toFixed(1)}
                    y={base.toFixed(1)}
                    width={barWidth.toFixed(1)}
                    height={height.toFixed(1)}
                    fill={colour(part.operation)}
                  >
                    <title>{`${label(day.day)} · ${part.operation}: ${credits(part.amount)}`}</title>
                  </rect>
                );
              })}
              {(index % 7 === 0 && index < days.length - 4) || index === days.length - 1 ? (
                <text x={(x + barWidth / 2).toFixed(1)} y={HEIGHT - 6} textAnchor="middle">{label(day.day)}</text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul id="usage-legend" style={{ listStyle: 'none', padding: 0, display: 'flex', flexWrap: 'wrap', gap: '0 1rem' }}>
          {operations.map((operation) => (
            <li key={operation} data-operation={operation}>
              <span style={{ display: 'inline-block', width: 10, height: 10, background: colour(operation), marginRight: 4 }} />
              {operation}: {credits(days.reduce((sum, day) => sum + (day.parts.find((p) => p.operation === operation)?.amount ?? 0), 0))}
            </li>
          ))}
        </ul>
      </figcaption>
      <details>
        <summary>Per day</summary>
        <table id="usage-table">
          <tbody>
            {days.filter((day) => day.total > 0).map((day) => (
              <tr key={day.day} data-day={day.day}>
                <th scope="row" style={{ textAlign: 'left', fontWeight: 'normal' }}>{label(day.day)}</th>
                <td style={{ textAlign: 'right' }}>{credits(day.total)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
