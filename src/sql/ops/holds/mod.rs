//! Holds (API.md "Holds"): credits reserved before work whose cost is known only at its end, then
//! captured (what it really cost: one `usage` ledger row), released (the service gives it all back)
//! or left to expire. Each operation is one statement; `open` is the debit statement of `consume`
//! with another effect (`sql::ops::consume`), `close` captures or releases, `view` reads one,
//! `sweep` tidies expired ones.
//!
//! Invariants, kept by every statement that touches an account:
//! - `balance == Σ ledger`: a hold never changes `credits`; only a capture writes the ledger.
//! - `held_credits` (on users, teams, api_key_credits) == Σ amount of the account's holds in state
//!   `active`; it changes only under the account row's lock, with the hold's state in the same
//!   statement.
//! - `available = credits - held_credits + Σ active holds past expires_at` is never negative
//!   after a debit or a hold, and every debit and hold is decided on it: a hold stops counting the
//!   instant it expires, with no job. A statement that writes (consume, hold, allocate) never
//!   decides on an expired hold nobody closed (`unsettled!`): it answers `settle`, the engine
//!   closes the account's expired holds (`settle`: state `expired`, their amounts out of
//!   `held_credits` and the windows) and runs it again. So once a debit has spent what an expired
//!   hold held, that hold is closed, and no capture stamped a moment earlier on another host's
//!   clock can find it active and charge the same credits again. The hot path reads nothing more
//!   while an account holds nothing. Reads (check, balance, listings) add the expired holds back
//!   (`expired_holds!`) without writing.
//! - A key's window counters include every active hold made in the current window; an expired one
//!   is subtracted the same way, until a debit, a close or the sweep gives it back.
//!
//! Windows rule (API.md): a hold takes its whole amount from the key's daily and monthly windows
//! of the moment it is made. When it closes, what was not captured goes back to those windows if
//! they are still the key's current ones; once the day (or month) has turned, nothing is given to
//! the new window, and what was captured stays counted in the window the hold was made in, once.
//!
//! Lock order, kept by every statement: user rows (the debiting member, a personal pool's owner, a
//! team key's creator), then a key's row, then holds, then a team's row. A close locks the user
//! row (or the key's), then its hold, then a team; `settle` the user's or key's row, then the
//! expired holds, then a team; a revoke the key, then its holds, then the pool. Debits take no
//! hold locks at all (they only read whether an expired hold is still open). The sweep takes
//! every lock with SKIP LOCKED, so it never waits and never deadlocks a request.
//!
//! Idempotency records of holds live beside consumes' on the account, spelled with a space no
//! caller's key can hold (`hold K`, `capture <hold> K`, `release <hold> K`): a consume's key can
//! never collide with a hold's, and a capture's key is scoped to its hold.

pub mod close;
pub mod open;
pub mod settle;
pub mod sweep;
pub mod view;

/// Σ over the active holds of an account that are past their `expires_at` (`$now`), for reads:
/// `$column` of the subquery row `x` (`amount`, `daily_window_start`, `monthly_window_start`, or
/// `spendable`: the amount less what the hold took from blocks due by now, which goes back only to
/// expire).
/// `$lock` is a locking clause for the subquery (empty in every statement today: writers close
/// expired holds instead). Costs nothing when the account has no held credits.
macro_rules! expired_holds {
    ($held:literal, $kind:literal, $id:literal, $now:literal, $column:expr, $lock:expr) => {
        concat!(
            "(CASE WHEN ",
            $held,
            " = 0 THEN 0 ELSE (SELECT coalesce(sum(",
            $column,
            "), 0) FROM (SELECT h.amount, h.daily_window_start, h.monthly_window_start,
        h.amount - coalesce((SELECT sum((e.value->>0)::int) FROM jsonb_each(h.expiring) e
          WHERE (e.value->>1)::timestamp <= ",
            $now,
            "::timestamp), 0) AS spendable
      FROM credit_holds h
      WHERE h.account_kind = ",
            $kind,
            " AND h.account_id = ",
            $id,
            " AND h.state = 'active' AND h.expires_at <= ",
            $now,
            "::timestamp ",
            $lock,
            ") x) END)::bigint"
        )
    };
}

/// For an API key row `k`: the expired holds' total (`total`), or the part of it still counted in
/// the key's current daily or monthly window (`daily` / `monthly`, window start `$start`).
macro_rules! expired_on_key {
    (total, $now:literal, $lock:expr) => {
        crate::sql::ops::holds::expired_holds!("k.held_credits", "'api_key'", "k.api_key", $now, "x.spendable", $lock)
    };
    (daily, $start:literal, $now:literal, $lock:expr) => {
        crate::sql::ops::holds::expired_holds!(
            "k.held_credits",
            "'api_key'",
            "k.api_key",
            $now,
            concat!(
                "CASE WHEN x.daily_window_start = k.daily_window_start AND k.daily_window_start >= ",
                $start,
                "::timestamp THEN x.amount ELSE 0 END"
            ),
            $lock
        )
    };
    (monthly, $start:literal, $now:literal, $lock:expr) => {
        crate::sql::ops::holds::expired_holds!(
            "k.held_credits",
            "'api_key'",
            "k.api_key",
            $now,
            concat!(
                "CASE WHEN x.monthly_window_start = k.monthly_window_start AND k.monthly_window_start >= ",
                $start,
                "::timestamp THEN x.amount ELSE 0 END"
            ),
            $lock
        )
    };
}

/// What the next consume may spend from key row `k`.
macro_rules! key_available {
    ($now:literal, $lock:expr) => {
        concat!(
            "(k.credits::bigint - k.held_credits + ",
            crate::sql::ops::holds::expired_on_key!(total, $now, $lock),
            ")"
        )
    };
}

/// A key's window counter as of window start `$start`, less the expired holds still in it.
macro_rules! key_used {
    (daily, $start:literal, $now:literal, $lock:expr) => {
        concat!(
            "((CASE WHEN k.daily_window_start >= ",
            $start,
            "::timestamp THEN k.daily_used ELSE 0 END)::bigint - ",
            crate::sql::ops::holds::expired_on_key!(daily, $start, $now, $lock),
            ")"
        )
    };
    (monthly, $start:literal, $now:literal, $lock:expr) => {
        concat!(
            "((CASE WHEN k.monthly_window_start >= ",
            $start,
            "::timestamp THEN k.monthly_used ELSE 0 END)::bigint - ",
            crate::sql::ops::holds::expired_on_key!(monthly, $start, $now, $lock),
            ")"
        )
    };
}

/// Whether account `$kind`/`$id` (whose row is `$held`'s) has an active hold past `$now` that no
/// statement has closed yet. A debit that would count on it does not decide: it answers `settle`,
/// and the engine closes those holds (`holds::settle`) before running it again — so once credits an
/// expired hold held are spent, no capture stamped a moment earlier on another host's clock can
/// find that hold active and charge them again. Nothing is read while the account holds nothing.
macro_rules! unsettled {
    ($held:literal, $kind:literal, $id:literal, $now:literal) => {
        concat!(
            "(",
            $held,
            " <> 0 AND EXISTS (SELECT 1 FROM credit_holds h WHERE h.account_kind = ",
            $kind,
            " AND h.account_id = ",
            $id,
            " AND h.state = 'active' AND h.expires_at <= ",
            $now,
            "::timestamp))"
        )
    };
}

pub(crate) use expired_holds;
pub(crate) use expired_on_key;
pub(crate) use key_available;
pub(crate) use key_used;
pub(crate) use unsettled;
