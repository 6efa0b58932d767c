//! The idempotency fragment every mutating statement with a caller key ends with, written once:
//! `idempotent_tail!(column, …)` names the outcome's columns and expands to the SQL that stores,
//! replays or refuses, and selects them as text.
//!
//! A statement using it defines four CTEs before it:
//! - `prior(same, response)`: the stored outcome under this account's key, if any; `same` says
//!   whether the stored request equals this one;
//! - `facts(column, …)`: the success outcome, one row when the statement wrote, none otherwise;
//! - `remember_as(account_kind, account_id, idempotency_key, request_hash, created_at)`: where a
//!   success is remembered, no row when the request carries no key;
//! - `refused(status, column, …)`: exactly one row, the outcome when nothing was written (a
//!   refusal or `not_found`).
//!
//! The stored outcome stays the JSON object it always was (`{"status": "ok", column: value, …}`),
//! so records written by earlier versions replay unchanged; it is only built when a key is given,
//! and a replay reads it back column by column in SQL. The result row is `status` (`ok`, `replay`,
//! `idempotency_conflict` or the refusal's own) followed by the columns.
//!
//! A replay writes nothing (the statement's writes all depend on `NOT EXISTS (SELECT 1 FROM
//! prior)`); the same key with another request is `idempotency_conflict`. Two identical requests
//! racing both miss `prior`, and the loser's insert below hits the primary key, which aborts its
//! whole statement: the executor runs it once more and gets the replay (`sql::executor::run`).

macro_rules! idempotent_tail {
    ($($column:ident),+ $(,)?) => {
        concat!(
            "remember AS (
  INSERT INTO credit_idempotency_keys (account_kind, account_id, idempotency_key, request_hash, response, created_at)
  SELECT k.account_kind, k.account_id, k.idempotency_key, k.request_hash,
    json_build_object('status', 'ok'",
            $(", '", stringify!($column), "', f.", stringify!($column),)+
            ")::text, k.created_at
  FROM remember_as k, facts f
)
SELECT 'replay' AS status",
            $(", s.o->>'", stringify!($column), "' AS ", stringify!($column),)+
            "
FROM (SELECT p.response::json AS o FROM prior p WHERE p.same) s
UNION ALL
SELECT 'idempotency_conflict'",
            $(", NULL AS ", stringify!($column),)+
            "
FROM prior p WHERE NOT p.same
UNION ALL
SELECT 'ok'",
            $(", f.", stringify!($column), "::text",)+
            "
FROM facts f
UNION ALL
SELECT r.status",
            $(", r.", stringify!($column), "::text",)+
            "
FROM refused r WHERE NOT EXISTS (SELECT 1 FROM prior) AND NOT EXISTS (SELECT 1 FROM facts)"
        )
    };
}

pub(crate) use idempotent_tail;
