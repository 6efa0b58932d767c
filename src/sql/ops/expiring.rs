//! SQL fragments for expiring credits (`core::expiring` states the invariants). Every fragment
//! works on an account row alias `$r` (users, teams or api_key_credits) whose three arrays hold
//! its live blocks soonest first; NULL arrays mean none, so an account that never had an expiring
//! grant costs a debit a NULL test and nothing else.
//!
//! A block's *effect record* is jsonb `{"<block id>": [credits, "<deadline>"], …}`: what a debit
//! took (on the row's `expiring_take`, then its ledger row or hold), what a refund or release
//! gives back, what expired. Ledger rows carry it in `credit_transactions.expiring`, signed as
//! the row's amount.

/// Whether row `$r` has a block at or past `$now` on it (the arrays are sorted, so the first
/// deadline is the soonest): a debit answers `settle` instead of deciding.
macro_rules! blocks_due {
    ($r:literal, $now:literal) => {
        concat!("coalesce(", $r, ".expiring_at[1] <= ", $now, "::timestamp, false)")
    };
}

/// The `SET` items of a debit of `$amount` on row `$r`, with no block due: the blocks are spent
/// soonest first, and `expiring_take` records what was taken from each, for the ledger row or
/// hold the same statement writes. Two STRICT functions of migration 0006 (`schema::history`): a
/// row without blocks passes NULL and pays nothing, where the same arithmetic as a subquery cost
/// every debit its executor setup (BENCHMARKS.md §1).
macro_rules! blocks_spend {
    ($r:literal, $amount:literal) => {
        concat!(
            "expiring_left = credit_blocks_left(",
            $r,
            ".expiring_left, ",
            $amount,
            "),
    expiring_take = credit_blocks_take(",
            $r,
            ".expiring_ids, ",
            $r,
            ".expiring_at, ",
            $r,
            ".expiring_left, ",
            $amount,
            ")"
        )
    };
}

/// Row `$r`'s blocks with effect record `$record` (jsonb, NULL for none) added: a block still on
/// the row gets its credits back, one gone (expired) or new comes back with its deadline. A FROM
/// item of columns `id`, `at`, `l`.
macro_rules! blocks_merged {
    ($r:literal, $record:expr) => {
        concat!(
            "(SELECT coalesce(e.id, d.key) AS id, coalesce(e.at, (d.value->>1)::timestamp) AS at,
      coalesce(e.l, 0)::bigint + coalesce((d.value->>0)::bigint, 0) AS l
    FROM unnest(",
            $r,
            ".expiring_ids, ",
            $r,
            ".expiring_at, ",
            $r,
            ".expiring_left) e(id, at, l)
    FULL JOIN jsonb_each(",
            $record,
            ") d ON d.key = e.id)"
        )
    };
}

/// The `SET` item storing row `$r`'s blocks merged with `$record`, keeping those for which
/// `$keep` (a condition on `m`) holds.
macro_rules! blocks_store {
    ($r:literal, $record:expr, $keep:expr) => {
        concat!(
            "(expiring_ids, expiring_at, expiring_left) = (SELECT array_agg(m.id ORDER BY m.at, m.id),
      array_agg(m.at ORDER BY m.at, m.id), array_agg(m.l::int ORDER BY m.at, m.id)
    FROM ",
            crate::sql::ops::expiring::blocks_merged!($r, $record),
            " m WHERE ",
            $keep,
            ")"
        )
    };
}

/// Σ of what is left on row `$r`'s blocks due at `$now` (read paths subtract it: those credits
/// are gone the instant their block expires, before any row records it).
macro_rules! blocks_due_left {
    ($r:literal, $now:literal) => {
        concat!(
            "(CASE WHEN ",
            crate::sql::ops::expiring::blocks_due!($r, $now),
            " THEN (SELECT coalesce(sum(u.l), 0) FROM unnest(",
            $r,
            ".expiring_at, ",
            $r,
            ".expiring_left) u(at, l) WHERE u.at <= ",
            $now,
            "::timestamp) ELSE 0 END)::bigint"
        )
    };
}

/// What row `$r` (account `$kind`/`$id`, its held total `$held`) has lost by `$now` that no row
/// records yet: its due blocks' rest, and what its holds took from blocks now due (never captured:
/// it goes back to them only to expire). Read paths subtract it from `credits`.
macro_rules! blocks_gone {
    ($r:literal, $held:literal, $kind:literal, $id:literal, $now:literal) => {
        concat!(
            "(",
            crate::sql::ops::expiring::blocks_due_left!($r, $now),
            " + (CASE WHEN ",
            $held,
            " = 0 THEN 0 ELSE (SELECT coalesce(sum((e.value->>0)::int), 0) FROM credit_holds h, jsonb_each(h.expiring) e
      WHERE h.account_kind = ",
            $kind,
            " AND h.account_id = ",
            $id,
            " AND h.state = 'active' AND (e.value->>1)::timestamp <= ",
            $now,
            "::timestamp) END)::bigint)"
        )
    };
}

/// Row `$r`'s live blocks with credits left as `amount@deadline;…`, soonest first, for balances
/// (`core::expiring::parse_list`).
macro_rules! blocks_listed {
    ($r:literal, $now:literal) => {
        concat!(
            "(SELECT string_agg(u.l::text || '@' || u.at::text, ';' ORDER BY u.at, u.id) FROM unnest(",
            $r,
            ".expiring_ids, ",
            $r,
            ".expiring_at, ",
            $r,
            ".expiring_left) u(id, at, l) WHERE u.at > ",
            $now,
            "::timestamp AND u.l > 0)"
        )
    };
}

/// Effect record `$record` cut at `$amount` credits among its blocks not yet due at `$now`,
/// soonest deadline first: the part within the first `$amount` (`spent`) or all the rest, due
/// blocks whole (`rest`); NULL when empty. A capture spends the first part of what its hold took
/// from live blocks; what it took from a block past its deadline is never spent.
macro_rules! record_split {
    ($record:literal, $amount:literal, $now:literal, spent) => {
        crate::sql::ops::expiring::record_split!(
            @ $record,
            $now,
            concat!("CASE WHEN x.live THEN greatest(0, least(x.n, ", $amount, " - (x.cum - x.n))) ELSE 0 END")
        )
    };
    ($record:literal, $amount:literal, $now:literal, rest) => {
        crate::sql::ops::expiring::record_split!(
            @ $record,
            $now,
            concat!("x.n - CASE WHEN x.live THEN greatest(0, least(x.n, ", $amount, " - (x.cum - x.n))) ELSE 0 END")
        )
    };
    (@ $record:literal, $now:literal, $part:expr) => {
        concat!(
            "(SELECT jsonb_object_agg(x.key, jsonb_build_array(",
            $part,
            ", x.at)) FROM (SELECT e.key, (e.value->>0)::bigint AS n, e.value->1 AS at,
        (e.value->>1)::timestamp > ",
            $now,
            "::timestamp AS live,
        sum(CASE WHEN (e.value->>1)::timestamp > ",
            $now,
            "::timestamp THEN (e.value->>0)::bigint ELSE 0 END) OVER (ORDER BY e.value->>1, e.key) AS cum
      FROM jsonb_each(",
            $record,
            ") e) x WHERE ",
            $part,
            " > 0)"
        )
    };
}

/// The blocks of effect record `$record` whose deadline is past `$now` (`due`) or not (`live`).
macro_rules! record_part {
    ($record:literal, $now:literal, due) => {
        concat!(
            "(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(",
            $record,
            ") e WHERE (e.value->>1)::timestamp <= ",
            $now,
            "::timestamp)"
        )
    };
    ($record:literal, $now:literal, live) => {
        concat!(
            "(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(",
            $record,
            ") e WHERE (e.value->>1)::timestamp > ",
            $now,
            "::timestamp)"
        )
    };
}

/// The effect records `$record` of the rows of `$from` for which `$which` holds, summed per block
/// into one record (NULL when none): what several holds or keys give back at once.
macro_rules! records_summed {
    ($from:literal, $record:literal, $which:literal) => {
        concat!(
            "(SELECT jsonb_object_agg(z.key, jsonb_build_array(z.n, z.at)) FROM (
      SELECT e.key, sum((e.value->>0)::bigint) AS n, min(e.value->>1) AS at
      FROM ",
            $from,
            ", jsonb_each(",
            $record,
            ") e WHERE ",
            $which,
            " GROUP BY e.key) z)"
        )
    };
}

/// Σ credits of effect record `$record` (0 for NULL).
macro_rules! record_total {
    ($record:expr) => {
        concat!("(SELECT coalesce(sum((e.value->>0)::bigint), 0) FROM jsonb_each(", $record, ") e)")
    };
}

/// Σ of row `$r`'s `expiring_left`.
macro_rules! blocks_total {
    ($r:literal) => {
        concat!("(SELECT coalesce(sum(l), 0) FROM unnest(", $r, ".expiring_left) l)")
    };
}

/// `expiration` ledger rows, one per block of effect record `$record` (a column of `$from`), as
/// the CTE `$name`: for credits given back to a block past its deadline, which expire at once.
/// `$user`, `$team`, `$key` attribute them (to the account that takes them back).
macro_rules! expire_returned {
    ($name:literal, $from:literal, $record:expr, $user:literal, $team:literal, $key:literal, $now:literal) => {
        concat!(
            $name,
            r#" AS (
  INSERT INTO credit_transactions (id, user_id, team_id, amount, type, operation, resource_id, api_key_id, metadata,
    created_at, expiring)
  SELECT 'ctx_' || replace(gen_random_uuid()::text, '-', ''), "#,
            $user,
            ", ",
            $team,
            ", -(e.value->>0)::int, 'expiration', 'credits.expire', e.key, ",
            $key,
            ", json_build_object('block', e.key, 'expires_at', e.value->>1)::text, ",
            $now,
            "::timestamp, jsonb_build_object(e.key, e.value)
  FROM ",
            $from,
            ", jsonb_each(",
            $record,
            r#") e
  RETURNING id
)"#
        )
    };
}

pub(crate) use blocks_due;
pub(crate) use blocks_due_left;
pub(crate) use blocks_gone;
pub(crate) use blocks_listed;
pub(crate) use blocks_merged;
pub(crate) use blocks_spend;
pub(crate) use blocks_store;
pub(crate) use blocks_total;
pub(crate) use expire_returned;
pub(crate) use record_part;
pub(crate) use record_split;
pub(crate) use record_total;
pub(crate) use records_summed;
