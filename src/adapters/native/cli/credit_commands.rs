//! The credit operations on the command line: parse flags into the core's validated requests,
//! run them with the engine over tokio-postgres, and say what happened.

use super::progress::{self, Progress};
use super::{client, now, to_json, AccountArgs, Cli, Command, Outcome};
use crate::adapters::native::database::Native;
use crate::core::account::Account;
use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;
use crate::core::expiring::{deadline, Expiring};
use crate::core::validate::{self, Amount, Operation};
use crate::engine::Engine;
use crate::sql::ops::allocate::AllocateRequest;
use crate::sql::ops::consume::ConsumeRequest;
use crate::sql::ops::grant::{CreditResult, GrantRequest};
use crate::sql::ops::payer::Named;
use crate::sql::ops::purchase::PurchaseRequest;
use crate::sql::ops::refund::RefundScope;
use crate::sql::ops::transactions::{page_size, Cursor};
use crate::sql::ops::usage::{UsageQuery, UsageRow};
use crate::sql::outcome::ChargeResult;

pub(super) fn named(args: &AccountArgs) -> Result<Named, CreditError> {
    if let Some(key) = &args.api_key {
        if args.user.is_some() || args.team.is_some() {
            return Err(CreditError::invalid_request("name exactly one of --user, --team, --api-key"));
        }
        return key_ref(key).map(Named::Key);
    }
    let names = ["--user", "--team", "--api-key"];
    Account::exactly_one([args.user.as_deref(), args.team.as_deref(), None], names)?
        .map(Named::Account)
        .ok_or_else(|| CreditError::invalid_request("name exactly one account: --user, --team or --api-key"))
}

/// `--api-key`: a public id or a secret; `-` reads it from standard input, so it stays out of
/// `ps` and shell history.
pub(super) fn key_ref(text: &str) -> Result<KeyRef, CreditError> {
    let value = if text == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|error| {
            CreditError::invalid_request(format!("cannot read the API key from standard input: {error}"))
        })?;
        line.trim().to_string()
    } else {
        text.to_string()
    };
    if value.is_empty() || value.len() > validate::IDENTIFIER_LENGTH_MAX || value.chars().any(char::is_control) {
        return Err(CreditError::invalid_request("--api-key must be a key id (key_…) or a secret"));
    }
    Ok(KeyRef::given(&value))
}

pub(super) fn optional_key(key: &Option<String>) -> Result<Option<String>, CreditError> {
    key.as_deref().map(|k| validate::idempotency_key(k).map(String::from)).transpose()
}

pub(super) fn optional_resource_id(id: &Option<String>) -> Result<Option<String>, CreditError> {
    id.as_deref().map(|id| validate::identifier("resource_id", id).map(String::from)).transpose()
}

pub(super) fn optional_metadata(text: &Option<String>) -> Result<Option<String>, CreditError> {
    Ok(match text {
        Some(text) => validate::metadata_text(text)?,
        None => None,
    })
}

fn charge_sentence(verb: &str, result: &ChargeResult) -> String {
    let mut text = format!(
        "{verb} {} credits from {} {}: balance {}",
        result.amount,
        result.charged.kind.as_str(),
        result.charged.id,
        result.balance
    );
    if result.available != result.balance {
        text.push_str(&format!(" ({} available, the rest held)", result.available));
    }
    push_limits(&mut text, result.limits.as_ref());
    if result.replayed {
        text.push_str(" (replayed: nothing new was written)");
    }
    if let Some(id) = &result.transaction_id {
        text.push_str(&format!(" [transaction {id}]"));
    }
    text
}

/// "; daily R/L left until …" for each limited window.
pub(super) fn push_limits(text: &mut String, limits: Option<&crate::sql::outcome::Limits>) {
    if let Some(limits) = limits {
        for (name, window) in [("daily", &limits.daily), ("monthly", &limits.monthly)] {
            if let (Some(limit), Some(remaining)) = (window.limit, window.remaining) {
                text.push_str(&format!("; {name} {remaining}/{limit} left until {}", window.reset.to_rfc3339()));
            }
        }
    }
}

/// "granted N credits to KIND ID[, expiring at T]: balance B[ (replayed)]".
fn grant_sentence(result: &CreditResult) -> String {
    let expiring = result.expires_at.map(|at| format!(", expiring at {}", at.to_rfc3339())).unwrap_or_default();
    let replay = if result.replayed { " (replayed)" } else { "" };
    format!(
        "granted {} credits to {} {}{expiring}: balance {}{replay}",
        result.amount,
        result.account.kind.as_str(),
        result.account.id,
        result.balance
    )
}

/// ", N available (M held)" when holds are active.
fn held(credits: i64, available: i64) -> String {
    if credits == available {
        String::new()
    } else {
        format!(", {available} available ({} held)", credits - available)
    }
}

/// "; 50 expire at T1, 7 at T2" for an account's expiring credits, soonest first.
fn expiring(blocks: &[Expiring]) -> String {
    let parts: Vec<String> = blocks
        .iter()
        .enumerate()
        .map(|(index, block)| {
            let verb = if index == 0 { " expire" } else { "" };
            format!("{}{verb} at {}", block.amount, block.expires_at.to_rfc3339())
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

/// Validation happens before connecting, so bad input never waits on the database.
pub(super) async fn execute(cli: &Cli, command: &Command) -> Result<Outcome, CreditError> {
    match command {
        Command::Grant { account: args, amount, operation, metadata, idempotency_key, expires_at } => {
            let now = now();
            let named = named(args)?;
            let (amount, operation) = (Amount::parse(amount)?, operation.as_deref().map(Operation::new).transpose()?);
            let (metadata, idempotency_key) = (optional_metadata(metadata)?, optional_key(idempotency_key)?);
            let expires_at = expires_at.as_deref().map(|text| deadline(text, now)).transpose()?;
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let account = engine.account_of(named, now).await?;
            let request = GrantRequest { account, amount, operation, metadata, idempotency_key, expires_at };
            let result = engine.grant(&request, now).await?;
            Ok(Outcome::ok(to_json(&result), grant_sentence(&result)))
        }
        Command::Purchase { user, amount, payment_id } => {
            let request = PurchaseRequest {
                user_id: validate::identifier("user", user)?.to_string(),
                amount: Amount::parse(amount)?,
                payment_id: validate::identifier("payment_id", payment_id)?.to_string(),
                event_id: format!("cli:{payment_id}"),
                metadata: None,
            };
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).purchase(&request, now()).await?;
            let text = format!(
                "purchase {} recorded: {} credits to {} {}: balance {}{}",
                payment_id,
                result.amount,
                result.account.kind.as_str(),
                result.account.id,
                result.balance,
                if result.replayed { " (already recorded)" } else { "" }
            );
            Ok(Outcome::ok(to_json(&result), text))
        }
        Command::Balance { account: args } => {
            let named = named(args)?;
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let account = engine.account_of(named, now()).await?;
            let balance = engine.balance(&account, now()).await?;
            let mut lines = Vec::new();
            if let Some(user) = &balance.user {
                lines.push(format!(
                    "user {}: {} credits{} ({} purchased in total){}",
                    user.id,
                    user.credits,
                    held(user.credits, user.available),
                    user.total_credits_purchased,
                    expiring(&user.expiring)
                ));
            }
            if let Some(team) = &balance.team {
                lines.push(format!(
                    "team {} ({}): {} credits{}{}",
                    team.id,
                    team.name,
                    team.credits,
                    held(team.credits, team.available),
                    expiring(&team.expiring)
                ));
            }
            for key in balance.api_key.iter().chain(balance.api_keys.iter()) {
                lines.push(format!(
                    "api key {} ({}): {} credits{}{}",
                    key.id,
                    key.api_key,
                    key.credits,
                    held(key.credits, key.available),
                    expiring(&key.expiring)
                ));
            }
            Ok(Outcome::ok(to_json(&balance), lines.join("\n")))
        }
        Command::Consume { account: args, amount, operation, resource_id, metadata, idempotency_key } => {
            let request = ConsumeRequest {
                payer: named(args)?.into_payer(),
                amount: Amount::parse(amount)?,
                operation: Operation::new(operation)?,
                resource_id: optional_resource_id(resource_id)?,
                metadata: optional_metadata(metadata)?,
                idempotency_key: optional_key(idempotency_key)?,
            };
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).consume(&request, now()).await?;
            Ok(Outcome::ok(to_json(&result), charge_sentence("consumed", &result)))
        }
        Command::Check { account: args, amount } => {
            let payer = named(args)?.into_payer();
            let amount = Amount::parse(amount)?;
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).check(&payer, amount, now()).await?;
            Ok(Outcome::ok(to_json(&result), charge_sentence("would allow", &result)))
        }
        Command::Refund { transaction_id } => {
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).refund(transaction_id, &RefundScope::Any, now()).await?;
            let text = format!(
                "refunded {} credits [transaction {}]: balance {}{}",
                result.refunded,
                result.transaction_id,
                result.balance,
                if result.replayed { " (already refunded)" } else { "" }
            );
            Ok(Outcome::ok(to_json(&result), text))
        }
        Command::Allocate { api_key, amount, idempotency_key } => {
            let named = Named::Key(key_ref(api_key)?);
            let (amount, idempotency_key) = (Amount::parse(amount)?, optional_key(idempotency_key)?);
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let api_key = engine.account_of(named, now()).await?.id;
            let request = AllocateRequest { api_key, amount, idempotency_key, owner: None };
            let result = engine.allocate(&request, now()).await?;
            Ok(Outcome::ok(to_json(&result), charge_sentence("allocated", &result).replacen("from", "to", 1)))
        }
        Command::Transactions { account: args, limit, cursor } => {
            let named = named(args)?;
            let limit = page_size(*limit)?;
            let cursor = cursor.as_deref().map(Cursor::decode).transpose()?;
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let account = engine.account_of(named, now()).await?;
            let page = engine.transactions(&account, limit, cursor.as_ref()).await?;
            let mut lines: Vec<String> = page
                .transactions
                .iter()
                .map(|t| {
                    format!(
                        "{}  {:>8}  {:<10} {:<20} {}",
                        t.created_at,
                        t.amount,
                        t.kind,
                        t.operation.as_deref().unwrap_or("-"),
                        t.id
                    )
                })
                .collect();
            if let Some(next) = &page.next_cursor {
                lines.push(format!("more: --cursor {next}"));
            }
            if lines.is_empty() {
                lines.push("no transactions".into());
            }
            Ok(Outcome::ok(to_json(&page), lines.join("\n")))
        }
        Command::Usage { account: args, from, to, group_by } => {
            let named = named(args)?;
            let query = UsageQuery::parse(Some(from.as_str()), Some(to.as_str()), group_by.as_deref())?;
            let client = client(cli).await?;
            let engine = Engine::new(Native(&client));
            let account = engine.account_of(named, now()).await?;
            let report = engine.usage(&account, &query).await?;
            let mut lines: Vec<String> = report.usage.iter().map(usage_line).collect();
            let total: i64 = report.usage.iter().map(|row| row.amount).sum();
            lines
                .push(format!("{total} credits used from {} to {} (excluded), net of refunds", report.from, report.to));
            Ok(Outcome::ok(to_json(&report), lines.join("\n")))
        }
        Command::Reconcile { adopt } => {
            let client = client(cli).await?;
            // One statement: Postgres reports no progress for it, so the line says what it reads.
            let shown = progress::wanted(cli.json);
            let note = if shown {
                let tables = ["credit_transactions", "users", "teams", "api_key_credits"];
                let rows = progress::estimated_rows(&client, &tables).await;
                progress::estimates(&[(rows[0], "ledger rows"), (progress::sum(&rows[1..]), "accounts")])
            } else {
                String::new()
            };
            let progress = Progress::start(shown, "reconcile", None, note);
            let report = Engine::new(Native(&client)).reconcile(*adopt, now()).await;
            progress.finish();
            let report = report?;
            let mut lines = vec![format!(
                "{} accounts checked, {} differ from their ledger",
                report.accounts_checked,
                report.drift.len()
            )];
            lines.extend(report.drift.iter().map(|d| {
                format!(
                    "  {} {}: balance {} ledger {} (difference {})",
                    d.kind.as_str(),
                    d.id,
                    d.balance,
                    d.ledger,
                    d.difference
                )
            }));
            if *adopt {
                lines.push(format!("adopted {} opening balance(s)", report.adopted));
            }
            lines.extend(report.unfulfilled_purchases.iter().map(|p| {
                format!(
                    "  purchase {} paid but not credited ({}, {} attempt(s)); Stripe keeps retrying",
                    p.payment_id, p.reason, p.attempts
                )
            }));
            lines.extend(report.holds.iter().map(|h| {
                format!(
                    "  {} {}: held_credits {} but active holds {} ({} unexpired) against balance {}",
                    h.kind.as_str(),
                    h.id,
                    h.held_credits.map_or_else(|| "-".into(), |v| v.to_string()),
                    h.active_holds,
                    h.unexpired_holds,
                    h.balance.map_or_else(|| "- (account gone)".into(), |v| v.to_string()),
                )
            }));
            lines.extend(report.blocks.iter().map(|b| match &b.block {
                Some(block) => format!(
                    "  {} {}: expiring block {block} has {} on the row but {} by the ledger",
                    b.kind.as_str(),
                    b.id,
                    b.on_row,
                    b.expected
                ),
                None => format!(
                    "  {} {}: expiring credits exceed the free balance (never-expiring part {})",
                    b.kind.as_str(),
                    b.id,
                    b.on_row
                ),
            }));
            // An unfulfilled purchase is money owed to a customer, a held total that disagrees
            // with its holds or a block with its ledger a bug: none is clean, like drift.
            let exit_code = if report.is_clean() { 0 } else { crate::exit::DRIFT };
            Ok(Outcome { json: to_json(&report), text: lines.join("\n"), exit_code })
        }
        Command::PruneIdempotencyKeys { older_than_hours } => {
            // Refuse a bad retention before connecting.
            crate::sql::ops::prune::plan(*older_than_hours, now())?;
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).prune_idempotency_keys(*older_than_hours, now()).await?;
            let text = format!("forgot {} idempotency key(s) stored before {}", result.pruned, result.older_than);
            Ok(Outcome::ok(to_json(&result), text))
        }
        _ => Err(CreditError::internal("not a credit command")),
    }
}

/// `2026-11-03  document.process  key_…  42 credits (3 uses)`: the dimensions asked for, then the sums.
fn usage_line(row: &UsageRow) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(row.day.clone());
    if let Some(operation) = &row.operation {
        parts.push(operation.clone().unwrap_or_else(|| "-".into()));
    }
    if let Some(key) = &row.api_key_id {
        parts.push(key.clone().unwrap_or_else(|| "no key".into()));
    }
    parts.push(format!("{} credits ({} uses)", row.amount, row.count));
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::account::{AccountKind, AccountRef};
    use crate::core::time::Timestamp;

    const T: Timestamp = Timestamp(1_798_761_600_000_000); // 2027-01-01T00:00:00Z

    #[test]
    fn a_grant_sentence_names_its_deadline() {
        let mut result = CreditResult {
            ok: true,
            transaction_id: "ctx_1".into(),
            replayed: false,
            account: AccountRef::public(AccountKind::User, "u1"),
            amount: 50,
            balance: 150,
            expires_at: None,
        };
        assert_eq!(grant_sentence(&result), "granted 50 credits to user u1: balance 150");
        result.expires_at = Some(T);
        result.replayed = true;
        assert_eq!(
            grant_sentence(&result),
            "granted 50 credits to user u1, expiring at 2027-01-01T00:00:00Z: balance 150 (replayed)"
        );
    }

    #[test]
    fn expiring_credits_read_soonest_first() {
        assert_eq!(expiring(&[]), "");
        let later = Timestamp(T.0 + 86_400_000_000);
        let blocks = [Expiring { amount: 50, expires_at: T }, Expiring { amount: 7, expires_at: later }];
        assert_eq!(expiring(&blocks), "; 50 expire at 2027-01-01T00:00:00Z, 7 at 2027-01-02T00:00:00Z");
    }
}
