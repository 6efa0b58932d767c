//! Which database a CLI talks to: the seed's two variables, one rule for the native and npm CLIs.

use crate::core::error::CreditError;

/// The flag, else `DATABASE_URL`, else `AUTH_DATABASE_URL`. The credit tables reference Better
/// Auth's `users` by foreign key, so both variables must name the same database; when they
/// disagree we refuse rather than write to the wrong one.
pub fn resolve(
    flag: Option<&str>,
    database_url: Option<&str>,
    auth_database_url: Option<&str>,
) -> Result<String, CreditError> {
    let non_empty = |value: Option<&str>| value.map(str::trim).filter(|value| !value.is_empty()).map(String::from);
    if let Some(url) = non_empty(flag) {
        return Ok(url);
    }
    match (non_empty(database_url), non_empty(auth_database_url)) {
        (Some(main), Some(auth)) if main != auth => Err(CreditError::invalid_request(
            "DATABASE_URL and AUTH_DATABASE_URL name different databases; the credit tables reference Better Auth's users by foreign key, so they must be the same (or pass --database-url)",
        )),
        (Some(url), _) | (None, Some(url)) => Ok(url),
        (None, None) => Err(CreditError::invalid_request("no database configured: set DATABASE_URL or pass --database-url")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn differing_database_and_auth_urls_are_refused() {
        assert_eq!(
            resolve(None, Some("postgres://a/x"), Some("postgres://a/y")).unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(resolve(None, None, Some("postgres://a/y")).unwrap(), "postgres://a/y");
        assert_eq!(
            resolve(Some("postgres://f"), Some("postgres://a/x"), Some("postgres://a/y")).unwrap(),
            "postgres://f"
        );
        assert_eq!(resolve(None, Some("postgres://a/x"), Some(" postgres://a/x ")).unwrap(), "postgres://a/x");
        assert!(resolve(None, Some(" "), None).is_err());
    }
}
