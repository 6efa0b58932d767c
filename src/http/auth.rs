//! Who is calling: Better Auth sessions (bearer token, signed bearer, cookie) and API keys
//! (`Authorization: Bearer`, `x-api-key`), and the admin bearer token.

use crate::core::error::CreditError;
use crate::core::session::{constant_time_eq, credential, Credential};
use crate::engine::Engine;
use crate::http::config::Config;
use crate::http::request::HttpRequest;
use crate::core::digest::sha256_hex;
use crate::sql::executor::Executor;
use crate::sql::ops::consume::Payer;
use crate::sql::ops::principal::Principal;

/// The request's credential, or 401 when it has none.
pub fn required_credential(request: &HttpRequest, config: &Config) -> Result<Credential, CreditError> {
    credential(request.header("authorization"), request.header("x-api-key"), request.header("cookie"), &config.better_auth_secret)?
        .ok_or_else(|| CreditError::unauthenticated("sign in: send a session (Authorization: Bearer, or the Better Auth cookie) or an API key"))
}

/// Resolves the credential to a user or an API key (one read).
pub async fn principal<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<Principal, CreditError> {
    let credential = required_credential(request, config)?;
    engine.authenticate(&credential, request.now).await
}

/// Who may pay for a consume or check, in the order to try. A verified session token or an
/// `x-api-key` goes straight into the charge statement (one round trip: the statement resolves
/// the session itself). An unsigned bearer value could be either: it is tried as a session token
/// first (the bearer plugin's common case, still one round trip), then as an API key. A payer that
/// does not exist makes its statement write nothing, so trying the next one is safe.
pub fn payers(request: &HttpRequest, config: &Config) -> Result<Vec<Payer>, CreditError> {
    Ok(match required_credential(request, config)? {
        Credential::Session(token) => vec![Payer::Session(token)],
        Credential::ApiKey(key) => vec![Payer::ApiKey(key)],
        Credential::Bearer(value) => vec![Payer::Session(value.clone()), Payer::ApiKey(value)],
    })
}

/// Runs `charge` for each candidate payer until one is a known account; the last error otherwise.
pub async fn charge_first_known<T, F, Fut>(payers: Vec<Payer>, mut charge: F) -> Result<T, CreditError>
where
    F: FnMut(Payer) -> Fut,
    Fut: std::future::Future<Output = Result<T, CreditError>>,
{
    let mut last = CreditError::unauthenticated("sign in: send a session or an API key");
    for payer in payers {
        let attempt = charge(payer.clone()).await.map_err(|error| unknown_key_is_unauthenticated(error, &payer));
        match attempt {
            Err(error @ CreditError::Unauthenticated { .. }) => last = error,
            other => return other,
        }
    }
    Err(last)
}

/// A key the caller presented but that does not exist is a failed sign-in, not a missing account.
pub fn unknown_key_is_unauthenticated(error: CreditError, payer: &Payer) -> CreditError {
    match (error, payer) {
        (CreditError::NotFound { .. }, Payer::ApiKey(_)) => CreditError::unauthenticated("unknown API key"),
        (other, _) => other,
    }
}

/// Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. Compared as SHA-256 digests in constant
/// time, so neither the content nor the length of the token leaks through timing. Without the
/// token: 403 for a valid session or API key (known but not allowed), 401 otherwise.
pub async fn require_admin<E: Executor>(engine: &Engine<E>, request: &HttpRequest, config: &Config) -> Result<(), CreditError> {
    let presented = request
        .header("authorization")
        .and_then(|header| header.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if let Some(token) = presented {
        let matches = constant_time_eq(sha256_hex(token.as_bytes()).as_bytes(), sha256_hex(config.admin_token.as_bytes()).as_bytes());
        if matches && !config.admin_token.is_empty() {
            return Ok(());
        }
    }
    let credential = required_credential(request, config).map_err(|_| admin_unauthenticated())?;
    match engine.authenticate(&credential, request.now).await {
        Ok(_) => Err(CreditError::forbidden("admin routes need the ADMIN_TOKEN bearer; a session or API key is not enough")),
        Err(CreditError::Unauthenticated { .. }) => Err(admin_unauthenticated()),
        Err(other) => Err(other),
    }
}

fn admin_unauthenticated() -> CreditError {
    CreditError::unauthenticated("admin routes need Authorization: Bearer <ADMIN_TOKEN>")
}
