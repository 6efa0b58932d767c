//! Progress on long CLI work (issue 13), on 1,000,000 ledger rows: under a pseudo-terminal
//! (util-linux `script`) `migrate`, `reconcile`, `seed-credits` and `sweep` draw a line on
//! standard error — counts, rate and ETA for batched work, what is read and the time elapsed for
//! one long statement — and erase it before the answer; with `--json`, or piped, they print
//! exactly one JSON object (or the sentence) and nothing else.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USERS: u32 = 10_000;
const LEDGER_ROWS: u32 = 1_000_000;
const ROWS_PER_USER: u32 = LEDGER_ROWS / USERS;
/// Users with one expired active hold each: what `sweep` settles, in two batches (1000 at most each).
const EXPIRED_HOLDS: u32 = 1_100;
/// What the line starts each frame with (`\r`, erase line).
const REDRAW: &str = "\r\x1b[2K";

fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs the CLI with standard output and error on a pseudo-terminal; returns its exit code, what
/// the terminal received and how long it took.
fn on_terminal(db: &TestDb, args: &[&str]) -> (i32, String, Duration) {
    let binary = env!("CARGO_BIN_EXE_fltr-credits");
    let words: Vec<String> =
        std::iter::once(binary).chain(args.iter().copied()).chain(["--database-url", &db.url]).map(quoted).collect();
    let started = Instant::now();
    let output = Command::new("script")
        .args(["-qfec", &words.join(" "), "/dev/null"])
        .env_remove("DATABASE_URL")
        .env_remove("AUTH_DATABASE_URL")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs the CLI on a pseudo-terminal");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned(), started.elapsed())
}

/// The frames the line showed, and what was left after the last erase (the answer).
fn frames(terminal: &str) -> (Vec<&str>, &str) {
    let mut pieces: Vec<&str> = terminal.split(REDRAW).collect();
    let answer = pieces.pop().unwrap_or_default();
    assert_eq!(pieces.first().copied(), Some(""), "nothing before the first frame: {terminal:?}");
    (pieces.into_iter().skip(1).collect(), answer)
}

/// A command on the terminal that drew at least one frame and erased it before answering.
fn with_progress(db: &TestDb, args: &[&str]) -> (Vec<String>, String, Duration) {
    let (code, terminal, took) = on_terminal(db, args);
    assert_eq!(code, 0, "{args:?}: {terminal}");
    let (frames, answer) = frames(&terminal);
    assert!(!frames.is_empty(), "{args:?} drew no progress on a terminal: {terminal:?}");
    for frame in &frames {
        assert!(frame.chars().count() <= 79 && !frame.contains('\n'), "a frame that wraps: {frame:?}");
    }
    eprintln!("{args:?} on a terminal: {took:?}, {} frame(s), the last {:?}", frames.len(), frames.last());
    (frames.iter().map(|frame| frame.to_string()).collect(), answer.to_string(), took)
}

/// With `--json` on the terminal: no progress, one line, one JSON object.
fn json_on_terminal(db: &TestDb, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, terminal, _) = on_terminal(db, &all);
    assert_eq!(code, 0, "{args:?}: {terminal}");
    assert!(!terminal.contains('\x1b'), "progress drawn with --json: {terminal:?}");
    assert_eq!(terminal.trim_end().lines().count(), 1, "{terminal:?}");
    serde_json::from_str(terminal.trim()).unwrap_or_else(|_| panic!("not one JSON object: {terminal:?}"))
}

/// Piped, with and without `--json`: the sentence, or one JSON object; nothing on stderr.
fn quiet_when_piped(db: &TestDb, args: &[&str], sentence: &str) -> Value {
    let mut all = args.to_vec();
    all.extend(["--database-url", &db.url]);
    let (code, stdout, stderr) = cli(&all, &[]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, format!("{sentence}\n").as_str(), ""));
    all.push("--json");
    let (code, stdout, stderr) = cli(&all, &[]);
    assert_eq!((code, stderr.as_str(), stdout.lines().count()), (0, "", 1), "{stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not one JSON object: {stdout:?}"))
}

/// 10,000 users with 100 credits each, ledgered by 100 rows of 1 (1,000,000 rows: reconcile is
/// clean); the first 1,100 hold 1 credit each in a hold past its deadline.
async fn fill(db: &TestDb) {
    let client = db.client().await;
    // Ids padded so every index of the ledger grows at its right edge (a third faster to write).
    let sql = format!(
        "INSERT INTO users (id, name, email, credits)
           SELECT 'u' || lpad(g::text, 5, '0'), 'u' || g, 'u' || g || '@example.com', 100
           FROM generate_series(1, {USERS}) g;
         SET session_replication_role = replica; -- the rows name existing users: skip a million FK checks
         INSERT INTO credit_transactions (id, user_id, amount, type, operation, created_at)
           SELECT 'ctx_bulk_' || lpad(g::text, 7, '0'), 'u' || lpad(((g - 1) / {ROWS_PER_USER} + 1)::text, 5, '0'), 1,
             'grant', 'bulk', now() at time zone 'utc'
           FROM generate_series(1, {LEDGER_ROWS}) g;
         SET session_replication_role = DEFAULT;
         INSERT INTO credit_holds (id, account_kind, account_id, user_id, opened_by, amount, state, operation,
             expires_at, created_at)
           SELECT 'hold_bulk_' || g, 'user', u, u, u, 1, 'active', 'bulk',
             (now() at time zone 'utc') - interval '1 hour', (now() at time zone 'utc') - interval '2 hours'
           FROM generate_series(1, {EXPIRED_HOLDS}) g, lpad(g::text, 5, '0') p, concat('u', p) u;
         UPDATE users SET held_credits = 1 WHERE id IN (SELECT account_id FROM credit_holds);"
    );
    client.batch_execute(&sql).await.expect("fill the database");
    // Its own batch: VACUUM runs outside a transaction. Leaves the planner's estimates exact.
    client.batch_execute("VACUUM ANALYZE").await.expect("vacuum");
    assert_eq!(scalar(&client, "SELECT count(*) FROM credit_transactions").await, LEDGER_ROWS.to_string());
}

#[tokio::test]
async fn long_work_shows_progress_on_a_terminal_and_stays_quiet_otherwise() {
    let db = TestDb::new("cli_progress").await;

    // migrate on a fresh database: its statements counted.
    let (frames, answer, _) = with_progress(&db, &["migrate"]);
    assert!(answer.contains("applied 0000_nifty_bruce_banner"), "{answer:?}");
    let counts: Vec<&str> =
        frames.iter().filter_map(|frame| frame.split("migrate: ").nth(1)?.split(" statements").next()).collect();
    assert!(
        counts.iter().any(|done_of| done_of.split_once('/').is_some_and(|(_, total)| total != "0")),
        "the pending statements counted: {frames:?}"
    );

    let filling = Instant::now();
    fill(&db).await;
    eprintln!("1,000,000 ledger rows written in {:?}", filling.elapsed());

    // reconcile: one statement, so what it reads and the time elapsed.
    let (frames, answer, _) = with_progress(&db, &["reconcile"]);
    assert_eq!(answer, "10000 accounts checked, 0 differ from their ledger\r\n");
    assert!(
        frames.iter().any(|frame| frame.contains("reconcile: ~1,000,000 ledger rows, ~10,000 accounts, ")
            && frame.ends_with("s elapsed")),
        "{frames:?}"
    );
    assert_eq!(json_on_terminal(&db, &["reconcile"])["accounts_checked"], 10_000);
    let piped = quiet_when_piped(&db, &["reconcile"], "10000 accounts checked, 0 differ from their ledger");
    assert_eq!(piped["drift"].as_array().map(Vec::len), Some(0));

    // migrate with nothing to do, on the million rows.
    let (frames, answer, _) = with_progress(&db, &["migrate"]);
    assert_eq!(answer, "no pending migrations\r\n");
    assert!(frames.iter().all(|frame| frame.contains(" migrate: ")), "{frames:?}");
    quiet_when_piped(&db, &["migrate"], "no pending migrations");

    // seed-credits: one statement; everyone has credits, so nobody is granted.
    let (frames, answer, _) = with_progress(&db, &["seed-credits", "--amount", "100"]);
    assert_eq!(answer, "granted 100 credits to 0 user(s)\r\n");
    assert!(frames.iter().any(|frame| frame.contains("seed-credits: ~10,000 users, ")), "{frames:?}");

    // sweep: accounts counted against the total due, with a rate and an ETA.
    let (frames, answer, _) = with_progress(&db, &["sweep"]);
    assert_eq!(answer, "closed 1100 expired hold(s) and expired 0 block(s) of credits on 1100 account(s)\r\n");
    assert!(
        frames.iter().any(|frame| frame.contains("sweep: ")
            && frame.contains("/1,100 accounts, ")
            && frame.contains("/s, ETA ")
            && !frame.contains(" 0/1,100")),
        "{frames:?}"
    );
    assert_eq!(json_on_terminal(&db, &["sweep"])["expired_holds"], 0);
    quiet_when_piped(&db, &["sweep"], "closed 0 expired hold(s) and expired 0 block(s) of credits on 0 account(s)");

    let report = json_on_terminal(&db, &["reconcile"]);
    assert_eq!(
        (report["drift"].as_array().map(Vec::len), report["holds"].as_array().map(Vec::len)),
        (Some(0), Some(0)),
        "{report}"
    );
}
