//! The `fltr-credits` command line (shared/API.md "CLI shape"): a readable sentence by default,
//! exactly one JSON object on stdout with `--json`, and the contract's exit codes.

mod credit_commands;
mod hold_commands;
mod key_commands;
mod progress;

use crate::adapters::native::database;
use crate::core::error::CreditError;
use crate::core::validate::Amount;
use crate::migrator;
use crate::schema::history::migrations;
use crate::schema::{drizzle, journal, plan};
use crate::sql::ops::seed;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "fltr-credits",
    version,
    about = "FLTR's credit system: migrations, verification and credit operations on Postgres"
)]
pub struct Cli {
    /// Postgres URL; defaults to DATABASE_URL, then AUTH_DATABASE_URL.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Print exactly one JSON object (the result or the error) on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Direction {
    Up,
    Down,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations in one transaction, recorded in drizzle's journal.
    Migrate {
        /// Print what would run without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print migration SQL (the seed's "Direct SQL Execution").
    Sql {
        direction: Direction,
        /// up: up to and including TAG; down: undo everything after TAG ("none": everything).
        #[arg(long)]
        to: Option<String>,
    },
    /// Compare the live schema with the model; exit 0 only when there is no drift.
    Verify,
    /// Undo applied migrations newer than TAG ("none" undoes all).
    Rollback {
        #[arg(long)]
        to: String,
    },
    /// Give N credits, with a ledger row, to every user with 0 credits who was never seeded.
    SeedCredits {
        #[arg(long)]
        amount: String,
    },
    /// Write migrations/ and npm/drizzle.ts (the drizzle-orm tables) from the schema model, or
    /// with --check fail if either differs.
    Generate {
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "migrations")]
        dir: PathBuf,
        /// Where drizzle.ts goes (the npm package's source folder).
        #[arg(long, default_value = "npm")]
        npm_dir: PathBuf,
    },
    /// Add credits to a user, team or API key (a `grant` ledger row), optionally expiring.
    Grant {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        amount: String,
        /// Recorded as the ledger row's operation (default "grant").
        #[arg(long)]
        operation: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
        /// When the unspent rest of these credits expires: an RFC 3339 UTC time in the future, at
        /// most ten years ahead (default: they never expire). Credits that expire soonest are
        /// spent first.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Record a purchase by a user, idempotent per payment id; raises total_credits_purchased.
    Purchase {
        #[arg(long)]
        user: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        payment_id: String,
    },
    /// Show balances: a user with their team and keys, a team, or one API key.
    Balance {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// Debit a user (their team's pool when they have one) or an API key, within its limits.
    Consume {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "cli.consume")]
        operation: String,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Decide as consume would, without writing (amount 0 allowed).
    Check {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long, default_value = "0")]
        amount: String,
    },
    /// Reverse one usage transaction, once.
    Refund {
        #[arg(long)]
        transaction_id: String,
    },
    /// Fund an API key from its owner's pool (the team's when the key has a team).
    Allocate {
        /// The key's public id or its secret ("-" reads it from standard input).
        #[arg(long)]
        api_key: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Reserve credits for work whose cost is known only at its end (capture or release it later;
    /// it expires by itself after --ttl-seconds).
    Hold {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "cli.hold")]
        operation: String,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        /// Seconds until the hold expires by itself (default 900, at most 86400).
        #[arg(long)]
        ttl_seconds: Option<i64>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Charge what the work really cost (default: all of it; 0 allowed); the rest goes back.
    Capture {
        #[arg(long)]
        hold: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Give a hold back whole.
    Release {
        #[arg(long)]
        hold: String,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show one hold.
    ShowHold {
        #[arg(long)]
        hold: String,
    },
    /// Mark expired holds expired and give their amounts back to their accounts' held totals
    /// (tidying only: an expired hold already stopped counting at its deadline).
    Sweep,
    /// List an account's ledger, newest first.
    Transactions {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Usage net of refunds over UTC days FROM (included) to TO (excluded), at most 366 days,
    /// grouped by day, operation and/or api_key (comma-separated; default day).
    Usage {
        #[command(flatten)]
        account: AccountArgs,
        /// First UTC day, YYYY-MM-DD (included).
        #[arg(long)]
        from: String,
        /// Last UTC day, YYYY-MM-DD (excluded).
        #[arg(long)]
        to: String,
        #[arg(long)]
        group_by: Option<String>,
    },
    /// Report accounts whose balance differs from their ledger; --adopt writes opening balances.
    Reconcile {
        #[arg(long)]
        adopt: bool,
    },
    /// Forget idempotency keys older than N hours (default 48): their retries count as new.
    PruneIdempotencyKeys {
        #[arg(long, default_value_t = 48)]
        older_than_hours: i64,
    },
    /// Manage API keys (as the service): create, list, update, rotate, revoke, revoke-leaked.
    Keys {
        #[command(subcommand)]
        command: key_commands::KeysCommand,
    },
}

/// Exactly one account: `--user ID`, `--team ID` or `--api-key KEY`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct AccountArgs {
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub team: Option<String>,
    /// The key's public id (key_…) or its secret; "-" reads it from standard input (out of `ps`).
    #[arg(long)]
    pub api_key: Option<String>,
}

/// A successful outcome: the JSON object and the sentence a person reads.
pub struct Outcome {
    pub json: Value,
    pub text: String,
    pub exit_code: i32,
}

impl Outcome {
    pub(crate) fn ok(json: Value, text: impl Into<String>) -> Self {
        Outcome { json, text: text.into(), exit_code: 0 }
    }
}

pub(crate) use crate::adapters::native::clock::now;

pub(crate) async fn client(cli: &Cli) -> Result<tokio_postgres::Client, CreditError> {
    let url = crate::core::database_url::resolve(
        cli.database_url.as_deref(),
        std::env::var("DATABASE_URL").ok().as_deref(),
        std::env::var("AUTH_DATABASE_URL").ok().as_deref(),
    )?;
    database::connect(&url).await
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn sql_text(direction: Direction, to: Option<&str>) -> Result<Outcome, CreditError> {
    let all = migrations();
    let files: Vec<String> = match direction {
        Direction::Up => plan::up_to(&all, to)?.into_iter().map(journal::up_file).collect(),
        Direction::Down => {
            let everything: Vec<_> =
                all.iter().map(|m| plan::AppliedMigration { hash: journal::hash(m), created_at: m.when }).collect();
            plan::rollback(&all, &everything, to.unwrap_or("none"))?.into_iter().map(journal::down_file).collect()
        }
    };
    let text = files.join("\n--> statement-breakpoint\n");
    Ok(Outcome::ok(json!({ "sql": text }), text))
}

/// Every generated file: the migrations folder (`dir`: SQL, journal, drizzle-kit snapshots) and the
/// drizzle schema (`npm_dir`).
fn generated_files(dir: &std::path::Path, npm_dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    let all = migrations();
    let mut files: Vec<(PathBuf, String)> = journal::files(&all)
        .into_iter()
        .chain(drizzle::snapshot_files(&all))
        .map(|file| (dir.join(file.path), file.contents))
        .collect();
    let state = crate::schema::model::SchemaState::after(&all);
    files.push((npm_dir.join(drizzle::DRIZZLE_PATH), drizzle::schema_file(&state)));
    files
}

fn generate(check: bool, dir: &std::path::Path, npm_dir: &std::path::Path) -> Result<Outcome, CreditError> {
    let mut differing = Vec::new();
    for (path, contents) in generated_files(dir, npm_dir) {
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(contents.as_str()) {
            continue;
        }
        differing.push(path.display().to_string());
        if !check {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| CreditError::invalid_request(format!("cannot create {}: {e}", parent.display())))?;
            }
            std::fs::write(&path, &contents)
                .map_err(|e| CreditError::invalid_request(format!("cannot write {}: {e}", path.display())))?;
        }
    }
    let targets = format!("{} and {}", dir.display(), npm_dir.join(drizzle::DRIZZLE_PATH).display());
    let text = match (check, differing.is_empty()) {
        (_, true) => format!("{targets} are in sync with the schema model"),
        (true, false) => format!(
            "{targets} are out of sync with the schema model: {}; run `fltr-credits generate`",
            differing.join(", ")
        ),
        (false, false) => format!("wrote {}", differing.join(", ")),
    };
    let exit_code = if check && !differing.is_empty() { crate::exit::DRIFT } else { 0 };
    Ok(Outcome { json: json!({ "in_sync": differing.is_empty() || !check, "files": differing }), text, exit_code })
}

async fn execute(cli: &Cli) -> Result<Outcome, CreditError> {
    match &cli.command {
        Command::Sql { direction, to } => sql_text(*direction, to.as_deref()),
        Command::Generate { check, dir, npm_dir } => generate(*check, dir, npm_dir),
        Command::Migrate { dry_run } => {
            let client = client(cli).await?;
            let report = if !*dry_run && progress::wanted(cli.json) {
                migrate_watched(&client).await?
            } else {
                migrator::migrate(&database::Native(&client), *dry_run).await?
            };
            Ok(migrate_outcome(&report))
        }
        Command::Verify => {
            let client = client(cli).await?;
            let drift = migrator::verify_schema(&database::Native(&client)).await?;
            let text = migrator::drift_sentences(&drift);
            let exit_code = if drift.is_empty() { 0 } else { crate::exit::DRIFT };
            Ok(Outcome { json: json!({ "ok": drift.is_empty(), "drift": to_json(&drift) }), text, exit_code })
        }
        Command::Rollback { to } => {
            let client = client(cli).await?;
            let report = migrator::rollback(&database::Native(&client), to).await?;
            let text = if report.rolled_back.is_empty() {
                "nothing to roll back".to_string()
            } else {
                format!("rolled back {}", report.rolled_back.join(", "))
            };
            Ok(Outcome::ok(to_json(&report), text))
        }
        Command::SeedCredits { amount } => {
            let amount = Amount::parse(amount)?;
            let client = client(cli).await?;
            let shown = progress::wanted(cli.json);
            let note = if shown {
                let users = progress::estimated_rows(&client, &["users"]).await;
                progress::estimates(&[(users[0], "users")])
            } else {
                String::new()
            };
            let progress = progress::Progress::start(shown, "seed-credits", None, note);
            let rows = database::run(&client, &seed::plan(amount, now())).await.map_err(|f| f.into_credit_error());
            progress.finish();
            let rows = rows?;
            let result = seed::decode(&rows)?;
            let text = format!("granted {} credits to {} user(s)", result.amount, result.granted_users);
            Ok(Outcome::ok(to_json(&result), text))
        }
        Command::Keys { command } => key_commands::execute(cli, command).await,
        Command::Hold { .. }
        | Command::Capture { .. }
        | Command::Release { .. }
        | Command::ShowHold { .. }
        | Command::Sweep => hold_commands::execute(cli, &cli.command).await,
        credit => credit_commands::execute(cli, credit).await,
    }
}

/// `migrate` with a progress line: the pending migrations' statements counted (a dry run reads
/// them first), and whatever runs named as it runs (foreign-key validation, the verify after).
async fn migrate_watched(client: &tokio_postgres::Client) -> Result<migrator::MigrateReport, CreditError> {
    use crate::schema::ddl::{self, Phase};
    let progress = progress::Progress::start(true, "migrate", Some("statements"), "reading the journal".into());
    let pending = migrator::migrate(&database::Native(client), true).await?.applied;
    let planned: Vec<String> = migrations()
        .iter()
        .filter(|migration| pending.contains(&migration.tag))
        .flat_map(ddl::up)
        .filter(|statement| statement.phase == Phase::Transaction)
        .map(|statement| statement.sql)
        .collect();
    progress.set_total(planned.len() as u64);
    let watched = progress::watched(database::Native(client), |event| match event {
        progress::Event::Started(sql) => progress.set_note(progress::statement_summary(sql)),
        progress::Event::Finished(sql) if planned.iter().any(|statement| statement == sql) => progress.add(1),
        progress::Event::Finished(_) => {}
    });
    let report = migrator::migrate(&watched, false).await;
    progress.finish();
    report
}

fn migrate_outcome(report: &migrator::MigrateReport) -> Outcome {
    Outcome { json: to_json(report), text: report.sentences(), exit_code: report.exit_code() }
}

/// Runs the CLI and returns the process exit code.
pub async fn main_with(cli: Cli) -> i32 {
    let json_output = cli.json;
    match execute(&cli).await {
        Ok(outcome) => {
            if json_output {
                println!("{}", outcome.json);
            } else {
                println!("{}", outcome.text);
            }
            outcome.exit_code
        }
        Err(error) => {
            if json_output {
                println!("{}", crate::http::error_body::of(&error));
            } else {
                eprintln!("error[{}]: {}", error.code(), crate::core::api_key::redact(&error.to_string()));
            }
            // The operator running the CLI may read the database's own words (an HTTP body never
            // carries them); on stderr, so `--json` stdout stays one object.
            if let Some(detail) = error.detail().filter(|detail| !detail.is_empty() && *detail != error.to_string()) {
                eprintln!("  detail: {detail}");
            }
            crate::exit::code(&error)
        }
    }
}
