//! Baseline for the Worker benchmark (BENCHMARKS.md §2): `Engine::consume` over tokio-postgres
//! at 1, 16 and 64 concurrent clients, each on its own connection, charging one API key — the
//! same statement the Worker's `POST /api/v1/credits/consume` with `x-api-key` runs. The
//! difference between the two is the Worker's own overhead (HTTP, workerd, Hyperdrive, connect).
//!
//! cargo run --release --example worker_direct -- --database-url URL --api-key KEY [--clients 1,16,64] [--seconds 5]
//! Prints one JSON object per concurrency level.

use fltr_credits::adapters::native::database::{connect, Native};
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::engine::Engine;
use fltr_credits::sql::ops::consume::{ConsumeRequest, Payer};
use std::time::{Duration, Instant};

fn argument(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments.iter().position(|a| a == name).and_then(|i| arguments.get(i + 1).cloned())
}

use fltr_credits::adapters::native::clock::now;

fn percentile(sorted_micros: &[u64], fraction: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let index = ((sorted_micros.len() as f64 - 1.0) * fraction).round() as usize;
    sorted_micros[index] as f64 / 1000.0
}

/// One client: its own connection, consuming until the deadline; returns latencies in µs.
async fn client(url: String, key: String, deadline: Instant) -> Result<Vec<u64>, String> {
    let connection = connect(&url).await.map_err(|error| error.to_string())?;
    let engine = Engine::new(Native(&connection));
    let request = ConsumeRequest {
        payer: Payer::ApiKey(fltr_credits::core::api_key::KeyRef::secret(&key)),
        amount: Amount::new(1).map_err(|error| error.to_string())?,
        operation: Operation::new("bench.consume").map_err(|error| error.to_string())?,
        resource_id: None,
        metadata: None,
        idempotency_key: None,
    };
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        engine.consume(&request, now()).await.map_err(|error| error.to_string())?;
        latencies.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let url = argument("--database-url").ok_or("--database-url is required")?;
    let key = argument("--api-key").ok_or("--api-key is required")?;
    let seconds: u64 = argument("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5);
    let levels: Vec<usize> = argument("--clients")
        .unwrap_or_else(|| "1,16,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for clients in levels {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(client(url.clone(), key.clone(), deadline))).collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.map_err(|error| error.to_string())??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        println!(
            "{{\"path\":\"direct\",\"clients\":{clients},\"requests\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"throughput_rps\":{:.1}}}",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.len() as f64 / elapsed
        );
    }
    Ok(())
}
