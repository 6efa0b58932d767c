//! The idempotency fragment every mutating statement ends with, written once.
//!
//! A statement using it defines four CTEs before it:
//! - `prior(same, response)`: the stored outcome under this account's key, if any; `same` says
//!   whether the stored request equals this one;
//! - `facts(body)`: the success outcome, one row when the statement wrote, none otherwise;
//! - `remember_as(account_kind, account_id, idempotency_key, request_hash, created_at)`: where a
//!   success is remembered, no row when the request carries no key;
//! - `refused(body)`: exactly one row, the outcome when nothing was written (a refusal or
//!   `not_found`).
//!
//! A replay returns the stored outcome and writes nothing (the statement's writes all depend on
//! `NOT EXISTS (SELECT 1 FROM prior)`); the same key with another request is
//! `idempotency_conflict`. Two identical requests racing both miss `prior`, and the loser's
//! insert below hits the primary key, which aborts its whole statement: the executor runs it once
//! more and gets the replay (`sql::executor::run`).

macro_rules! idempotent_tail {
    () => {
        r#"remember AS (
  INSERT INTO credit_idempotency_keys (account_kind, account_id, idempotency_key, request_hash, response, created_at)
  SELECT k.account_kind, k.account_id, k.idempotency_key, k.request_hash, f.body::text, k.created_at
  FROM remember_as k, facts f
)
SELECT (CASE
  WHEN EXISTS (SELECT 1 FROM prior WHERE same)
    THEN (SELECT json_build_object('status', 'replay', 'original', response::json) FROM prior)
  WHEN EXISTS (SELECT 1 FROM prior) THEN json_build_object('status', 'idempotency_conflict')
  WHEN EXISTS (SELECT 1 FROM facts) THEN (SELECT body FROM facts)
  ELSE (SELECT body FROM refused)
END)::text AS r"#
    };
}

pub(crate) use idempotent_tail;
