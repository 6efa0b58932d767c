//! Debits per second, side by side in one run (issue 3's benchmark; results in BENCHMARKS.md):
//! 1. fltr-credits: `Engine::consume` on an API key — one statement, one round trip;
//! 2. naive: BEGIN; SELECT … FOR UPDATE; check in the app; UPDATE; INSERT; COMMIT;
//! 3. pgbench running the minimal single statement performing the same writes (the machine's limit);
//! 4. pgbench running fltr-credits' own consume statement (the statement's cost, without Rust's).
//!
//! At 1, 4, 16 and 64 clients, on distinct keys and on one hot key, on loopback and through a TCP
//! proxy adding 2 ms each way (an edge Worker is milliseconds from its database).
//!
//! All three prepare their statements once per connection (pgbench `-M prepared`).
//! Run: `cargo bench --bench debits` (FLTR_BENCH_SECONDS per cell, default 3;
//! FLTR_TEST_PG for the server). Needs `pgbench` on PATH.

#[path = "support/consume_script.rs"]
mod consume_script;
#[path = "../tests/support/proxy.rs"]
mod proxy;

use fltr_credits::adapters::native::database::{connect, Connection, Native};
use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::migrator::migrate;
use fltr_credits::sql::executor::Executor;
use fltr_credits::sql::failure::DbFailure;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use fltr_credits::sql::statement::Statement;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: [usize; 4] = [1, 4, 16, 64];
const HOT_KEY: &str = "bench_hot_key_000000000";

fn server() -> String {
    std::env::var("FLTR_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

use fltr_credits::adapters::native::clock::now;

fn key_for(client: usize, hot: bool) -> String {
    if hot {
        HOT_KEY.to_string()
    } else {
        format!("bench_key_{client:06}_0000000")
    }
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

#[derive(Clone, Copy, PartialEq)]
enum System {
    FltrCredits,
    Naive,
}

struct Cell {
    ops_per_second: f64,
    round_trips_per_op: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The naive pattern's statements, prepared once per connection as a pooled app would.
struct Naive {
    select: tokio_postgres::Statement,
    update: tokio_postgres::Statement,
    insert: tokio_postgres::Statement,
}

impl Naive {
    async fn prepare(client: &tokio_postgres::Client) -> Naive {
        Naive {
            select: client.prepare("SELECT credits, user_id, team_id FROM api_key_credits WHERE api_key = $1 FOR UPDATE").await.expect("prepare"),
            update: client
                .prepare("UPDATE api_key_credits SET credits = credits - 1, daily_used = daily_used + 1, monthly_used = monthly_used + 1, updated_at = now() WHERE api_key = $1")
                .await
                .expect("prepare"),
            insert: client
                .prepare("INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, api_key_id, created_at) VALUES ('nv_' || replace(gen_random_uuid()::text, '-', ''), $1, $2, -1, 'usage', 'bench', $3, now())")
                .await
                .expect("prepare"),
        }
    }

    /// What users write by hand: five round trips, the check in application code.
    async fn debit(&self, client: &tokio_postgres::Client, key: &str, round_trips: &AtomicU64) -> bool {
        round_trips.fetch_add(5, Ordering::Relaxed);
        client.batch_execute("BEGIN").await.expect("begin");
        let row = client.query_one(&self.select, &[&key]).await.expect("select");
        let credits: i32 = row.get(0);
        if credits < 1 {
            client.batch_execute("ROLLBACK").await.expect("rollback");
            return false;
        }
        let (user_id, team_id): (String, Option<String>) = (row.get(1), row.get(2));
        client.execute(&self.update, &[&key]).await.expect("update");
        client.execute(&self.insert, &[&user_id, &team_id, &key]).await.expect("insert");
        client.batch_execute("COMMIT").await.expect("commit");
        true
    }
}

async fn run_cell(url: &str, system: System, clients: usize, hot: bool, seconds: u64) -> Cell {
    let round_trips = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let (url, round_trips, barrier) = (url.to_string(), round_trips.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let connection = Connection::open(&url).await.expect("connect");
            let naive = Naive::prepare(&connection.client).await;
            let key = key_for(client_index, hot);
            let request = ConsumeRequest {
                payer: Payer::ApiKey(KeyRef::Secret { secret: key.clone(), hash: key.clone() }),
                amount: Amount::new(1).unwrap(),
                operation: Operation::new("bench").unwrap(),
                resource_id: None,
                metadata: None,
                idempotency_key: None,
            };
            barrier.wait().await;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match system {
                    System::FltrCredits => {
                        let engine = Engine::new(Counting { inner: &connection, round_trips: &round_trips });
                        engine.consume(&request, now()).await.is_ok()
                    }
                    System::Naive => naive.debit(&connection.client, &key, &round_trips).await,
                };
                assert!(ok, "bench accounts are funded for the whole run");
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
    let percentile = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    let ops = latencies.len() as f64;
    Cell {
        ops_per_second: ops / elapsed,
        round_trips_per_op: round_trips.load(Ordering::Relaxed) as f64 / ops,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
    }
}

/// The SQL each pgbench client runs.
enum Script {
    /// The minimal single statement performing the same writes, no checks: the machine's limit.
    Limit,
    /// fltr-credits' own consume statement (`benches/support/consume_script.rs`): the statement's
    /// cost without the Rust client's.
    Ours,
}

fn pgbench(host: &str, port: u16, database: &str, clients: usize, hot: bool, seconds: u64, script: Script) -> f64 {
    let key = if hot {
        format!("'{HOT_KEY}'")
    } else {
        "'bench_key_' || lpad(:client_id::text, 6, '0') || '_0000000'".to_string()
    };
    let now = now();
    let script = match script {
        Script::Limit => format!(
            "WITH d AS (UPDATE api_key_credits SET credits = credits - 1, daily_used = daily_used + 1, monthly_used = monthly_used + 1, updated_at = now() WHERE api_key = {key} AND credits >= 1 RETURNING user_id, team_id, api_key) INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, api_key_id, created_at) SELECT 'pgb_' || replace(gen_random_uuid()::text, '-', ''), user_id, team_id, -1, 'usage', 'bench', api_key, now() FROM d;\n"
        ),
        Script::Ours => consume_script::consume_script(&key, false, now),
    };
    let path = std::env::temp_dir().join(format!("fltr-pgbench-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("pgbench script");
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-h", host, "-p", &port.to_string(), "-U", "postgres"])
        .args(["-c", &clients.to_string(), "-j", &clients.min(4).to_string(), "-T", &seconds.to_string()])
        .arg("-f")
        .arg(&path)
        .arg(database)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|tps| tps.parse().ok())
        .unwrap_or_else(|| panic!("pgbench failed: {text} {}", String::from_utf8_lossy(&output.stderr)))
}

async fn prepare(database: &str) {
    let admin = connect(&format!("{}/postgres", server())).await.expect("server");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database}")).await.expect("drop");
    admin.batch_execute(&format!("CREATE DATABASE {database}")).await.expect("create");
    let client = connect(&format!("{}/{database}", server())).await.expect("bench db");
    migrate(&Native(&client), false).await.expect("migrate");
    client
        .batch_execute("INSERT INTO users (id, name, email) VALUES ('bench', 'bench', 'bench@example.com')")
        .await
        .expect("user");
    let mut keys = vec![HOT_KEY.to_string()];
    keys.extend((0..64).map(|i| key_for(i, false)));
    for key in keys {
        client
            .execute(
                // The key's name doubles as its `key_hash`, the column fltr-credits finds keys by.
                "INSERT INTO api_key_credits (api_key, key_hash, user_id, credits, created_at, updated_at) VALUES ($1, $1, 'bench', 2000000000, now(), now())",
                &[&key],
            )
            .await
            .expect("key");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("FLTR_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let database = format!("fltr_bench_{}", std::process::id());
    prepare(&database).await;
    let direct: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = proxy::LatencyProxy::start(direct, Duration::from_millis(2)).await;
    println!("| network | keys | clients | fltr-credits ops/s | naive ops/s | pgbench limit tps | pgbench, our statement tps | fltr/limit | ours-in-pgbench/limit | fltr/ours-in-pgbench | fltr/naive | round trips fltr / naive | p50 ms fltr / naive | p99 ms fltr / naive |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (network, address) in [("loopback", direct), ("+2 ms each way", proxy.address)] {
        let url = format!("postgres://postgres@{address}/{database}");
        for hot in [false, true] {
            for clients in CLIENTS {
                let ours = run_cell(&url, System::FltrCredits, clients, hot, seconds).await;
                let naive = run_cell(&url, System::Naive, clients, hot, seconds).await;
                let host = address.ip().to_string();
                let limit = pgbench(&host, address.port(), &database, clients, hot, seconds, Script::Limit);
                let statement = pgbench(&host, address.port(), &database, clients, hot, seconds, Script::Ours);
                println!(
                    "| {network} | {} | {clients} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} / {:.1} | {:.2} / {:.2} | {:.2} / {:.2} |",
                    if hot { "one hot key" } else { "distinct" },
                    ours.ops_per_second,
                    naive.ops_per_second,
                    limit,
                    statement,
                    ours.ops_per_second / limit,
                    statement / limit,
                    ours.ops_per_second / statement,
                    ours.ops_per_second / naive.ops_per_second,
                    ours.round_trips_per_op,
                    naive.round_trips_per_op,
                    ours.p50_ms,
                    naive.p50_ms,
                    ours.p99_ms,
                    naive.p99_ms,
                );
            }
        }
    }
    let admin = connect(&format!("{}/postgres", server())).await.expect("server");
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
}
