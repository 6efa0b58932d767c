//! The FLTR schema as its migration history, oldest first and append-only: Better Auth's core
//! tables (0000), the seed's credit system (0001), the engine's additive bookkeeping (0002),
//! money safety's indexes and unfulfilled purchases (0003), hashed API keys (0004), holds (0005) and
//! expiring credits (0006). Names,
//! types, defaults and actions are the contract with existing FLTR databases
//! (shared/seed/FLTR-deployment-guide.md, REFERENCE §5).

use crate::schema::model::{
    Change, Column, DefaultValue, ForeignKey, Function, Index, KeyConstraint, Migration, ReferentialAction::*,
    SqlType::*, Table,
};

const fn text(name: &'static str) -> Column {
    Column::new(name, Text)
}
const fn integer(name: &'static str) -> Column {
    Column::new(name, Integer)
}
const fn timestamp(name: &'static str) -> Column {
    Column::new(name, Timestamp)
}
const fn created_now(name: &'static str) -> Column {
    timestamp(name).default(DefaultValue::Now).not_null()
}

fn better_auth() -> Migration {
    let users = Table {
        name: "users",
        columns: vec![
            text("id").primary_key(),
            text("name").not_null(),
            text("email").not_null(),
            Column::new("email_verified", Boolean).default(DefaultValue::Boolean(false)).not_null(),
            text("image"),
            created_now("created_at"),
            created_now("updated_at"),
        ],
        keys: vec![KeyConstraint { name: "users_email_unique", columns: &["email"], primary: false }],
    };
    let sessions = Table {
        name: "sessions",
        columns: vec![
            text("id").primary_key(),
            timestamp("expires_at").not_null(),
            text("token").not_null(),
            created_now("created_at"),
            timestamp("updated_at").not_null(),
            text("ip_address"),
            text("user_agent"),
            text("user_id").not_null(),
        ],
        keys: vec![KeyConstraint { name: "sessions_token_unique", columns: &["token"], primary: false }],
    };
    let accounts = Table {
        name: "accounts",
        columns: vec![
            text("id").primary_key(),
            text("account_id").not_null(),
            text("provider_id").not_null(),
            text("user_id").not_null(),
            text("access_token"),
            text("refresh_token"),
            text("id_token"),
            timestamp("access_token_expires_at"),
            timestamp("refresh_token_expires_at"),
            text("scope"),
            text("password"),
            created_now("created_at"),
            timestamp("updated_at").not_null(),
        ],
        keys: vec![],
    };
    let verifications = Table {
        name: "verifications",
        columns: vec![
            text("id").primary_key(),
            text("identifier").not_null(),
            text("value").not_null(),
            timestamp("expires_at").not_null(),
            created_now("created_at"),
            created_now("updated_at"),
        ],
        keys: vec![],
    };
    let owned_by_user = |name, table| ForeignKey {
        name,
        table,
        columns: &["user_id"],
        foreign_table: "users",
        foreign_columns: &["id"],
        on_delete: Cascade,
        on_update: NoAction,
    };
    Migration {
        tag: "0000_nifty_bruce_banner",
        when: 1_730_419_200_000,
        changes: vec![
            Change::CreateTable(users),
            Change::CreateTable(sessions),
            Change::CreateTable(accounts),
            Change::CreateTable(verifications),
            Change::AddForeignKey(owned_by_user("sessions_user_id_users_id_fk", "sessions")),
            Change::AddForeignKey(owned_by_user("accounts_user_id_users_id_fk", "accounts")),
            Change::CreateIndex(Index::new("sessions_userId_idx", "sessions", &["user_id"])),
            Change::CreateIndex(Index::new("accounts_userId_idx", "accounts", &["user_id"])),
            Change::CreateIndex(Index::new("verifications_identifier_idx", "verifications", &["identifier"])),
        ],
    }
}

fn credit_system() -> Migration {
    let api_key_credits = Table {
        name: "api_key_credits",
        columns: vec![
            text("api_key").primary_key(),
            text("user_id").not_null(),
            text("team_id"),
            integer("credits").default(DefaultValue::Integer(0)).not_null(),
            integer("daily_limit"),
            integer("monthly_limit"),
            timestamp("created_at").not_null(),
            timestamp("updated_at").not_null(),
        ],
        keys: vec![],
    };
    let credit_transactions = Table {
        name: "credit_transactions",
        columns: vec![
            text("id").primary_key(),
            text("user_id").not_null(),
            text("team_id"),
            integer("amount").not_null(),
            text("type").not_null(),
            text("operation"),
            text("resource_id"),
            text("api_key_id"),
            text("metadata"),
            timestamp("created_at").not_null(),
        ],
        keys: vec![],
    };
    let teams = Table {
        name: "teams",
        columns: vec![
            text("id").primary_key(),
            text("name").not_null(),
            integer("credits").default(DefaultValue::Integer(0)).not_null(),
            text("owner_id"),
            timestamp("created_at").not_null(),
            timestamp("updated_at").not_null(),
        ],
        keys: vec![],
    };
    let fk = |name, table, column: &'static [&'static str], foreign_table, on_delete| ForeignKey {
        name,
        table,
        columns: column,
        foreign_table,
        foreign_columns: &["id"],
        on_delete,
        on_update: NoAction,
    };
    Migration {
        tag: "0001_abandoned_human_fly",
        when: 1_731_628_800_000,
        changes: vec![
            Change::CreateTable(api_key_credits),
            Change::CreateTable(credit_transactions),
            Change::CreateTable(teams),
            Change::AddColumn {
                table: "users",
                column: integer("credits").default(DefaultValue::Integer(0)).not_null(),
            },
            Change::AddColumn {
                table: "users",
                column: integer("total_credits_purchased").default(DefaultValue::Integer(0)).not_null(),
            },
            Change::AddColumn { table: "users", column: text("team_id") },
            Change::AddForeignKey(fk(
                "api_key_credits_user_id_users_id_fk",
                "api_key_credits",
                &["user_id"],
                "users",
                Cascade,
            )),
            Change::AddForeignKey(fk(
                "api_key_credits_team_id_teams_id_fk",
                "api_key_credits",
                &["team_id"],
                "teams",
                Cascade,
            )),
            Change::AddForeignKey(fk(
                "credit_transactions_user_id_users_id_fk",
                "credit_transactions",
                &["user_id"],
                "users",
                Cascade,
            )),
            Change::AddForeignKey(fk(
                "credit_transactions_team_id_teams_id_fk",
                "credit_transactions",
                &["team_id"],
                "teams",
                SetNull,
            )),
            Change::AddForeignKey(fk("teams_owner_id_users_id_fk", "teams", &["owner_id"], "users", Cascade)),
            Change::AddForeignKey(fk("users_team_id_teams_id_fk", "users", &["team_id"], "teams", NoAction)),
        ],
    }
}

/// The engine's bookkeeping: exact per-window usage counters on each key (so limits hold under
/// READ COMMITTED without summing the ledger), stored idempotent responses, and ledger indexes.
fn engine_bookkeeping() -> Migration {
    let idempotency = Table {
        name: "credit_idempotency_keys",
        columns: vec![
            text("account_kind").not_null(),
            text("account_id").not_null(),
            text("idempotency_key").not_null(),
            text("request_hash").not_null(),
            text("response").not_null(),
            timestamp("created_at").not_null(),
        ],
        keys: vec![KeyConstraint {
            name: "credit_idempotency_keys_pk",
            columns: &["account_kind", "account_id", "idempotency_key"],
            primary: true,
        }],
    };
    let counter = |name| integer(name).default(DefaultValue::Integer(0)).not_null();
    Migration {
        tag: "0002_exact_usage_windows",
        when: 1_764_028_800_000,
        changes: vec![
            Change::AddColumn { table: "api_key_credits", column: counter("daily_used") },
            Change::AddColumn { table: "api_key_credits", column: timestamp("daily_window_start") },
            Change::AddColumn { table: "api_key_credits", column: counter("monthly_used") },
            Change::AddColumn { table: "api_key_credits", column: timestamp("monthly_window_start") },
            Change::CreateTable(idempotency),
            Change::CreateIndex(Index::new(
                "credit_transactions_user_id_created_at_idx",
                "credit_transactions",
                &["user_id", "created_at", "id"],
            )),
            Change::CreateIndex(Index::new(
                "credit_transactions_api_key_id_created_at_idx",
                "credit_transactions",
                &["api_key_id", "created_at", "id"],
            )),
            Change::CreateIndex(Index::new(
                "credit_transactions_team_id_created_at_idx",
                "credit_transactions",
                &["team_id", "created_at", "id"],
            )),
        ],
    }
}

/// Money safety: indexes so every per-request read scales with the caller rather than the table
/// (a user's keys, a team's members), and the purchases Stripe paid for that could not be credited
/// yet (unknown buyer, no credits in the metadata, a balance out of range), kept for the operator
/// until a retried delivery credits them.
fn money_safety() -> Migration {
    let unfulfilled = Table {
        name: "credit_unfulfilled_purchases",
        columns: vec![
            text("payment_id").primary_key(),
            text("event_id").not_null(),
            text("user_id"),
            text("reason").not_null(),
            integer("attempts").default(DefaultValue::Integer(1)).not_null(),
            timestamp("first_seen_at").not_null(),
            timestamp("last_seen_at").not_null(),
        ],
        keys: vec![],
    };
    Migration {
        tag: "0003_money_safety",
        when: 1_764_547_200_000,
        changes: vec![
            Change::CreateIndex(Index::new("api_key_credits_user_id_idx", "api_key_credits", &["user_id"])),
            Change::CreateIndex(Index::new("users_team_id_idx", "users", &["team_id"])),
            Change::CreateTable(unfulfilled),
        ],
    }
}

/// API keys without a secret at rest (API.md "API keys"): `api_key` becomes the key's public id
/// and `key_hash` the SHA-256 its secret is found by; the rotated-out secret's hash during a grace;
/// the lifecycle columns (name, expiry, revocation, last use); and a data step that moves every
/// key row written the seed's way, with the ledger rows and idempotency records that copied its
/// secret, to that form (`sql::ops::api_keys::adopt`). Every column is nullable without a
/// default, so adding them rewrites nothing; the down migration drops them, and cannot bring the
/// secrets back: keys must be issued again after it.
fn hashed_api_keys() -> Migration {
    let key_column = |column| Change::AddColumn { table: "api_key_credits", column };
    Migration {
        tag: "0004_hashed_api_keys",
        when: 1_764_633_600_000,
        changes: vec![
            key_column(text("key_hash")),
            key_column(text("start")),
            key_column(text("name")),
            key_column(timestamp("expires_at")),
            key_column(timestamp("revoked_at")),
            key_column(timestamp("last_used_at")),
            key_column(text("previous_key_hash")),
            key_column(timestamp("previous_key_expires_at")),
            Change::CreateIndex(Index::new("api_key_credits_key_hash_idx", "api_key_credits", &["key_hash"]).unique()),
            Change::CreateIndex(Index::new(
                "api_key_credits_previous_key_hash_idx",
                "api_key_credits",
                &["previous_key_hash"],
            )),
            Change::CreateIndex(Index::new("api_key_credits_team_id_idx", "api_key_credits", &["team_id"])),
            Change::Data { name: "hash_plaintext_api_keys", sql: crate::sql::ops::api_keys::adopt::ADOPT_ALL_SQL },
        ],
    }
}

/// Holds (API.md "Holds", `sql::ops::holds`): one row per reservation, and on each account a
/// `held_credits` counter of its active holds, kept under the account row's lock by every statement
/// that opens or closes a hold, so a debit decides on `credits - held_credits` from the locked row
/// alone (a sum over `credit_holds` would be read from the statement's snapshot, which READ
/// COMMITTED does not refresh when the row lock is granted). The counters default to 0, a
/// metadata-only change since Postgres 11: adding them rewrites no table and holds no long lock.
fn holds() -> Migration {
    let counter = |table| Change::AddColumn {
        table,
        column: integer("held_credits").default(DefaultValue::Integer(0)).not_null(),
    };
    let holds = Table {
        name: "credit_holds",
        columns: vec![
            text("id").primary_key(),
            text("account_kind").not_null(),
            text("account_id").not_null(),
            text("user_id").not_null(),
            text("team_id"),
            text("api_key_id"),
            text("opened_by").not_null(),
            integer("amount").not_null(),
            integer("captured"),
            text("state").not_null(),
            text("operation").not_null(),
            text("resource_id"),
            text("metadata"),
            text("transaction_id"),
            timestamp("daily_window_start"),
            timestamp("monthly_window_start"),
            timestamp("expires_at").not_null(),
            timestamp("created_at").not_null(),
            timestamp("closed_at"),
        ],
        keys: vec![],
    };
    Migration {
        tag: "0005_holds",
        when: 1_764_720_000_000,
        changes: vec![
            counter("users"),
            counter("teams"),
            counter("api_key_credits"),
            Change::CreateTable(holds),
            Change::CreateIndex(Index::new(
                "credit_holds_account_state_expires_at_idx",
                "credit_holds",
                &["account_kind", "account_id", "state", "expires_at"],
            )),
            Change::CreateIndex(Index::new(
                "credit_holds_state_expires_at_idx",
                "credit_holds",
                &["state", "expires_at"],
            )),
            Change::CreateIndex(Index::new("credit_holds_transaction_id_idx", "credit_holds", &["transaction_id"])),
        ],
    }
}

/// What a debit of `amount` leaves of each block (soonest first): a debit's arithmetic on its
/// locked row, as a function so that a row without blocks (NULL, STRICT) costs the debit nothing —
/// the same arithmetic as a subquery costs every debit its executor setup (BENCHMARKS.md §1).
pub const BLOCKS_LEFT: Function = Function {
    name: "credit_blocks_left",
    parameters: "lefts integer[], amount integer",
    identity: "lefts integer[], amount integer",
    returns: "integer[]",
    body: "
DECLARE
  result integer[] := lefts;
  rest integer := amount;
  taken integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(lefts, 1), 0) LOOP
    EXIT WHEN rest <= 0;
    taken := least(lefts[i], rest);
    result[i] := lefts[i] - taken;
    rest := rest - taken;
  END LOOP;
  RETURN result;
END
",
};

/// What a debit of `amount` takes from each block, as the effect record
/// `{"<block id>": [credits, "<deadline>"], …}` (NULL when it takes from none).
pub const BLOCKS_TAKE: Function = Function {
    name: "credit_blocks_take",
    parameters: "ids text[], deadlines timestamp[], lefts integer[], amount integer",
    identity: "ids text[], deadlines timestamp without time zone[], lefts integer[], amount integer",
    returns: "jsonb",
    body: "
DECLARE
  result jsonb;
  rest integer := amount;
  taken integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(lefts, 1), 0) LOOP
    EXIT WHEN rest <= 0;
    taken := least(lefts[i], rest);
    IF taken > 0 THEN
      result := coalesce(result, '{}'::jsonb) || jsonb_build_object(ids[i], jsonb_build_array(taken, deadlines[i]));
      rest := rest - taken;
    END IF;
  END LOOP;
  RETURN result;
END
",
};

/// Expiring credits (API.md "Expiring credits"): each account row carries its live blocks —
/// grant id, deadline, unspent rest, soonest first, as three parallel arrays (NULL: none) — so a
/// debit decides and spends them on the row it has locked; `expiring_take` is what the row's last
/// debit took from them, read back by the statement that wrote it. `expiring` on a ledger row
/// (and on a hold) records what it did to which block. All nullable, no default: metadata-only.
fn expiring_credits() -> Migration {
    let mut changes = Vec::new();
    for table in ["users", "teams", "api_key_credits"] {
        changes.push(Change::AddColumn { table, column: Column::new("expiring_ids", TextArray) });
        changes.push(Change::AddColumn { table, column: Column::new("expiring_at", TimestampArray) });
        changes.push(Change::AddColumn { table, column: Column::new("expiring_left", IntegerArray) });
        changes.push(Change::AddColumn { table, column: Column::new("expiring_take", Jsonb) });
    }
    changes.push(Change::AddColumn { table: "credit_transactions", column: Column::new("expiring", Jsonb) });
    changes.push(Change::AddColumn { table: "credit_holds", column: Column::new("expiring", Jsonb) });
    changes.push(Change::CreateFunction(BLOCKS_LEFT));
    changes.push(Change::CreateFunction(BLOCKS_TAKE));
    Migration { tag: "0006_expiring_credits", when: 1_764_806_400_000, changes }
}

/// Every migration, oldest first. Append only: a released migration never changes.
pub fn migrations() -> Vec<Migration> {
    vec![
        better_auth(),
        credit_system(),
        engine_bookkeeping(),
        money_safety(),
        hashed_api_keys(),
        holds(),
        expiring_credits(),
    ]
}
