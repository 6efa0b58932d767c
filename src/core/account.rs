//! Accounts that hold credits, and how an API key is shown.

use crate::core::error::CreditError;
use crate::core::validate::identifier;
use serde::Serialize;

/// The three pools of the seed's schema: `users.credits`, `teams.credits`, `api_key_credits.credits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    User,
    Team,
    ApiKey,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Team => "team",
            AccountKind::ApiKey => "api_key",
        }
    }

    pub fn from_word(text: &str) -> Option<Self> {
        match text {
            "user" => Some(AccountKind::User),
            "team" => Some(AccountKind::Team),
            "api_key" => Some(AccountKind::ApiKey),
            _ => None,
        }
    }
}

/// A validated reference to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub kind: AccountKind,
    pub id: String,
}

impl Account {
    pub fn new(kind: AccountKind, id: &str) -> Result<Self, CreditError> {
        let field = match kind {
            AccountKind::User => "user_id",
            AccountKind::Team => "team_id",
            AccountKind::ApiKey => "api_key_id",
        };
        if kind == AccountKind::ApiKey {
            return Ok(Account { kind, id: crate::core::api_key::key_id(field, id)? });
        }
        Ok(Account { kind, id: identifier(field, id)?.to_string() })
    }

    pub fn user(id: &str) -> Result<Self, CreditError> {
        Account::new(AccountKind::User, id)
    }
    pub fn team(id: &str) -> Result<Self, CreditError> {
        Account::new(AccountKind::Team, id)
    }
    pub fn api_key(id: &str) -> Result<Self, CreditError> {
        Account::new(AccountKind::ApiKey, id)
    }

    /// The one account named by exactly one of three optional fields (`user_id`, `team_id`,
    /// `api_key_id` in HTTP bodies and queries; `--user/--team/--api-key` in the CLI; `userId`,
    /// `teamId`, `apiKey` in the npm package). `names` are the field names for the message.
    /// `None` when none is given; two or more is `invalid_request`.
    pub fn exactly_one(given: [Option<&str>; 3], names: [&str; 3]) -> Result<Option<Account>, CreditError> {
        let kinds = [AccountKind::User, AccountKind::Team, AccountKind::ApiKey];
        let mut named = kinds.into_iter().zip(given).filter_map(|(kind, id)| id.map(|id| (kind, id)));
        match (named.next(), named.next()) {
            (None, _) => Ok(None),
            (Some((kind, id)), None) => Account::new(kind, id).map(Some),
            (Some(_), Some(_)) => {
                Err(CreditError::invalid_request(format!("name exactly one of {}", names.join(", "))))
            }
        }
    }

    /// The id as it may be shown: API keys masked, others as they are.
    pub fn public_id(&self) -> String {
        public_id(self.kind, &self.id)
    }
}

/// A value in a key's place that is not a public id (a row still in the seed's plaintext form, or
/// a ledger row written before its adoption) is a secret: first 4 and last 4 characters only,
/// fully masked when too short for that to hide anything.
pub fn mask_api_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "****".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// API keys are shown by public id (`key_…`, API.md "Accounts"); anything else in a key's place
/// is masked.
pub fn public_id(kind: AccountKind, id: &str) -> String {
    match kind {
        AccountKind::ApiKey => public_key_id(id),
        _ => id.to_string(),
    }
}

pub fn public_key_id(id: &str) -> String {
    if id.starts_with(crate::core::api_key::ID_PREFIX) && !crate::core::api_key::resembles_secret(id) {
        id.to_string()
    } else {
        mask_api_key(id)
    }
}

/// `{"kind": …, "id": …}` with the id made public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub id: String,
}

impl AccountRef {
    pub fn public(kind: AccountKind, id: &str) -> Self {
        AccountRef { kind, id: public_id(kind, id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn keys_show_their_public_id_and_a_secret_only_masked() {
        assert_eq!(mask_api_key("fltr_live_0123456789abcdef"), "fltr****cdef");
        assert_eq!(mask_api_key("short"), "****");
        assert_eq!(public_id(AccountKind::ApiKey, "fltr_live_0123456789abcdef"), "fltr****cdef");
        assert_eq!(Account::api_key("fltr_live_0123456789abcdef").unwrap_err().code(), "invalid_request");
        assert_eq!(Account::api_key("key_0123456789abcdef0123").unwrap().public_id(), "key_0123456789abcdef0123");
        assert_eq!(Account::user("u1").unwrap().public_id(), "u1");
    }

    #[test]
    fn exactly_one_account_is_named() {
        let names = ["user_id", "team_id", "api_key_id"];
        assert_eq!(Account::exactly_one([None, Some("t1"), None], names).unwrap(), Some(Account::team("t1").unwrap()));
        assert_eq!(Account::exactly_one([None, None, None], names).unwrap(), None);
        assert_eq!(Account::exactly_one([Some("u"), None, Some("k")], names).unwrap_err().code(), "invalid_request");
        assert_eq!(Account::exactly_one([Some(""), None, None], names).unwrap_err().code(), "invalid_request");
    }
}
