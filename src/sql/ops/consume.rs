//! `consume`: debit an account in ONE statement — balance, daily and monthly limits
//! decided on the locked row, the ledger row and the idempotency record written with it.
//!
//! Why this is exact under READ COMMITTED: every check is made on the row's *latest* version while
//! its lock is held — for an API key by the UPDATE's own WHERE, which Postgres re-evaluates on the
//! latest version once it holds the lock; for a user or a team pool by reading the row `FOR
//! UPDATE` first, which waits for concurrent debits to commit and returns the latest version. Window usage lives in counters on the key row
//! (`daily_used`, `monthly_used`), never in a SUM over the ledger, which would see a stale snapshot.
//!
//! Idempotency: a replay finds the stored outcome and writes nothing. Two identical requests racing
//! both pass the snapshot check, but the loser's insert of the idempotency key collides with the
//! winner's primary key, which aborts its whole statement (nothing written); the executor then runs
//! it once more and gets the replay.

use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;
use crate::core::idempotency::request_hash;
use crate::core::time::Timestamp;
use crate::core::validate::{Amount, Operation};
use crate::core::window::Period;
use crate::sql::ops::api_keys::in_grace;
use crate::sql::ops::holds::unsettled;
use crate::sql::outcome::{charge_idempotent_tail, ChargeOutcome, ChargeResult};
use crate::sql::row::Row;
use crate::sql::statement::Statement;

pub use crate::sql::ops::payer::Payer;

/// What the pool debit (`pool_debit!`) adds to the idempotency fragment: the success from
/// `decision`, `debited` (balance after) and `ledger`; where it is remembered; the refusal from
/// `decision`.
macro_rules! charge_tail {
    () => {
        concat!(
            r#"facts AS (
  SELECT l.id AS transaction_id, d.kind AS charged_kind, d.id AS charged_id, $2::int AS amount, b.credits AS balance,
    b.credits::bigint - b.held_credits AS available,
    d.daily_limit, b.daily_used, d.monthly_limit, b.monthly_used, $8::text AS now, l.expires_at
  FROM decision d, debited b, ledger l
), remember_as AS (
  SELECT d.kind AS account_kind, d.id AS account_id, $6::text AS idempotency_key, d.request_hash,
    $8::timestamp AS created_at
  FROM decision d WHERE $6::text IS NOT NULL
), refused AS (
  SELECT d.status, NULL::text AS transaction_id, d.kind AS charged_kind, d.id AS charged_id, $2::int AS amount,
    d.credits AS balance, d.available, d.daily_limit, d.daily_used, d.monthly_limit, d.monthly_used, $8::text AS now,
    NULL::text AS expires_at
  FROM decision d
  UNION ALL
  SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  WHERE NOT EXISTS (SELECT 1 FROM decision)
), "#,
            charge_idempotent_tail!()
        )
    };
}

/// The window counter as of the statement's window start (`$w`), in bigint.
macro_rules! used_in_window {
    ($column:literal, $start:literal) => {
        concat!(
            "(CASE WHEN k.",
            $column,
            "_window_start >= ",
            $start,
            "::timestamp THEN k.",
            $column,
            "_used ELSE 0 END)::bigint"
        )
    };
}

/// What a debit does to the account row it decided on, alias `$a`: `consume` spends, `hold`
/// reserves.
macro_rules! effect {
    (consume, $a:literal) => {
        concat!("credits = ", $a, ".credits - $2::int,\n    ", crate::sql::ops::expiring::blocks_spend!($a, "$2::int"))
    };
    (hold, $a:literal) => {
        concat!(
            "held_credits = (",
            $a,
            ".held_credits::bigint + $2::bigint)::int,\n    ",
            crate::sql::ops::expiring::blocks_spend!($a, "$2::int")
        )
    };
}

/// The row a debit writes as the CTE `ledger(id, expires_at)`, from the CTE `$from` (which has
/// `user_id`, `team_id`, and for a key `api_key` and its window starts): a consume's `usage` ledger
/// row; a hold's `credit_holds` row, expiring at `$expires`. Columns: `$3` operation, `$4` resource
/// id, `$5` metadata, `$now`. `$account` / `$key` are the held account's kind, id and key id.
macro_rules! record {
    (consume, $from:literal, $now:literal, $team:literal, $key:literal, $take:literal) => {
        concat!(
            r#"ledger AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata, created_at,
    expiring)
  SELECT 'ctx_' || replace(gen_random_uuid()::text, '-', ''), d.user_id, "#,
            $team,
            ", -$2::int, 'usage', $3::text, $4::text, ",
            $key,
            ", $5::text, ",
            $now,
            "::timestamp, ",
            $take,
            "
  FROM ",
            $from,
            r#"
  RETURNING id, NULL::text AS expires_at
)"#
        )
    };
    (hold, $from:literal, $now:literal, $kind:literal, $id:literal, $team:literal, $key:literal, $windows:literal, $expires:literal, $opener:literal, $take:literal) => {
        concat!(
            r#"ledger AS (
  INSERT INTO credit_holds (id, account_kind, account_id, user_id, team_id, api_key_id, opened_by, amount, state,
    operation, resource_id, metadata, daily_window_start, monthly_window_start, expires_at, created_at, expiring)
  SELECT 'hold_' || replace(gen_random_uuid()::text, '-', ''), "#,
            $kind,
            ", ",
            $id,
            ", d.user_id, ",
            $team,
            ", ",
            $key,
            ", ",
            $opener,
            ", $2::int, 'active', $3::text, $4::text, $5::text, ",
            $windows,
            ", ",
            $expires,
            "::timestamp, ",
            $now,
            "::timestamp, ",
            $take,
            "
  FROM ",
            $from,
            r#"
  RETURNING id, expires_at::text AS expires_at
)"#
        )
    };
}

/// A key's record: its usage row, or its hold (taken from the windows it was counted in), opened
/// by `$opener` (`'api_key'`: the key's own credential; `'service'`: the service naming the key).
macro_rules! key_record {
    (consume) => {
        record!(consume, "debited d", "$6", "d.team_id", "d.api_key", "d.expiring_take")
    };
    (hold, $expires:literal, $opener:literal) => {
        record!(
            hold,
            "debited d",
            "$6",
            "'api_key'",
            "d.api_key",
            "d.team_id",
            "d.api_key",
            "d.daily_window_start, d.monthly_window_start",
            $expires,
            $opener,
            "d.expiring_take"
        )
    };
}

/// What both API-key debits share: `debited` (the decision is the UPDATE's own WHERE), `ledger`
/// (`$record`), and `refusal` (why nothing was debited, read with the row locked, only then).
/// `$match` finds the key (by the presented secret's hash, or by public id), and only a live key
/// (not revoked, not past `expires_at`: both checked on the locked row, so a revoke or an expiry
/// is never overtaken by a debit that was waiting for the lock). `$gate` adds a condition to
/// both (the keyed statement's "no stored outcome"). `$effect` is what the debit does
/// (`effect!`). Parameters: `$1` key hash or id, `$2` amount, `$3` operation, `$4` resource id,
/// `$5` metadata, `$6` now, `$7`/`$8` the daily and monthly window starts.
///
/// Postgres re-evaluates an UPDATE's WHERE on the row's latest version once it holds the row lock
/// (READ COMMITTED's recheck), so balance and both windows are decided exactly without a locked
/// pre-read, which costs a second heap write per debit (BENCHMARKS.md §1). Active holds count
/// through the row's own `held_credits` (`available = credits - held_credits`); a key with a hold
/// past its deadline that nobody closed yet answers `settle` (`unsettled!`). A team key spends only
/// while its owner is still a member of that team (`not_a_member` otherwise: the allowance stays on
/// the key); the owner's row is read `FOR SHARE` inside the same WHERE, so a removal from the team
/// commits before or after the debit, never during it. Counters add in bigint and saturate at the
/// integer maximum, so an unlimited key's usage can never overflow into a refusal. A `refusal` row
/// that passes every check was changed between the two reads (a grant landed meanwhile):
/// `contended`, nothing written, and the engine runs the debit again.
macro_rules! api_key_debit {
    ($match:expr, $gate:literal, $effect:ident, $record:expr) => {
        concat!(
            r#"debited AS (
  UPDATE api_key_credits k SET
    "#,
            effect!($effect, "k"),
            r#",
    daily_used = least("#,
            used_in_window!("daily", "$7"),
            r#" + $2::bigint, 2147483647)::int,
    daily_window_start = greatest(k.daily_window_start, $7::timestamp),
    monthly_used = least("#,
            used_in_window!("monthly", "$8"),
            r#" + $2::bigint, 2147483647)::int,
    monthly_window_start = greatest(k.monthly_window_start, $8::timestamp),
    updated_at = $6::timestamp,
    last_used_at = $6::timestamp
  WHERE "#,
            $match,
            " AND ",
            crate::sql::ops::api_keys::live_key!("$6"),
            $gate,
            r#" AND k.credits::bigint - k.held_credits >= $2::int
    AND (k.daily_limit IS NULL OR "#,
            used_in_window!("daily", "$7"),
            r#" + $2::bigint <= k.daily_limit)
    AND (k.monthly_limit IS NULL OR "#,
            used_in_window!("monthly", "$8"),
            r#" + $2::bigint <= k.monthly_limit)
    AND (k.team_id IS NULL OR EXISTS (
      SELECT 1 FROM users o WHERE o.id = k.user_id AND o.team_id = k.team_id FOR SHARE OF o))
    AND NOT "#,
            unsettled!("k.held_credits", "'api_key'", "k.api_key", "$6"),
            " AND NOT ",
            crate::sql::ops::expiring::blocks_due!("k", "$6"),
            r#"
  RETURNING k.api_key, k.user_id, k.team_id, k.credits, k.credits::bigint - k.held_credits AS available,
    k.daily_limit, k.daily_used, k.monthly_limit, k.monthly_used, k.daily_window_start, k.monthly_window_start,
    k.expiring_take
), "#,
            $record,
            r#", refusal AS (
  SELECT CASE
      WHEN k.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id = k.user_id AND o.team_id = k.team_id)
        THEN 'not_a_member'
      WHEN "#,
            unsettled!("k.held_credits", "'api_key'", "k.api_key", "$6"),
            " OR ",
            crate::sql::ops::expiring::blocks_due!("k", "$6"),
            r#" THEN 'settle'
      WHEN k.credits::bigint - k.held_credits < $2::int THEN 'insufficient_credits'
      WHEN k.daily_limit IS NOT NULL AND "#,
            used_in_window!("daily", "$7"),
            r#" + $2::bigint > k.daily_limit THEN 'daily_limit_exceeded'
      WHEN k.monthly_limit IS NOT NULL AND "#,
            used_in_window!("monthly", "$8"),
            r#" + $2::bigint > k.monthly_limit THEN 'monthly_limit_exceeded'
      ELSE 'contended' END AS status,
    k.api_key, k.credits, k.credits::bigint - k.held_credits AS available, k.daily_limit, "#,
            used_in_window!("daily", "$7"),
            r#" AS daily_used, k.monthly_limit, "#,
            used_in_window!("monthly", "$8"),
            r#" AS monthly_used
  FROM api_key_credits k
  WHERE "#,
            $match,
            " AND ",
            crate::sql::ops::api_keys::live_key!("$6"),
            $gate,
            r#" AND NOT EXISTS (SELECT 1 FROM debited)
  FOR UPDATE OF k
)"#
        )
    };
}

/// Debit an API key's own allowance without an idempotency key — the hot path.
macro_rules! api_key_debit_sql {
    ($match:expr, $effect:ident, $record:expr) => {
        concat!(
            "WITH ",
            api_key_debit!($match, "", $effect, $record),
            r#"
SELECT 'ok' AS status, l.id AS transaction_id, 'api_key' AS charged_kind, d.api_key AS charged_id,
  $2::int::text AS amount, d.credits::text AS balance, d.available::text AS available,
  d.daily_limit::text AS daily_limit, d.daily_used::text AS daily_used, d.monthly_limit::text AS monthly_limit,
  d.monthly_used::text AS monthly_used, $6::text AS now, l.expires_at
FROM debited d, ledger l
UNION ALL
SELECT r.status, NULL, 'api_key', r.api_key, $2::int::text, r.credits::text, r.available::text, r.daily_limit::text,
  r.daily_used::text, r.monthly_limit::text, r.monthly_used::text, $6::text, NULL
FROM refusal r
UNION ALL
SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM debited) AND NOT EXISTS (SELECT 1 FROM refusal)"#
        )
    };
}

/// The same debit under an idempotency key (`$9`, the request's fingerprint `$10`): nothing is
/// written when an outcome is stored under the key (the gate on `debited` and `refusal`); a
/// success is remembered with it, under the key's public id. Two identical requests racing both
/// miss `prior`; the loser's insert of the key hits the primary key and its whole statement rolls
/// back (`idempotency.rs`).
macro_rules! api_key_debit_idempotent_sql {
    ($match:expr, $effect:ident, $record:expr) => {
        concat!(
            r#"WITH prior AS (
  SELECT request_hash = $10::text AS same, response FROM credit_idempotency_keys
  WHERE account_kind = 'api_key' AND idempotency_key = $9::text
    AND account_id = (SELECT k.api_key FROM api_key_credits k WHERE "#,
            $match,
            " AND ",
            crate::sql::ops::api_keys::live_key!("$6"),
            r#")
), "#,
            api_key_debit!($match, " AND NOT EXISTS (SELECT 1 FROM prior)", $effect, $record),
            r#", facts AS (
  SELECT l.id AS transaction_id, 'api_key'::text AS charged_kind, d.api_key AS charged_id, $2::int AS amount,
    d.credits AS balance, d.available, d.daily_limit, d.daily_used, d.monthly_limit, d.monthly_used,
    $6::text AS now, l.expires_at
  FROM debited d, ledger l
), remember_as AS (
  SELECT 'api_key'::text AS account_kind, d.api_key AS account_id, $9::text AS idempotency_key,
    $10::text AS request_hash, $6::timestamp AS created_at
  FROM debited d
), refused AS (
  SELECT r.status, NULL::text AS transaction_id, 'api_key'::text AS charged_kind, r.api_key AS charged_id,
    $2::int AS amount, r.credits AS balance, r.available, r.daily_limit, r.daily_used, r.monthly_limit,
    r.monthly_used, $6::text AS now, NULL::text AS expires_at
  FROM refusal r
  UNION ALL
  SELECT 'not_found', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  WHERE NOT EXISTS (SELECT 1 FROM refusal)
), "#,
            charge_idempotent_tail!()
        )
    };
}

/// The six API-key debit statements of an effect: by a presented secret's hash (the hot path),
/// by public id (the service naming a key), by a rotated-out secret's hash while its grace lasts
/// (decided on the locked row); each without and with an idempotency key.
pub struct KeyStatements {
    pub by_hash: &'static str,
    pub by_id: &'static str,
    pub rotated: &'static str,
    pub by_hash_idempotent: &'static str,
    pub by_id_idempotent: &'static str,
    pub rotated_idempotent: &'static str,
}

/// `$by_key` records what a presented secret does, `$by_id` what the service naming the key does;
/// each without and with an idempotency key.
macro_rules! key_statements {
    ($effect:ident, $by_key:expr, $by_id:expr, $by_key_keyed:expr, $by_id_keyed:expr) => {
        KeyStatements {
            by_hash: api_key_debit_sql!("k.key_hash = $1::text", $effect, $by_key),
            by_id: api_key_debit_sql!("k.api_key = $1::text", $effect, $by_id),
            rotated: api_key_debit_sql!(in_grace!("$1", "$6"), $effect, $by_key),
            by_hash_idempotent: api_key_debit_idempotent_sql!("k.key_hash = $1::text", $effect, $by_key_keyed),
            by_id_idempotent: api_key_debit_idempotent_sql!("k.api_key = $1::text", $effect, $by_id_keyed),
            rotated_idempotent: api_key_debit_idempotent_sql!(in_grace!("$1", "$6"), $effect, $by_key_keyed),
        }
    };
}

pub const API_KEY: KeyStatements =
    key_statements!(consume, key_record!(consume), key_record!(consume), key_record!(consume), key_record!(consume));
/// Opening a hold on a key: the expiry is `$9` without an idempotency key, `$11` with one.
pub const API_KEY_HOLD: KeyStatements = key_statements!(
    hold,
    key_record!(hold, "$9", "'api_key'"),
    key_record!(hold, "$9", "'service'"),
    key_record!(hold, "$11", "'api_key'"),
    key_record!(hold, "$11", "'service'")
);

/// Debit a pool. A user is debited from their team's pool when `users.team_id` is set (so only
/// current members reach a pool: the user's row is locked first, so a removal from the team and a
/// debit of its pool are ordered, never interleaved — lock order users, then teams, as in
/// `purchase`), else from their own — found by id, or by a live Better Auth session token resolved
/// here. `$9 = 'team'` (the service credential naming a team) debits the team itself, the ledger
/// row attributed to its owner (else its first member). The stored request hash carries the
/// acting user: the same user retrying from another session gets the replay, while another
/// member reusing the key on the shared pool gets `idempotency_conflict`, never a free replay.
/// The pool is decided on `available` (`credits - held_credits`) on its locked row; a pool with a
/// hold past its deadline that nobody closed yet answers `settle` (`unsettled!`).
macro_rules! pool_debit {
    ($effect:ident, $record:expr) => {
        concat!(
            r#"WITH member AS (
  SELECT u.id AS user_id, u.team_id FROM users u
  WHERE $9::text <> 'team' AND u.id = CASE WHEN $9::text = 'session'
    THEN (SELECT s.user_id FROM sessions s WHERE s.token = $1 AND s.expires_at > $8::timestamp) ELSE $1 END
  FOR UPDATE OF u
), target AS (
  SELECT CASE WHEN m.team_id IS NULL THEN 'user' ELSE 'team' END AS kind, coalesce(m.team_id, m.user_id) AS id,
    m.user_id, m.team_id
  FROM member m
  UNION ALL
  SELECT 'team', tm.id, coalesce(tm.owner_id, (SELECT min(u.id) FROM users u WHERE u.team_id = tm.id)), tm.id
  FROM teams tm WHERE $9::text = 'team' AND tm.id = $1
), prior AS (
  SELECT i.request_hash = $7::text || ':' || coalesce(t.user_id, '') AS same, i.response FROM credit_idempotency_keys i, target t
  WHERE $6::text IS NOT NULL AND i.account_kind = t.kind AND i.account_id = t.id AND i.idempotency_key = $6::text
), locked_user AS (
  SELECT u.id, u.credits, u.held_credits, u.expiring_at FROM users u, target t
  WHERE t.kind = 'user' AND u.id = t.id AND NOT EXISTS (SELECT 1 FROM prior)
  FOR UPDATE OF u
), locked_team AS (
  SELECT tm.id, tm.credits, tm.held_credits, tm.expiring_at FROM teams tm, target t
  WHERE t.kind = 'team' AND tm.id = t.id AND NOT EXISTS (SELECT 1 FROM prior)
  FOR UPDATE OF tm
), pool AS (
  SELECT 'user' AS kind, id, credits, held_credits, expiring_at FROM locked_user
  UNION ALL SELECT 'team', id, credits, held_credits, expiring_at FROM locked_team
), decision AS (
  SELECT t.kind, p.id, t.user_id, t.team_id, p.credits, p.credits::bigint - p.held_credits AS available,
    NULL::int AS daily_limit, 0 AS daily_used, NULL::int AS monthly_limit, 0 AS monthly_used,
    $7::text || ':' || coalesce(t.user_id, '') AS request_hash,
    CASE WHEN t.user_id IS NULL THEN 'unattributable'
      WHEN "#,
            unsettled!("p.held_credits", "p.kind", "p.id", "$8"),
            " OR ",
            crate::sql::ops::expiring::blocks_due!("p", "$8"),
            r#" THEN 'settle'
      WHEN p.credits::bigint - p.held_credits < $2::int THEN 'insufficient_credits' ELSE 'ok' END AS status
  FROM pool p, target t
), debit_user AS (
  UPDATE users u SET "#,
            effect!($effect, "u"),
            r#"
  FROM decision d WHERE d.kind = 'user' AND d.status = 'ok' AND u.id = d.id
  RETURNING u.credits, u.held_credits, u.expiring_take
), debit_team AS (
  UPDATE teams tm SET "#,
            effect!($effect, "tm"),
            r#", updated_at = $8::timestamp
  FROM decision d WHERE d.kind = 'team' AND d.status = 'ok' AND tm.id = d.id
  RETURNING tm.credits, tm.held_credits, tm.expiring_take
), debited AS (
  SELECT credits, held_credits, 0 AS daily_used, 0 AS monthly_used, expiring_take FROM debit_user
  UNION ALL SELECT credits, held_credits, 0, 0, expiring_take FROM debit_team
), "#,
            $record,
            ", ",
            charge_tail!()
        )
    };
}

pub const CONSUME_USER_SQL: &str = pool_debit!(
    consume,
    record!(
        consume,
        "decision d, debited b",
        "$8",
        "CASE WHEN d.kind = 'team' THEN d.id END",
        "NULL",
        "b.expiring_take"
    )
);
/// Opening a hold on a pool; `$10` is its expiry.
pub const HOLD_USER_SQL: &str = pool_debit!(
    hold,
    record!(
        hold,
        "decision d, debited b",
        "$8",
        "d.kind",
        "d.id",
        "CASE WHEN d.kind = 'team' THEN d.id END",
        "NULL",
        "NULL, NULL",
        "$10",
        "CASE WHEN $9::text = 'session' THEN 'user' ELSE 'service' END",
        "b.expiring_take"
    )
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeRequest {
    pub payer: Payer,
    pub amount: Amount,
    pub operation: Operation,
    pub resource_id: Option<String>,
    /// JSON object text, validated by `validate::metadata`.
    pub metadata: Option<String>,
    pub idempotency_key: Option<String>,
}

impl ConsumeRequest {
    /// The request as the contract defines it: operation and body, not the credential (the
    /// account scopes the key in SQL, and the user path appends the acting user there).
    fn fingerprint(&self) -> String {
        let amount = self.amount.get().to_string();
        request_hash(&[
            "consume",
            &amount,
            self.operation.as_str(),
            self.resource_id.as_deref().unwrap_or(""),
            self.metadata.as_deref().unwrap_or(""),
        ])
    }
}

/// The debit's statement, by payer: an API key without an idempotency key takes the decide-in-
/// the-UPDATE path; a key with one the locked pre-read with the idempotency tail; a user, a
/// session or a team the pool statement (`$9` says which of the three `$1` names).
pub fn plan(request: &ConsumeRequest, now: Timestamp) -> Statement {
    // Every bound parameter must appear in the SQL: drivers that send untyped parameters (pg,
    // neon, postgres.js) cannot type one that is never referenced.
    let common = |sql: &'static str, id: &str| {
        Statement::new(sql)
            .param(id)
            .param(request.amount.get())
            .param(request.operation.as_str())
            .optional(request.resource_id.as_deref())
            .optional(request.metadata.as_deref())
    };
    let keyed = |sql: &'static str, id: &str| {
        common(sql, id)
            .optional(request.idempotency_key.as_deref())
            .param(request.fingerprint())
            .param(now.to_sql_literal())
    };
    let windows = |statement: Statement| {
        statement.param(Period::Daily.start(now).to_sql_literal()).param(Period::Monthly.start(now).to_sql_literal())
    };
    match &request.payer {
        Payer::ApiKey(key) => {
            let (unkeyed, keyed, value) = API_KEY.pick(key);
            match request.idempotency_key.as_deref() {
                None => windows(common(unkeyed, value).param(now.to_sql_literal())),
                Some(idempotency_key) => windows(common(keyed, value).param(now.to_sql_literal()))
                    .param(idempotency_key)
                    .param(request.fingerprint()),
            }
        }
        Payer::User(id) => keyed(CONSUME_USER_SQL, id).param("user"),
        Payer::Session(token) => keyed(CONSUME_USER_SQL, token).param("session"),
        Payer::Team(id) => keyed(CONSUME_USER_SQL, id).param("team"),
    }
}

impl KeyStatements {
    /// The statements without and with an idempotency key for a key as presented, and the value
    /// `$1` binds (its secret's hash, or its public id).
    pub fn pick<'k>(&self, key: &'k KeyRef) -> (&'static str, &'static str, &'k str) {
        match key {
            KeyRef::Secret { hash, .. } => (self.by_hash, self.by_hash_idempotent, hash),
            KeyRef::Id(id) => (self.by_id, self.by_id_idempotent, id),
            KeyRef::Rotated { hash } => (self.rotated, self.rotated_idempotent, hash),
        }
    }
}

pub fn decode(rows: &[Row], request: &ConsumeRequest) -> Result<ChargeResult, CreditError> {
    result(ChargeOutcome::read("consume", rows)?, request)
}

/// The contract's answer for an outcome read by `ChargeOutcome::read("consume", …)`.
pub fn result(outcome: ChargeOutcome, request: &ConsumeRequest) -> Result<ChargeResult, CreditError> {
    outcome.into_result(request.idempotency_key.as_deref(), true).map_err(|error| request.payer.named_missing(error))
}
