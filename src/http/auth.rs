//! Who is calling (API.md "Who may do what"): an end user (Better Auth session as bearer token,
//! signed bearer or cookie; an API key as bearer or `x-api-key`), the service (`SERVICE_TOKEN`,
//! or `ADMIN_TOKEN`, as bearer) or the admin (`ADMIN_TOKEN`).

use crate::core::account::Account;
use crate::core::api_key::KeyRef;
use crate::core::digest::{constant_time_eq, sha256_hex};
use crate::core::error::CreditError;
use crate::core::session::{credential, Credential};
use crate::engine::Engine;
use crate::http::config::Config;
use crate::http::request::HttpRequest;
use crate::sql::executor::Executor;
use crate::sql::ops::consume::Payer;
use crate::sql::ops::principal::Principal;

/// The caller of a route that end users and the service share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The backend that runs jobs: may act for any account it names.
    Service,
    /// A session or API key, not resolved yet (charge statements resolve it themselves).
    EndUser(Credential),
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    request
        .header("authorization")
        .and_then(|header| header.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Compared as SHA-256 digests in constant time, so neither the content nor the length of the
/// token leaks through timing. An empty configured token never matches.
fn token_is(presented: Option<&str>, expected: &str) -> bool {
    let Some(presented) = presented else { return false };
    let matches =
        constant_time_eq(sha256_hex(presented.as_bytes()).as_bytes(), sha256_hex(expected.as_bytes()).as_bytes());
    matches && !expected.is_empty()
}

fn is_admin(request: &HttpRequest, config: &Config) -> bool {
    token_is(bearer(request), &config.admin_token)
}

fn is_service(request: &HttpRequest, config: &Config) -> bool {
    let presented = bearer(request);
    token_is(presented, &config.service_token) | token_is(presented, &config.admin_token)
}

/// The request's end-user credential, or 401 when it has none.
pub fn required_credential(request: &HttpRequest, config: &Config) -> Result<Credential, CreditError> {
    credential(
        request.header("authorization"),
        request.header("x-api-key"),
        request.header("cookie"),
        &config.better_auth_secret,
    )?
    .ok_or_else(|| {
        CreditError::unauthenticated(
            "sign in: send a session (Authorization: Bearer, or the Better Auth cookie) or an API key",
        )
    })
}

/// The service, or an end user's credential (401 when there is neither).
pub fn caller(request: &HttpRequest, config: &Config) -> Result<Caller, CreditError> {
    if is_service(request, config) {
        return Ok(Caller::Service);
    }
    required_credential(request, config).map(Caller::EndUser)
}

/// Resolves an end-user credential to a user or an API key (one read).
pub async fn principal_of<E: Executor>(
    engine: &Engine<E>,
    credential: &Credential,
    request: &HttpRequest,
) -> Result<Principal, CreditError> {
    engine.authenticate(credential, request.now).await
}

/// Who may pay for a consume or check, in the order to try. A verified session token or an
/// `x-api-key` goes straight into the charge statement (one round trip: the statement resolves
/// the session itself). An unsigned bearer value could be either: it is tried as a session token
/// first (the bearer plugin's common case, still one round trip), then as an API key. A payer that
/// does not exist makes its statement write nothing, so trying the next one is safe.
pub fn payers_of(credential: Credential) -> Vec<Payer> {
    match credential {
        Credential::Session(token) => vec![Payer::Session(token)],
        Credential::ApiKey(key) => vec![Payer::ApiKey(KeyRef::secret(&key))],
        // One of our secrets (format and checksum) cannot be a session token: not tried as one, so
        // it never reaches SQL text.
        Credential::Bearer(value) if crate::core::api_key::is_secret(&value) => {
            vec![Payer::ApiKey(KeyRef::secret(&value))]
        }
        Credential::Bearer(value) => vec![Payer::Session(value.clone()), Payer::ApiKey(KeyRef::secret(&value))],
    }
}

/// Runs `charge` for each candidate payer until one is a known account; the last error otherwise.
/// A presented key that does not exist is a failed sign-in (401), not a missing account (404).
pub async fn charge_first_known<T, F, Fut>(payers: Vec<Payer>, mut charge: F) -> Result<T, CreditError>
where
    F: FnMut(Payer) -> Fut,
    Fut: std::future::Future<Output = Result<T, CreditError>>,
{
    let mut last = CreditError::unauthenticated("sign in: send a session or an API key");
    for payer in payers {
        match charge(payer).await {
            Err(CreditError::NotFound { .. }) => {
                last = CreditError::unauthenticated("unknown or expired session, or unknown API key")
            }
            Err(error @ CreditError::Unauthenticated { .. }) => last = error,
            other => return other,
        }
    }
    Err(last)
}

/// Whose account a shared route acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    /// The account the service named.
    Named(Account),
    /// The end user's own, from the credential (resolved by the statement or a read).
    Own(Credential),
}

/// The one rule of API.md "Who may do what" for routes end users and the service share: the
/// service must name exactly one account; an end user must not name one (403 once the credential
/// is known to be valid, so a stranger learns 401, never 403).
pub async fn acting<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    named: Option<Account>,
) -> Result<Acting, CreditError> {
    match (caller(request, config)?, named) {
        (Caller::Service, Some(account)) => Ok(Acting::Named(account)),
        (Caller::Service, None) => Err(CreditError::invalid_request(
            "the service credential acts for an account: name exactly one of user_id, team_id or api_key_id",
        )),
        (Caller::EndUser(credential), Some(_)) => Err(forbidden_unless_stranger(
            engine,
            &credential,
            request,
            "only the service credential may name an account (user_id, team_id, api_key_id); a session or API key acts on its own account",
        )
        .await),
        (Caller::EndUser(credential), None) => Ok(Acting::Own(credential)),
    }
}

/// 403 for a valid end-user credential (known but not allowed), its own 401 otherwise.
async fn forbidden_unless_stranger<E: Executor>(
    engine: &Engine<E>,
    credential: &Credential,
    request: &HttpRequest,
    why: &str,
) -> CreditError {
    match principal_of(engine, credential, request).await {
        Ok(_) => CreditError::forbidden(why),
        Err(error) => error,
    }
}

/// Service routes (`refund`, …): the service or admin token. A valid session or API key is 403
/// (known but not allowed: the end user never decides that a job failed), anything else 401.
pub async fn require_service<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<(), CreditError> {
    if is_service(request, config) {
        return Ok(());
    }
    refuse_end_user(engine, request, config, "this route needs the service credential (Authorization: Bearer <SERVICE_TOKEN>); a session or API key may not use it").await
}

/// Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. The service token or a valid session or
/// API key is 403 (known but not allowed), anything else 401.
pub async fn require_admin<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
) -> Result<(), CreditError> {
    if is_admin(request, config) {
        return Ok(());
    }
    if is_service(request, config) {
        return Err(CreditError::forbidden(
            "admin routes need the ADMIN_TOKEN bearer; the service token is not enough",
        ));
    }
    refuse_end_user(
        engine,
        request,
        config,
        "admin routes need the ADMIN_TOKEN bearer; a session or API key is not enough",
    )
    .await
    .map_err(|error| match error {
        CreditError::Unauthenticated { .. } => {
            CreditError::unauthenticated("admin routes need Authorization: Bearer <ADMIN_TOKEN>")
        }
        other => other,
    })
}

async fn refuse_end_user<E: Executor>(
    engine: &Engine<E>,
    request: &HttpRequest,
    config: &Config,
    why: &str,
) -> Result<(), CreditError> {
    let credential = required_credential(request, config)?;
    Err(forbidden_unless_stranger(engine, &credential, request, why).await)
}

/// The account a service call names: exactly one of `user_id`, `team_id`, `api_key_id`.
pub const ACCOUNT_FIELDS: [&str; 3] = ["user_id", "team_id", "api_key_id"];

pub fn named_account(given: [Option<&str>; 3]) -> Result<Option<Account>, CreditError> {
    Account::exactly_one(given, ACCOUNT_FIELDS)
}
