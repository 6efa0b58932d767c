//! Prints `consume::CONSUME_API_KEY_SQL` as a pgbench script line: its parameters inlined (a
//! per-client key, amount 1, no idempotency key), for `benches/statement_ablation/run.sh`.

use fltr_credits::adapters::native::clock::now;
use fltr_credits::core::window::Period;
use fltr_credits::sql::ops::consume;

fn main() {
    let now = now();
    let values = [
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
    // Highest first, so `$1` never rewrites the start of `$10`.
    for (index, value) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", index + 1), value);
    }
    println!("{};", sql.replace('\n', " "));
}
