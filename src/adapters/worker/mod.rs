//! The Cloudflare Worker: `#[event(fetch)]` and nothing else of substance. The route table and
//! every rule live in `crate::http`; this adapter converts `worker::Request`/`Response`, reads
//! configuration from the environment, and carries statements over a Hyperdrive binding.

mod convert;
pub(crate) mod environment;
mod hyperdrive;
mod timeout;

use crate::http::{self, HttpResponse};
use worker::{event, Context, Env, Request, Response, Result};

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
