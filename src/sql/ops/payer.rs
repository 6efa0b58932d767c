//! Who pays for a consume or a check: the account a credential or the service names.

use crate::core::account::{Account, AccountKind};
use crate::core::api_key::KeyRef;
use crate::core::error::CreditError;

/// An account as an operator names it (CLI flags, npm options): a user or a team by id, or an
/// API key as given — its public id or its secret — not resolved yet (`Engine::account_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Account(Account),
    Key(KeyRef),
}

impl Named {
    /// The payer of a consume or check: a key given by its secret is charged by that secret.
    pub fn into_payer(self) -> Payer {
        match self {
            Named::Account(account) => Payer::from_account(&account),
            Named::Key(key) => Payer::ApiKey(key),
        }
    }
}

/// Who pays: a user (their team's pool or their own), found by id or by a live Better Auth
/// session token (resolved inside the same statement), or an API key by public id or by secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    User(String),
    Session(String),
    ApiKey(KeyRef),
    /// A team's pool itself: only the service credential names one.
    Team(String),
}

impl Payer {
    pub fn from_account(account: &Account) -> Self {
        match account.kind {
            AccountKind::User => Payer::User(account.id.clone()),
            AccountKind::ApiKey => Payer::ApiKey(KeyRef::Id(account.id.clone())),
            AccountKind::Team => Payer::Team(account.id.clone()),
        }
    }

    pub(crate) fn parts(&self) -> (&'static str, &str) {
        match self {
            Payer::User(id) => ("user", id),
            Payer::Session(token) => ("session", token),
            Payer::ApiKey(KeyRef::Id(id)) => ("api_key_id", id),
            Payer::ApiKey(KeyRef::Secret { hash, .. } | KeyRef::Rotated { hash }) => ("api_key_hash", hash),
            Payer::Team(id) => ("team", id),
        }
    }

    /// A missing account is `not_found` when named, `unauthenticated` when it was a credential.
    fn missing(&self) -> CreditError {
        match self {
            Payer::User(_) => CreditError::not_found("no such user"),
            Payer::Session(_) => CreditError::unauthenticated("session is unknown or expired"),
            Payer::ApiKey(KeyRef::Id(_)) => CreditError::not_found("no such API key, or it was revoked or has expired"),
            Payer::ApiKey(KeyRef::Secret { .. } | KeyRef::Rotated { .. }) => {
                CreditError::unauthenticated("unknown, revoked or expired API key")
            }
            Payer::Team(_) => CreditError::not_found("no such team"),
        }
    }

    /// A statement's `not_found` said as this payer means it (see `missing`).
    pub(crate) fn named_missing(&self, error: CreditError) -> CreditError {
        match error {
            CreditError::NotFound { .. } => self.missing(),
            other => other,
        }
    }
}
