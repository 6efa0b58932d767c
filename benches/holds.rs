//! Hold + capture pairs per second against the alternatives users have without holds, side by
//! side in one run (results in BENCHMARKS.md §5):
//! - (a) `Engine::hold` of 50, then `Engine::close_hold` capturing 42 of it (one ledger
//!   row of 42, 8 given back);
//! - (b) `Engine::consume` of 50, then `Engine::refund` of that transaction (two
//!   ledger rows, +50 back: the estimate is charged and reversed whole, nothing stays charged);
//! - (c) the same, then `Engine::consume` of 42 (three ledger rows; the only
//!   way without holds to end, like a capture, with 42 charged after reserving 50 up front).
//!
//! On an API key without limits and on a user's own pool, each client on its own account (rows do
//! not contend), at 1 and 16 clients, on loopback and through `tests/support/proxy.rs` (2 ms each
//! way, as in `benches/debits.rs`). Every pair is timed as one unit, after one untimed pair per
//! connection (statements are prepared at their first use); round trips are counted. Last, the
//! WAL one pair writes, on loopback, one client (what the server must flush per pair).
//!
//! Rounds alternate the variants (their order rotating each round) so machine drift and table
//! growth hit all of them alike; the table reports per-cell medians over rounds, and each ratio
//! as the median of its per-round ratios (the variants of one cell and round ran back to back).
//! Run: `cargo bench --bench holds` (FLTR_BENCH_SECONDS per variant per round, default 1;
//! FLTR_BENCH_ROUNDS, default 6; FLTR_TEST_PG for the server): about 2 min 45 s.

#[path = "../tests/support/proxy.rs"]
mod proxy;

use fltr_credits::adapters::native::clock::now;
use fltr_credits::adapters::native::database::{connect, Connection, Native};
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::migrator::migrate;
use fltr_credits::sql::executor::Executor;
use fltr_credits::sql::failure::DbFailure;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::ops::holds::close::{Actor, Close, CloseRequest};
use fltr_credits::sql::ops::holds::open::HoldRequest;
use fltr_credits::sql::ops::refund::RefundScope;
use fltr_credits::sql::statement::Statement;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: [usize; 2] = [1, 16];
const ESTIMATE: i64 = 50;
const ACTUAL: i64 = 42;
const FUNDS: i32 = 2_000_000_000;

fn server() -> String {
    std::env::var("FLTR_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    HoldCapture,
    ConsumeRefund,
    ConsumeRefundConsume,
}

const VARIANTS: [Variant; 3] = [Variant::HoldCapture, Variant::ConsumeRefund, Variant::ConsumeRefundConsume];

#[derive(Clone, Copy, PartialEq)]
enum AccountKind {
    ApiKey,
    UserPool,
}

impl AccountKind {
    fn label(self) -> &'static str {
        match self {
            AccountKind::ApiKey => "API key, no limits",
            AccountKind::UserPool => "user pool",
        }
    }

    /// The account client `index` spends from: its own, so clients never wait on each other's rows.
    fn payer(self, index: usize) -> Payer {
        match self {
            AccountKind::ApiKey => {
                let key = key_for(index);
                Payer::ApiKey(KeyRef::Secret { secret: key.clone(), hash: key })
            }
            AccountKind::UserPool => Payer::User(user_for(index)),
        }
    }
}

fn key_for(index: usize) -> String {
    format!("bench_hold_key_{index:06}_00000")
}

fn user_for(index: usize) -> String {
    format!("bench_pool_{index:06}")
}

/// Counts statements sent so the table reports round trips as measured, not as claimed.
struct Counting<'a> {
    inner: &'a Connection,
    round_trips: &'a AtomicU64,
}

impl Executor for Counting<'_> {
    async fn query(&self, statement: &Statement) -> Result<Vec<fltr_credits::sql::row::Row>, DbFailure> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.inner.query(statement).await
    }
}

fn consume_of(payer: &Payer, amount: i64) -> ConsumeRequest {
    ConsumeRequest {
        payer: payer.clone(),
        amount: Amount::new(amount).unwrap(),
        operation: Operation::new("bench").unwrap(),
        resource_id: None,
        metadata: None,
        idempotency_key: None,
    }
}

/// One pair (or triple) of the variant, each call checked for the effect the table claims.
async fn pair<E: Executor>(engine: &Engine<E>, variant: Variant, payer: &Payer) {
    match variant {
        Variant::HoldCapture => {
            let hold = HoldRequest {
                payer: payer.clone(),
                amount: Amount::new(ESTIMATE).unwrap(),
                operation: Operation::new("bench").unwrap(),
                resource_id: None,
                metadata: None,
                ttl_seconds: 900,
                idempotency_key: None,
            };
            let held = engine.hold(&hold, now()).await.expect("hold");
            let close = CloseRequest {
                hold_id: held.hold_id,
                close: Close::Capture(Some(ACTUAL)),
                actor: Actor::Service,
                idempotency_key: None,
            };
            let captured = engine.close_hold(&close, now()).await.expect("capture");
            assert_eq!((captured.amount, captured.released), (ACTUAL, ESTIMATE - ACTUAL));
        }
        Variant::ConsumeRefund | Variant::ConsumeRefundConsume => {
            let charged = engine.consume(&consume_of(payer, ESTIMATE), now()).await.expect("consume");
            let id = charged.transaction_id.expect("a debit writes a ledger row");
            let refunded = engine.refund(&id, &RefundScope::Any, now()).await.expect("refund");
            assert_eq!(refunded.refunded, ESTIMATE);
            if variant == Variant::ConsumeRefundConsume {
                engine.consume(&consume_of(payer, ACTUAL), now()).await.expect("consume");
            }
        }
    }
}

struct Cell {
    pairs_per_second: f64,
    round_trips_per_pair: f64,
    p50_ms: f64,
}

async fn run_cell(url: &str, variant: Variant, kind: AccountKind, clients: usize, seconds: u64) -> Cell {
    let round_trips = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let (url, round_trips, barrier) = (url.to_string(), round_trips.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let connection = Connection::open(&url).await.expect("connect");
            let payer = kind.payer(client_index);
            // One untimed pair first: the connection prepares each statement at its first use.
            let warm_up = AtomicU64::new(0);
            pair(&Engine::new(Counting { inner: &connection, round_trips: &warm_up }), variant, &payer).await;
            let engine = Engine::new(Counting { inner: &connection, round_trips: &round_trips });
            barrier.wait().await;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                pair(&engine, variant, &payer).await;
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("bench task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pairs = latencies.len() as f64;
    Cell {
        pairs_per_second: pairs / elapsed,
        round_trips_per_pair: round_trips.load(Ordering::Relaxed) as f64 / pairs,
        p50_ms: latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
    }
}

/// WAL bytes one pair writes: the server's insert position before and after one pair, the least of
/// `PAIRS_FOR_WAL` pairs run one after another (other databases' writes only ever add to it).
async fn wal_per_pair(url: &str, variant: Variant, kind: AccountKind) -> i64 {
    const PAIRS_FOR_WAL: usize = 20;
    let connection = Connection::open(url).await.expect("connect");
    let unused = AtomicU64::new(0);
    let engine = Engine::new(Counting { inner: &connection, round_trips: &unused });
    let payer = kind.payer(0);
    pair(&engine, variant, &payer).await;
    let position = || async {
        let row = connection
            .client
            .query_one("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint", &[])
            .await
            .expect("WAL position");
        row.get::<_, i64>(0)
    };
    let mut least = i64::MAX;
    for _ in 0..PAIRS_FOR_WAL {
        let before = position().await;
        pair(&engine, variant, &payer).await;
        least = least.min(position().await - before);
    }
    least
}

async fn prepare(database: &str) {
    let admin = connect(&format!("{}/postgres", server())).await.expect("server");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database}")).await.expect("drop");
    admin.batch_execute(&format!("CREATE DATABASE {database}")).await.expect("create");
    let client = connect(&format!("{}/{database}", server())).await.expect("bench db");
    migrate(&Native(&client), false).await.expect("migrate");
    let most = *CLIENTS.iter().max().unwrap();
    for index in 0..most {
        // Each key has its own owner: a ledger row's foreign key locks its user row (FOR KEY
        // SHARE), and one owner for all keys would make every client's debit share that lock.
        let owner = format!("bench_owner_{index:06}");
        client
            .execute("INSERT INTO users (id, name, email) VALUES ($1, $1, $1 || '@example.com')", &[&owner])
            .await
            .expect("owner");
        // The key's name doubles as its `key_hash`, the column fltr-credits finds keys by; no
        // daily or monthly limit.
        client
            .execute(
                "INSERT INTO api_key_credits (api_key, key_hash, user_id, credits, created_at, updated_at) VALUES ($1, $1, $2, $3, now(), now())",
                &[&key_for(index), &owner, &FUNDS],
            )
            .await
            .expect("key");
        client
            .execute(
                "INSERT INTO users (id, name, email, credits) VALUES ($1, $1, $1 || '@example.com', $2)",
                &[&user_for(index), &FUNDS],
            )
            .await
            .expect("pool user");
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = env_or("FLTR_BENCH_SECONDS", 1);
    let rounds = env_or("FLTR_BENCH_ROUNDS", 6).max(1) as usize;
    let database = format!("fltr_bench_holds_{}", std::process::id());
    let started = Instant::now();
    prepare(&database).await;
    eprintln!("database ready in {:.1} s", started.elapsed().as_secs_f64());
    let direct: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = proxy::LatencyProxy::start(direct, Duration::from_millis(2)).await;
    let networks = [("loopback", direct), ("+2 ms each way", proxy.address)];
    let kinds = [AccountKind::ApiKey, AccountKind::UserPool];

    // results[network][kind][clients][variant] = one Cell per round.
    let mut results: Vec<Vec<Vec<Vec<Vec<Cell>>>>> = (0..networks.len())
        .map(|_| {
            (0..kinds.len())
                .map(|_| (0..CLIENTS.len()).map(|_| (0..VARIANTS.len()).map(|_| Vec::new()).collect()).collect())
                .collect()
        })
        .collect();
    for round in 0..rounds {
        eprintln!("round {}/{rounds} at {:.1} s", round + 1, started.elapsed().as_secs_f64());
        for (n, (_, address)) in networks.iter().enumerate() {
            let url = format!("postgres://postgres@{address}/{database}");
            for (k, kind) in kinds.iter().enumerate() {
                for (c, clients) in CLIENTS.iter().enumerate() {
                    for offset in 0..VARIANTS.len() {
                        let v = (round + offset) % VARIANTS.len();
                        let cell = run_cell(&url, VARIANTS[v], *kind, *clients, seconds).await;
                        results[n][k][c][v].push(cell);
                    }
                }
            }
        }
    }

    println!("| network | account | clients | hold 50 + capture 42, pairs/s | consume 50 + refund, pairs/s | consume 50 + refund + consume 42, /s | (a)/(b) | (a)/(c) | p50 ms per pair (a) / (b) / (c) | round trips (a) / (b) / (c) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut per_round = Vec::new();
    for (n, (network, _)) in networks.iter().enumerate() {
        for (k, kind) in kinds.iter().enumerate() {
            for (c, clients) in CLIENTS.iter().enumerate() {
                let cells = &results[n][k][c];
                let rate = |v: usize| median(&cells[v].iter().map(|cell| cell.pairs_per_second).collect::<Vec<_>>());
                let p50 = |v: usize| median(&cells[v].iter().map(|cell| cell.p50_ms).collect::<Vec<_>>());
                let ratio = |a: usize, b: usize| {
                    median(
                        &cells[a]
                            .iter()
                            .zip(&cells[b])
                            .map(|(x, y)| x.pairs_per_second / y.pairs_per_second)
                            .collect::<Vec<_>>(),
                    )
                };
                let trips = |v: usize| {
                    cells[v].iter().map(|cell| cell.round_trips_per_pair).sum::<f64>() / cells[v].len() as f64
                };
                println!(
                    "| {network} | {} | {clients} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} / {:.2} / {:.2} | {:.1} / {:.1} / {:.1} |",
                    kind.label(),
                    rate(0),
                    rate(1),
                    rate(2),
                    ratio(0, 1),
                    ratio(0, 2),
                    p50(0),
                    p50(1),
                    p50(2),
                    trips(0),
                    trips(1),
                    trips(2),
                );
                let rounds_of = |v: usize| {
                    cells[v].iter().map(|cell| format!("{:.0}", cell.pairs_per_second)).collect::<Vec<_>>().join(" ")
                };
                per_round.push(format!(
                    "| {network} | {} | {clients} | {} | {} | {} |",
                    kind.label(),
                    rounds_of(0),
                    rounds_of(1),
                    rounds_of(2)
                ));
            }
        }
    }
    println!();
    println!("| network | account | clients | (a) per round | (b) per round | (c) per round |");
    println!("|---|---|---|---|---|---|");
    for line in per_round {
        println!("{line}");
    }

    println!();
    println!("| account | WAL bytes per pair (a) / (b) / (c) |");
    println!("|---|---|");
    let url = format!("postgres://postgres@{direct}/{database}");
    for kind in kinds {
        let mut bytes = Vec::new();
        for variant in VARIANTS {
            bytes.push(wal_per_pair(&url, variant, kind).await.to_string());
        }
        println!("| {} | {} |", kind.label(), bytes.join(" / "));
    }

    let admin = connect(&format!("{}/postgres", server())).await.expect("server");
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
}
