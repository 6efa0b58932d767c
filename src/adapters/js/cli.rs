//! `npx fltr-credits migrate | verify | seed-credits | rollback | sql`: the native CLI's
//! commands, flags, output and exit codes, run in Node over `pg`. Argument parsing, the
//! commands and their sentences live here; the bin script only connects and prints.

use crate::adapters::js::convert::{self, to_js};
use crate::adapters::js::credits::now;
use crate::adapters::js::executor::{failure, JsExecutor};
use crate::adapters::js::schema::sql_text;
use crate::core::error::CreditError;
use crate::core::validate::Amount;
use crate::migrator::{self, MigrateReport};
use crate::sql::executor::run;
use crate::sql::ops::seed;
use js_sys::{Function, Promise};
use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

const USAGE: &str = "fltr-credits <command> [--database-url URL] [--json]

Commands:
  migrate [--dry-run]          apply pending migrations (drizzle journal), then verify
  verify                       list every drift from the model; exit 0 only when there is none
  seed-credits --amount N      give N credits to every user with 0 credits never seeded
  rollback --to TAG            undo applied migrations newer than TAG (\"none\": all)
  sql up|down [--to TAG]       print the migration SQL

The database is --database-url, else DATABASE_URL, else AUTH_DATABASE_URL.";

#[derive(Debug, Default)]
struct Args {
    json: bool,
    database_url: Option<String>,
    dry_run: bool,
    amount: Option<String>,
    to: Option<String>,
    help: bool,
    version: bool,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, CreditError> {
    let mut parsed = Args::default();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String, CreditError> {
            if let Some(value) = inline.clone() {
                return Ok(value);
            }
            index += 1;
            args.get(index).cloned().ok_or_else(|| CreditError::invalid_request(format!("{flag} needs a value")))
        };
        match name {
            "--json" => parsed.json = true,
            "--dry-run" => parsed.dry_run = true,
            "-h" | "--help" => parsed.help = true,
            "-V" | "--version" => parsed.version = true,
            "--database-url" => parsed.database_url = Some(value("--database-url")?),
            "--amount" => parsed.amount = Some(value("--amount")?),
            "--to" => parsed.to = Some(value("--to")?),
            flag if flag.starts_with('-') => {
                return Err(CreditError::invalid_request(format!("unexpected argument {flag:?}\n\n{USAGE}")))
            }
            _ => parsed.positional.push(arg.clone()),
        }
        index += 1;
    }
    Ok(parsed)
}

/// `core::database_url::resolve`, and a URL (the JS connector takes no key=value strings).
fn resolve_url(
    flag: Option<&str>,
    database_url: Option<String>,
    auth_database_url: Option<String>,
) -> Result<String, CreditError> {
    let url = crate::core::database_url::resolve(flag, database_url.as_deref(), auth_database_url.as_deref())?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(CreditError::invalid_request(
            "database URL is not a valid Postgres URL (postgres://user@host:port/database)",
        ));
    }
    Ok(url)
}

struct Outcome {
    json: Value,
    text: String,
    exit_code: i32,
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn migrate_outcome(report: &MigrateReport) -> Outcome {
    Outcome { json: to_json(report), text: report.sentences(), exit_code: report.exit_code() }
}

async fn connect(connect: &Function, url: &str) -> Result<JsExecutor, CreditError> {
    let returned =
        connect.call1(&JsValue::UNDEFINED, &JsValue::from_str(url)).map_err(|e| failure(&e).into_credit_error())?;
    let client = JsFuture::from(Promise::resolve(&returned)).await.map_err(|e| failure(&e).into_credit_error())?;
    JsExecutor::from_object(&client)
        .ok_or_else(|| CreditError::internal("connect() must resolve to an object with a query method"))
}

async fn execute(args: &Args, env: &JsValue, connector: &Function) -> Result<Outcome, CreditError> {
    let command = args
        .positional
        .first()
        .map(String::as_str)
        .ok_or_else(|| CreditError::invalid_request(format!("a command is required\n\n{USAGE}")))?;
    let expect_positionals = |count: usize| -> Result<(), CreditError> {
        match args.positional.get(count) {
            Some(extra) => Err(CreditError::invalid_request(format!("unexpected argument {extra:?}"))),
            None => Ok(()),
        }
    };
    let env_var = |name: &str| convert::get(env, name).and_then(|v| v.as_string());
    let url = || resolve_url(args.database_url.as_deref(), env_var("DATABASE_URL"), env_var("AUTH_DATABASE_URL"));
    match command {
        "sql" => {
            expect_positionals(2)?;
            let direction = args
                .positional
                .get(1)
                .ok_or_else(|| CreditError::invalid_request("sql needs a direction: up or down"))?;
            let text = sql_text(direction, args.to.as_deref())?;
            Ok(Outcome { json: json!({ "sql": text }), text, exit_code: 0 })
        }
        "migrate" => {
            expect_positionals(1)?;
            let client = connect(connector, &url()?).await?;
            Ok(migrate_outcome(&migrator::migrate(&client, args.dry_run).await?))
        }
        "verify" => {
            expect_positionals(1)?;
            let client = connect(connector, &url()?).await?;
            let drift = migrator::verify_schema(&client).await?;
            let text = migrator::drift_sentences(&drift);
            let exit_code = if drift.is_empty() { 0 } else { crate::exit::DRIFT };
            Ok(Outcome { json: json!({ "ok": drift.is_empty(), "drift": to_json(&drift) }), text, exit_code })
        }
        "rollback" => {
            expect_positionals(1)?;
            let to = args
                .to
                .as_deref()
                .ok_or_else(|| CreditError::invalid_request("rollback needs --to TAG (or --to none)"))?;
            let client = connect(connector, &url()?).await?;
            let report = migrator::rollback(&client, to).await?;
            let text = if report.rolled_back.is_empty() {
                "nothing to roll back".to_string()
            } else {
                format!("rolled back {}", report.rolled_back.join(", "))
            };
            Ok(Outcome { json: to_json(&report), text, exit_code: 0 })
        }
        "seed-credits" => {
            expect_positionals(1)?;
            let amount = Amount::parse(
                args.amount.as_deref().ok_or_else(|| CreditError::invalid_request("seed-credits needs --amount N"))?,
            )?;
            let client = connect(connector, &url()?).await?;
            let result = run(&client, &seed::plan(amount, now()), seed::decode).await?;
            let text = format!("granted {} credits to {} user(s)", result.amount, result.granted_users);
            Ok(Outcome { json: to_json(&result), text, exit_code: 0 })
        }
        other => Err(CreditError::invalid_request(format!("unknown command {other:?}\n\n{USAGE}"))),
    }
}

#[derive(Serialize)]
struct CliResult {
    stdout: String,
    stderr: String,
    exit_code: i32,
}

/// Runs the CLI: `args` without the program name, `env` (`process.env`), and
/// `connect(url) → Promise<client with query()>` (one connection: migrate spans several calls).
/// Resolves to `{ stdout, stderr, exit_code }`; never rejects for a CLI error.
#[wasm_bindgen(js_name = runCli, unchecked_return_type = "Promise<{ stdout: string; stderr: string; exit_code: number }>")]
pub fn run_cli(
    args: Vec<String>,
    #[wasm_bindgen(unchecked_param_type = "Record<string, string | undefined>")] env: JsValue,
    #[wasm_bindgen(unchecked_param_type = "(url: string) => Promise<{ query: Function }>")] connector: Function,
) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let line = |text: String| if text.is_empty() { text } else { format!("{text}\n") };
        let json_output = args.iter().any(|a| a == "--json");
        let (stdout, stderr, exit_code) = match parse(&args) {
            Ok(parsed) if parsed.help => (line(USAGE.to_string()), String::new(), 0),
            Ok(parsed) if parsed.version => {
                (line(format!("fltr-credits {}", env!("CARGO_PKG_VERSION"))), String::new(), 0)
            }
            parsed => match async { execute(&parsed?, &env, &connector).await }.await {
                Ok(outcome) if json_output => (line(outcome.json.to_string()), String::new(), outcome.exit_code),
                Ok(outcome) => (line(outcome.text), String::new(), outcome.exit_code),
                Err(error) if json_output => {
                    (line(crate::http::error_body::of(&error).to_string()), String::new(), crate::exit::code(&error))
                }
                Err(error) => {
                    (String::new(), line(format!("error[{}]: {error}", error.code())), crate::exit::code(&error))
                }
            },
        };
        to_js(&CliResult { stdout, stderr, exit_code })
    })
}
