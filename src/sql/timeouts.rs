//! How long the server may work on one statement: the rule behind API.md's "503, nothing was
//! written". A caller that stops waiting (the Worker's own timer, Hyperdrive's 60 s limit, a
//! client's deadline) does not stop the statement; only Postgres' own timeouts do. So every
//! adapter asks Postgres to give up first — `lock_timeout` for a row or table lock held elsewhere
//! (a migration, a caller's open transaction), `statement_timeout` for anything else — and waits
//! longer than that itself. A statement cut by either is rolled back whole (55P03, 57014 →
//! `database_unavailable`), so the 503 is true.

/// Server-side limits, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub lock_ms: u32,
    pub statement_ms: u32,
}

/// A request's statement (Worker, native HTTP router): the Worker waits `client_deadline_ms`.
pub const REQUEST: Timeouts = Timeouts { lock_ms: 5_000, statement_ms: 20_000 };

/// Operator commands (native CLI): reconcile or seed may scan a large ledger.
pub const OPERATOR: Timeouts = Timeouts { lock_ms: 5_000, statement_ms: 300_000 };

/// Hyperdrive cuts a query at 60 s; the caller must stop waiting before that, and after the
/// server has given up.
pub const HYPERDRIVE_QUERY_LIMIT_MS: u32 = 60_000;

impl Timeouts {
    /// Reads optional overrides (the Worker's `DB_LOCK_TIMEOUT_MS` / `DB_STATEMENT_TIMEOUT_MS`
    /// vars); out-of-range or unparsable values keep the default. The statement limit stays
    /// below Hyperdrive's, leaving room for the client deadline.
    pub fn with_overrides(self, lock_ms: Option<&str>, statement_ms: Option<&str>) -> Timeouts {
        let parse = |text: Option<&str>, default: u32, max: u32| {
            text.and_then(|text| text.trim().parse::<u32>().ok()).filter(|ms| (1..=max).contains(ms)).unwrap_or(default)
        };
        let statement_ms = parse(statement_ms, self.statement_ms, HYPERDRIVE_QUERY_LIMIT_MS - 20_000);
        let lock_ms = parse(lock_ms, self.lock_ms, statement_ms).min(statement_ms);
        Timeouts { lock_ms, statement_ms }
    }

    /// How long the caller waits: the server's limit plus a margin for the network and commit.
    pub fn client_deadline_ms(self) -> u32 {
        (self.statement_ms + 10_000).min(HYPERDRIVE_QUERY_LIMIT_MS - 5_000)
    }

    /// Opens a transaction whose statements the server abandons first. If a `SET` here failed,
    /// the transaction is aborted and the statement after it fails too (25P02): fail-safe.
    pub fn begin_sql(self) -> String {
        format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
            self.lock_ms, self.statement_ms
        )
    }

    /// The same limits as connection startup options (`-c name=value`), for a direct connection.
    pub fn startup_options(self) -> String {
        format!("-c lock_timeout={}ms -c statement_timeout={}ms", self.lock_ms, self.statement_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_server_always_gives_up_before_the_client() {
        for timeouts in [
            REQUEST,
            REQUEST.with_overrides(Some("500"), Some("1000")),
            REQUEST.with_overrides(Some("99999999"), Some("x")),
        ] {
            assert!(timeouts.lock_ms <= timeouts.statement_ms);
            assert!(timeouts.statement_ms < timeouts.client_deadline_ms());
            assert!(timeouts.client_deadline_ms() < HYPERDRIVE_QUERY_LIMIT_MS);
        }
        assert_eq!(REQUEST.with_overrides(Some("500"), Some("1000")), Timeouts { lock_ms: 500, statement_ms: 1000 });
        assert_eq!(
            REQUEST.with_overrides(Some("5000"), Some("1000")).lock_ms,
            1000,
            "a lock wait never outlives the statement"
        );
        assert_eq!(REQUEST.with_overrides(Some("0"), Some("-1")), REQUEST);
        assert_eq!(
            REQUEST.begin_sql(),
            "BEGIN; SET LOCAL lock_timeout = '5000ms'; SET LOCAL statement_timeout = '20000ms'"
        );
    }
}
