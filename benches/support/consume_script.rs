//! fltr-credits' API-key consume as a pgbench script: the statement `consume::plan` builds,
//! written out with its parameters as literals by `sql::inline` (as the Worker sends it), the
//! key's hash and the idempotency key then swapped for pgbench expressions. Shared by
//! `benches/debits.rs` and `examples/consume_sql.rs`, so both follow `plan`'s parameters.

use fltr_credits::core::api_key::KeyRef;
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::{Amount, Operation};
use fltr_credits::sql::inline::{inline, literal};
use fltr_credits::sql::ops::consume::{self, ConsumeRequest, Payer};

const KEY: &str = "pgbench_key_placeholder";
const IDEMPOTENCY_KEY: &str = "pgbench_idempotency_key_placeholder";

/// One debit of 1 credit by the key `key_expression` names (a pgbench SQL expression); with
/// `keyed`, under a fresh idempotency key per transaction (`:nonce`), so every run debits.
pub fn consume_script(key_expression: &str, keyed: bool, now: Timestamp) -> String {
    let request = ConsumeRequest {
        // The bench's keys store their name as `key_hash`: the statement's lookup is measured, not a hash.
        payer: Payer::ApiKey(KeyRef::Secret { secret: String::new(), hash: KEY.into() }),
        amount: Amount::new(1).expect("1 is an amount"),
        operation: Operation::new("bench").expect("a valid operation"),
        resource_id: None,
        metadata: None,
        idempotency_key: keyed.then(|| IDEMPOTENCY_KEY.to_string()),
    };
    let placeholder = |value: &str| literal(Some(value)).expect("no NUL in a placeholder");
    let sql = inline(&consume::plan(&request, now))
        .expect("no NUL in the bench's values")
        .replace(&placeholder(KEY), &format!("({key_expression})"))
        .replace(&placeholder(IDEMPOTENCY_KEY), "('k' || :client_id || '-' || :nonce)");
    let nonce = if keyed { "\\set nonce random(1, 9000000000000000000)\n" } else { "" };
    format!("{nonce}{};\n", sql.replace('\n', " "))
}
