//! Progress on a terminal for long CLI work (`migrate`, `reconcile`, `seed-credits`, `sweep`).
//!
//! Shown only when a person watches: never with `--json`, only when standard error is a terminal
//! (and `TERM` is not `dumb`). It goes to standard error, one line redrawn in place, and is erased
//! before the command prints its answer, so stdout is exactly what it is without a terminal.
//!
//! What it can honestly say depends on the work. Batched work (sweep's accounts, migrate's
//! statements) has counts, a rate and an ETA. One long statement (`reconcile`, `seed-credits`) has
//! no progress Postgres reports (`pg_stat_progress_*` covers no plain SELECT or UPDATE), so it
//! shows what it works on (the planner's row estimates) and the time elapsed.
//!
//! The formatting below is pure and unit-tested; the drawing is a thread that redraws a snapshot
//! every [`REDRAW`].

use crate::sql::executor::{BatchExecutor, Executor};
use crate::sql::failure::DbFailure;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);
/// The line never wraps (a wrapped line could not be erased in place) on a terminal this wide.
const WIDTH_COLUMNS: usize = 79;
/// A statement running longer than this gets its own elapsed time on the line.
const SLOW_STATEMENT: Duration = Duration::from_secs(2);
const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

/// Should progress be drawn? Not with `--json`, and only to a terminal that understands `\r` and
/// erase-line.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal() && !matches!(std::env::var("TERM").as_deref(), Ok("dumb"))
}

/// What one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub label: &'static str,
    /// What is counted ("accounts", "statements"); `None` for one statement (a spinner).
    pub unit: Option<&'static str>,
    pub done: u64,
    pub total: Option<u64>,
    /// What is happening now (a statement, the estimates of a long one).
    pub note: String,
    pub elapsed: Duration,
    /// Time in the current step (since the note last changed).
    pub step_elapsed: Duration,
    pub frame: u64,
}

/// 1234567 → "1,234,567".
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// "0.4s", "12s", "3m05s", "1h02m": precise while short, coarse while long.
pub fn duration(value: Duration) -> String {
    let seconds = value.as_secs();
    match seconds {
        0..10 => format!("{:.1}s", value.as_secs_f64()),
        10..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// Items per second so far; `None` until there is something to measure.
pub fn rate(done: u64, elapsed: Duration) -> Option<f64> {
    (done > 0 && elapsed >= Duration::from_millis(200)).then(|| done as f64 / elapsed.as_secs_f64())
}

/// "4.5/s" below 10 per second, "1,234/s" above.
pub fn rate_text(per_second: f64) -> String {
    if per_second < 10.0 {
        format!("{per_second:.1}/s")
    } else {
        format!("{}/s", count(per_second.round() as u64))
    }
}

/// Time left at the rate so far; `None` without a total or before the first item.
pub fn eta(done: u64, total: Option<u64>, elapsed: Duration) -> Option<Duration> {
    let total = total?;
    if done == 0 {
        return None;
    }
    let left = total.saturating_sub(done);
    Some(Duration::from_secs_f64(elapsed.as_secs_f64() * left as f64 / done as f64))
}

/// One frame, at most `width` characters:
/// `/ sweep: 1,200/2,000 accounts, 850/s, ETA 0.9s, 1.4s elapsed`,
/// `- reconcile: ~1,000,000 ledger rows, ~10,000 accounts, 2.4s elapsed`.
pub fn line(snapshot: &Snapshot, width: usize) -> String {
    let spinner = SPINNER[(snapshot.frame % SPINNER.len() as u64) as usize];
    let mut parts = Vec::new();
    if let Some(unit) = snapshot.unit {
        // Work found meanwhile (an account that became due) can pass the total counted at the start.
        let total = snapshot.total.map(|total| total.max(snapshot.done));
        parts.push(match total {
            Some(total) => format!("{}/{} {unit}", count(snapshot.done), count(total)),
            None => format!("{} {unit}", count(snapshot.done)),
        });
        if let Some(per_second) = rate(snapshot.done, snapshot.elapsed) {
            parts.push(rate_text(per_second));
            if let Some(left) = eta(snapshot.done, total, snapshot.elapsed) {
                parts.push(format!("ETA {}", duration(left)));
            }
        }
    }
    parts.push(format!("{} elapsed", duration(snapshot.elapsed)));
    // The step is what the note names (a statement): no note, no step to time.
    if snapshot.unit.is_some() && !snapshot.note.is_empty() && snapshot.step_elapsed >= SLOW_STATEMENT {
        parts.push(format!("this one {}", duration(snapshot.step_elapsed)));
    }
    if !snapshot.note.is_empty() {
        let note = &snapshot.note;
        if snapshot.unit.is_some() {
            parts.push(note.clone());
        } else {
            parts.insert(0, note.clone());
        }
    }
    let text = format!("{spinner} {}: {}", snapshot.label, parts.join(", "));
    truncate(&text, width)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

/// A statement as a few words for the line: its first line that says what it does (not BEGIN,
/// SET LOCAL or a comment), whitespace collapsed.
pub fn statement_summary(sql: &str) -> String {
    let telling = sql
        .lines()
        .map(str::trim)
        .find(|line| {
            !line.is_empty()
                && !line.starts_with("--")
                && !line.to_ascii_uppercase().starts_with("BEGIN")
                && !line.to_ascii_uppercase().starts_with("SET LOCAL")
        })
        .unwrap_or("");
    telling.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct State {
    done: u64,
    total: Option<u64>,
    note: String,
    step_started: Instant,
}

struct Shared {
    label: &'static str,
    unit: Option<&'static str>,
    started: Instant,
    state: Mutex<State>,
    stopped: AtomicBool,
}

impl Shared {
    fn snapshot(&self, frame: u64) -> Snapshot {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Snapshot {
            label: self.label,
            unit: self.unit,
            done: state.done,
            total: state.total,
            note: state.note.clone(),
            elapsed: self.started.elapsed(),
            step_elapsed: state.step_started.elapsed(),
            frame,
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }
}

/// A progress line on standard error, or nothing (`hidden`, or not `wanted`): every method is a
/// no-op then. Erased when finished or dropped (an error path included), before the answer.
pub struct Progress {
    shared: Option<Arc<Shared>>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing when `shown` (see [`wanted`]), at once (a command done before the next
    /// redraw shows this frame). `unit`: what is counted, `None` for one long statement; `note`:
    /// what it starts with.
    pub fn start(shown: bool, label: &'static str, unit: Option<&'static str>, note: String) -> Progress {
        if !shown {
            return Progress { shared: None, drawer: None };
        }
        let now = Instant::now();
        let shared = Arc::new(Shared {
            label,
            unit,
            started: now,
            state: Mutex::new(State { done: 0, total: None, note, step_started: now }),
            stopped: AtomicBool::new(false),
        });
        // The first frame here, so even a command done before the thread runs has shown it.
        frame(&shared, 0);
        let drawing = Arc::clone(&shared);
        let drawer = std::thread::Builder::new().name("progress".into()).spawn(move || draw(&drawing)).ok();
        Progress { shared: Some(shared), drawer }
    }

    pub fn set_total(&self, total: u64) {
        if let Some(shared) = &self.shared {
            shared.update(|state| state.total = Some(total));
        }
    }

    /// What is happening now; starts the step's clock.
    pub fn set_note(&self, note: impl Into<String>) {
        if let Some(shared) = &self.shared {
            let note = note.into();
            shared.update(|state| {
                state.note = note;
                state.step_started = Instant::now();
            });
        }
    }

    pub fn add(&self, items: u64) {
        if let Some(shared) = &self.shared {
            shared.update(|state| state.done += items);
        }
    }

    /// Stops drawing and erases the line.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.stopped.store(true, Ordering::Release);
            if let Some(drawer) = self.drawer.take() {
                drawer.thread().unpark();
                let _ = drawer.join();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `\r` and erase-line before each frame; the last write erases the line and leaves the cursor at
/// its start, where the answer goes. Write errors are ignored: progress never fails a command.
fn draw(shared: &Shared) {
    let mut number = 1;
    loop {
        std::thread::park_timeout(REDRAW);
        if shared.stopped.load(Ordering::Acquire) {
            break;
        }
        frame(shared, number);
        number += 1;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

fn frame(shared: &Shared, number: u64) {
    let text = line(&shared.snapshot(number), WIDTH_COLUMNS);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K{text}");
    let _ = stderr.flush();
}

/// An executor that tells `watch` about each statement: before it runs (`Started`) and after it
/// answered (`Finished`). How the CLI counts the engine's and the migrator's
/// work without either knowing (they are shared with the Worker and the npm package).
pub struct Watched<E, F> {
    pub inner: E,
    pub watch: F,
}

/// `inner` with `watch` told about each statement (the bound lets a closure take any `Event`).
pub fn watched<E, F: Fn(Event)>(inner: E, watch: F) -> Watched<E, F> {
    Watched { inner, watch }
}

pub enum Event<'a> {
    Started(&'a str),
    Finished(&'a str),
}

impl<E: Executor, F: Fn(Event)> Executor for Watched<E, F> {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        (self.watch)(Event::Started(statement.sql));
        let rows = self.inner.query(statement).await?;
        (self.watch)(Event::Finished(statement.sql));
        Ok(rows)
    }
}

impl<E: BatchExecutor, F: Fn(Event)> BatchExecutor for Watched<E, F> {
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        (self.watch)(Event::Started(sql));
        self.inner.batch(sql).await?;
        (self.watch)(Event::Finished(sql));
        Ok(())
    }
}

/// The planner's row estimates for `tables` (`pg_class.reltuples`, free to read), in the order
/// given; `None` for a table never analyzed or vacuumed that has rows, or when the question fails
/// (progress never fails a command).
pub async fn estimated_rows(client: &tokio_postgres::Client, tables: &[&str]) -> Vec<Option<u64>> {
    // A table never analyzed has reltuples -1; one with no page at all is empty all the same.
    let sql = "SELECT c.relname::text, (CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint \
        WHEN pg_relation_size(c.oid) = 0 THEN 0 END)::text FROM pg_class c \
        WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND c.relname::text = ANY(string_to_array($1, ','))";
    let joined = tables.join(",");
    let rows = match client.query_typed(sql, &[(&joined, tokio_postgres::types::Type::TEXT)]).await {
        Ok(rows) => rows,
        Err(_) => return vec![None; tables.len()],
    };
    tables
        .iter()
        .map(|table| {
            rows.iter()
                .find(|row| row.get::<_, Option<String>>(0).as_deref() == Some(*table))
                .and_then(|row| row.get::<_, Option<String>>(1))
                .and_then(|text| text.parse::<i64>().ok())
                .and_then(|estimate| u64::try_from(estimate).ok())
        })
        .collect()
}

/// "~1,000,000 ledger rows" for an estimate, nothing without one.
pub fn estimate(value: Option<u64>, what: &str) -> Option<String> {
    value.map(|value| format!("~{} {what}", count(value)))
}

/// The sum of estimates, `None` when any is unknown.
pub fn sum(estimates: &[Option<u64>]) -> Option<u64> {
    estimates.iter().try_fold(0u64, |total, estimate| estimate.map(|rows| total + rows))
}

/// "~1,000,000 ledger rows, ~10,000 accounts": the estimates known, joined.
pub fn estimates(parts: &[(Option<u64>, &str)]) -> String {
    parts.iter().filter_map(|(value, what)| estimate(*value, what)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(unit: Option<&'static str>, done: u64, total: Option<u64>, elapsed_ms: u64) -> Snapshot {
        Snapshot {
            label: "sweep",
            unit,
            done,
            total,
            note: String::new(),
            elapsed: Duration::from_millis(elapsed_ms),
            step_elapsed: Duration::ZERO,
            frame: 1,
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (1_000_000, "1,000,000"), (12_345_678, "12,345,678")];
        for (value, text) in cases {
            assert_eq!(count(value), text);
        }
    }

    #[test]
    fn durations_are_precise_while_short_and_coarse_while_long() {
        let cases = [(400, "0.4s"), (9_940, "9.9s"), (12_000, "12s"), (185_000, "3m05s"), (3_720_000, "1h02m")];
        for (milliseconds, text) in cases {
            assert_eq!(duration(Duration::from_millis(milliseconds)), text);
        }
    }

    #[test]
    fn rate_and_eta_need_something_done() {
        assert_eq!(rate(0, Duration::from_secs(3)), None);
        assert_eq!(rate(10, Duration::from_millis(50)), None, "too early to measure");
        assert_eq!(rate(500, Duration::from_secs(2)), Some(250.0));
        assert_eq!(rate_text(4.54), "4.5/s");
        assert_eq!(rate_text(1234.4), "1,234/s");
        assert_eq!(eta(0, Some(10), Duration::from_secs(1)), None);
        assert_eq!(eta(5, None, Duration::from_secs(1)), None);
        assert_eq!(eta(250, Some(1000), Duration::from_secs(1)), Some(Duration::from_secs(3)));
        assert_eq!(eta(1200, Some(1000), Duration::from_secs(1)), Some(Duration::ZERO), "past the total");
    }

    #[test]
    fn a_counted_line_has_counts_rate_eta_and_elapsed() {
        let mut frame = snapshot(Some("accounts"), 1200, Some(2000), 1400);
        assert_eq!(line(&frame, 79), "/ sweep: 1,200/2,000 accounts, 857/s, ETA 0.9s, 1.4s elapsed");
        frame.total = None;
        assert_eq!(line(&frame, 79), "/ sweep: 1,200 accounts, 857/s, 1.4s elapsed");
        frame.done = 0;
        assert_eq!(line(&frame, 79), "/ sweep: 0 accounts, 1.4s elapsed");
        frame.done = 2500;
        frame.total = Some(2000);
        assert_eq!(line(&frame, 79), "/ sweep: 2,500/2,500 accounts, 1,786/s, ETA 0.0s, 1.4s elapsed");
        frame.step_elapsed = Duration::from_secs(5);
        assert!(!line(&frame, 79).contains("this one"), "no note, no step to time");
    }

    #[test]
    fn a_long_statement_shows_what_it_works_on_and_elapsed() {
        let mut frame = snapshot(None, 0, None, 2400);
        frame.label = "reconcile";
        frame.note = "~1,000,000 ledger rows, ~10,000 accounts".into();
        frame.frame = 2;
        assert_eq!(line(&frame, 79), "- reconcile: ~1,000,000 ledger rows, ~10,000 accounts, 2.4s elapsed");
    }

    #[test]
    fn a_slow_statement_gets_its_own_time_and_the_line_never_wraps() {
        let mut frame = snapshot(Some("statements"), 3, Some(40), 9000);
        frame.label = "migrate";
        frame.step_elapsed = Duration::from_secs(5);
        frame.note =
            r#"ALTER TABLE "credit_transactions" VALIDATE CONSTRAINT "credit_transactions_user_id_users_id_fk""#.into();
        let text = line(&frame, 79);
        assert_eq!(text.chars().count(), 79);
        assert!(
            text.starts_with("/ migrate: 3/40 statements, 0.3/s, ETA 1m51s, 9.0s elapsed, this one 5.0s, A"),
            "{text}"
        );
        assert!(text.ends_with("..."));
    }

    #[test]
    fn a_statement_is_summed_up_by_its_telling_line() {
        let validate =
            "BEGIN;\nSET LOCAL lock_timeout = '5s';\nALTER TABLE \"users\"   VALIDATE CONSTRAINT \"x\";\nCOMMIT;";
        assert_eq!(statement_summary(validate), r#"ALTER TABLE "users" VALIDATE CONSTRAINT "x";"#);
        assert_eq!(statement_summary("\n  SELECT 1\n"), "SELECT 1");
        assert_eq!(statement_summary("BEGIN"), "");
    }

    #[test]
    fn estimates_read_approximately() {
        assert_eq!(estimate(Some(1_000_000), "ledger rows").as_deref(), Some("~1,000,000 ledger rows"));
        assert_eq!(estimate(None, "ledger rows"), None);
        assert_eq!(sum(&[Some(2), Some(0), Some(5)]), Some(7));
        assert_eq!(sum(&[Some(2), None]), None);
        let parts = [(Some(1_000_000), "ledger rows"), (None, "accounts"), (Some(3), "teams")];
        assert_eq!(estimates(&parts), "~1,000,000 ledger rows, ~3 teams");
    }
}
