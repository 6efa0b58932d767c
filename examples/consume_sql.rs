//! Prints the API-key consume statement as a pgbench script: its parameters inlined (a per-client
//! key, amount 1), for `benches/statement_ablation/run.sh`. With `--keyed`, the statement under an
//! idempotency key (`consume::CONSUME_API_KEY_IDEMPOTENT_SQL`), a fresh key per transaction.

use fltr_credits::adapters::native::clock::now;
use fltr_credits::core::window::Period;
use fltr_credits::sql::ops::consume;

fn main() {
    let keyed = std::env::args().any(|arg| arg == "--keyed");
    let now = now();
    let mut values = vec![
        "('bench_key_' || lpad(:client_id::text, 6, '0') || '_0000000')".to_string(),
        "1".to_string(),
        "'bench'".to_string(),
        "NULL".to_string(),
        "NULL".to_string(),
        format!("'{}'", now.to_sql_literal()),
        format!("'{}'", Period::Daily.start(now).to_sql_literal()),
        format!("'{}'", Period::Monthly.start(now).to_sql_literal()),
    ];
    let mut sql = consume::CONSUME_API_KEY_SQL.to_string();
    if keyed {
        // A new idempotency key per transaction (`:nonce`, set by the script), so every run debits.
        values.push("('k' || :client_id || '-' || :nonce)".to_string());
        values.push("'pgbench'".to_string());
        sql = consume::CONSUME_API_KEY_IDEMPOTENT_SQL.to_string();
        println!("\\set nonce random(1, 9000000000000000000)");
    }
    // Highest first, so `$1` never rewrites the start of `$10`.
    for (index, value) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", index + 1), value);
    }
    println!("{};", sql.replace('\n', " "));
}
