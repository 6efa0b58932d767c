//! The Cloudflare Worker: `#[event(fetch)]` and `#[event(scheduled)]`, nothing else of substance.
//! The route table and every rule live in `crate::http`; this adapter converts
//! `worker::Request`/`Response`, reads configuration from the environment, and carries statements
//! over a Hyperdrive binding.

mod convert;
pub(crate) mod environment;
mod hyperdrive;
mod timeout;

use crate::engine::Engine;
use crate::http::{self, HttpResponse};
use worker::{
    console_error, console_log, event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

/// The `[[hyperdrive]]` binding name in wrangler.toml.
pub const HYPERDRIVE_BINDING: &str = "HYPERDRIVE";

#[event(fetch)]
pub async fn fetch(request: Request, env: Env, _context: Context) -> Result<Response> {
    let now = environment::now();
    let request_id = environment::request_id(&request, now);
    let config = environment::config(&env);
    let request = match convert::request(request, &request_id, now).await {
        Ok(request) => request,
        Err(error) => return convert::response(HttpResponse::error(&error, &request_id), &request_id),
    };
    let database = hyperdrive::Database::new(&env, HYPERDRIVE_BINDING, environment::timeouts(&env));
    let response = http::handle(&database, &config, &request).await;
    // REFERENCE §1: close the connection and wait for its task before answering, so the
    // Hyperdrive relay never sees a connection reset after the response.
    database.close().await;
    convert::response(response, &request_id)
}

/// The cron trigger (wrangler.toml `[triggers]`): the sweep of `POST /admin/sweep`, at most
/// `SWEEP_BATCHES` batches a run, then one log line with its report. Nothing waits on it: an
/// expired hold stops counting against `available` at its deadline by itself, so the sweep only
/// tidies (holds marked `expired`, `held_credits` given back); what a run leaves or fails to do,
/// the next one takes. Everything is awaited here, the connection's task too: workerd ends the
/// invocation when this future does, and work left to `spawn_local` would be lost.
#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _context: ScheduleContext) {
    let now = environment::now();
    let database = hyperdrive::Database::new(&env, HYPERDRIVE_BINDING, environment::timeouts(&env));
    let swept = Engine::new(&database).sweep(http::holds::SWEEP_BATCHES, now).await;
    database.close().await;
    let cron = event.cron();
    match swept {
        Ok(report) => {
            console_log!(
                "cron {cron}: sweep expired {} holds and {} blocks on {} accounts",
                report.expired_holds,
                report.expired_blocks,
                report.accounts
            )
        }
        Err(error) => {
            let cause = error.detail().map(str::to_string).unwrap_or_else(|| error.to_string());
            console_error!("cron {cron}: sweep failed, the next run retries: {}: {cause}", error.code())
        }
    }
}
