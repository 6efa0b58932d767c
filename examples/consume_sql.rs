//! Prints the API-key consume statement as a pgbench script (a per-client key, amount 1), for
//! `benches/statement_ablation/run.sh`. With `--keyed`, the statement under an idempotency key,
//! a fresh one per transaction.

#[path = "../benches/support/consume_script.rs"]
mod consume_script;

use fltr_credits::adapters::native::clock::now;

fn main() {
    let keyed = std::env::args().any(|arg| arg == "--keyed");
    let key = "'bench_key_' || lpad(:client_id::text, 6, '0') || '_0000000'";
    print!("{}", consume_script::consume_script(key, keyed, now()));
}
