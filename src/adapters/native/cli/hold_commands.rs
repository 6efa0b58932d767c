//! Holds on the command line (API.md "CLI shape": `hold`, `capture`, `release`, `sweep`). The CLI
//! is an operator's tool and acts as the service: it may capture or release any hold.

use super::credit_commands::{named, optional_key, optional_metadata, optional_resource_id, push_limits};
use super::progress::{self, Event, Progress};
use super::{client, now, to_json, Cli, Command, Outcome};
use crate::adapters::native::database::Native;
use crate::core::error::CreditError;
use crate::core::hold::{hold_id, parse_capture_amount, ttl_seconds};
use crate::core::time::Timestamp;
use crate::core::validate::{Amount, Operation};
use crate::engine::Engine;
use crate::sql::ops::holds;
use crate::sql::ops::holds::close::{Actor, Close, CloseRequest, CloseResult};
use crate::sql::ops::holds::open::HoldRequest;

/// How many accounts a sweep will settle: its listing, uncapped (one more scan, made only when
/// progress is shown); `None` when the question fails.
async fn accounts_due(client: &tokio_postgres::Client, now: Timestamp) -> Option<u64> {
    use tokio_postgres::types::Type;
    let sql = format!("SELECT count(*)::text FROM ({}) due", holds::sweep::SQL);
    let (now, all) = (now.to_sql_literal(), i32::MAX.to_string());
    let rows = client.query_typed(&sql, &[(&now, Type::TEXT), (&all, Type::TEXT)]).await.ok()?;
    rows.first()?.get::<_, Option<String>>(0)?.parse().ok()
}

/// Sweep batches per run: the CLI clears any backlog (each batch is bounded, see `holds::sweep`).
const SWEEP_BATCHES: usize = 10_000;

fn close_sentence(result: &CloseResult) -> String {
    let mut text = format!(
        "hold {}: captured {}, released {} on {} {}: balance {}, {} available",
        result.hold_id,
        result.amount,
        result.released,
        result.charged.kind.as_str(),
        result.charged.id,
        result.balance,
        result.available
    );
    push_limits(&mut text, result.limits.as_ref());
    if result.replayed {
        text.push_str(" (replayed: nothing new was written)");
    }
    if let Some(id) = &result.transaction_id {
        text.push_str(&format!(" [transaction {id}]"));
    }
    text
}

pub(super) async fn execute(cli: &Cli, command: &Command) -> Result<Outcome, CreditError> {
    match command {
        Command::Hold { account, amount, operation, resource_id, metadata, ttl_seconds: ttl, idempotency_key } => {
            let request = HoldRequest {
                payer: named(account)?.into_payer(),
                amount: Amount::parse(amount)?,
                operation: Operation::new(operation)?,
                resource_id: optional_resource_id(resource_id)?,
                metadata: optional_metadata(metadata)?,
                ttl_seconds: ttl_seconds(*ttl)?,
                idempotency_key: optional_key(idempotency_key)?,
            };
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).hold(&request, now()).await?;
            let mut text = format!(
                "held {} credits on {} {} until {} [hold {}]: balance {}, {} available",
                result.amount,
                result.charged.kind.as_str(),
                result.charged.id,
                result.expires_at.to_rfc3339(),
                result.hold_id,
                result.balance,
                result.available
            );
            push_limits(&mut text, result.limits.as_ref());
            if result.replayed {
                text.push_str(" (replayed: nothing new was written)");
            }
            Ok(Outcome::ok(to_json(&result), text))
        }
        Command::Capture { hold, amount, idempotency_key } => {
            let amount = amount.as_deref().map(parse_capture_amount).transpose()?;
            let request = CloseRequest {
                hold_id: hold_id(hold)?.to_string(),
                close: Close::Capture(amount),
                actor: Actor::Service,
                idempotency_key: optional_key(idempotency_key)?,
            };
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).close_hold(&request, now()).await?;
            Ok(Outcome::ok(to_json(&result), close_sentence(&result)))
        }
        Command::Release { hold, idempotency_key } => {
            let request = CloseRequest {
                hold_id: hold_id(hold)?.to_string(),
                close: Close::Release,
                actor: Actor::Service,
                idempotency_key: optional_key(idempotency_key)?,
            };
            let client = client(cli).await?;
            let result = Engine::new(Native(&client)).close_hold(&request, now()).await?;
            Ok(Outcome::ok(to_json(&result), close_sentence(&result)))
        }
        Command::ShowHold { hold } => {
            let hold = hold_id(hold)?;
            let client = client(cli).await?;
            let found = Engine::new(Native(&client)).get_hold(hold, &Actor::Service, now()).await?;
            let text = format!(
                "hold {}: {} of {} on {} {} ({}), expires {}{}",
                found.hold_id,
                found.state.as_str(),
                found.amount,
                found.charged.kind.as_str(),
                found.charged.id,
                found.operation,
                found.expires_at.to_rfc3339(),
                found.captured.map(|c| format!(", captured {c}")).unwrap_or_default()
            );
            Ok(Outcome::ok(to_json(&found), text))
        }
        Command::Sweep => {
            let client = client(cli).await?;
            let now = now();
            let shown = progress::wanted(cli.json);
            let progress = Progress::start(shown, "sweep", Some("accounts"), "counting accounts due".into());
            if shown {
                if let Some(due) = accounts_due(&client, now).await {
                    progress.set_total(due);
                }
            }
            let watched = progress::watched(Native(&client), |event| match event {
                Event::Started(sql) if sql == holds::sweep::SQL => progress.set_note("finding accounts due"),
                Event::Finished(sql) if sql == holds::sweep::SQL => progress.set_note(""),
                Event::Finished(sql) if sql == holds::settle::SQL => progress.add(1),
                _ => {}
            });
            let report = Engine::new(watched).sweep(SWEEP_BATCHES, now).await;
            progress.finish();
            let report = report?;
            let text = format!(
                "closed {} expired hold(s) and expired {} block(s) of credits on {} account(s)",
                report.expired_holds, report.expired_blocks, report.accounts
            );
            Ok(Outcome::ok(to_json(&report), text))
        }
        _ => Err(CreditError::internal("not a hold command")),
    }
}
