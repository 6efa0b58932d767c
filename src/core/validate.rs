//! Input validation: every value that reaches a statement passed through one of these types.
//!
//! Bounds are explicit: amounts fit the seed's `integer` columns, identifiers and names have
//! length caps, metadata is a JSON object with a byte cap, so a request can never make the
//! database do unbounded work or overflow a column.

use crate::core::error::CreditError;
use serde_json::Value;

/// Largest amount one request may move: the seed's balances are Postgres `integer`.
pub const AMOUNT_MAX: i64 = i32::MAX as i64;
pub const OPERATION_LENGTH_MAX: usize = 64;
pub const IDENTIFIER_LENGTH_MAX: usize = 255;
pub const METADATA_BYTES_MAX: usize = 4096;
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;

/// A positive number of credits within the `integer` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    pub fn new(value: i64) -> Result<Self, CreditError> {
        if value <= 0 {
            return Err(CreditError::invalid_amount(format!("amount must be a positive integer, got {value}")));
        }
        if value > AMOUNT_MAX {
            return Err(CreditError::invalid_amount(format!("amount must be at most {AMOUNT_MAX}, got {value}")));
        }
        Ok(Amount(value))
    }

    /// Accepts a JSON number whose value is a whole number (`5`, and `5.0` or `5e0`, which JSON
    /// Schema's `integer` and every JSON library treat as the same value), never `5.5` or `"5"`.
    /// Within the range, an f64 holds every such amount exactly, so nothing is rounded.
    pub fn from_json(value: &Value) -> Result<Self, CreditError> {
        match value {
            Value::Number(number) => match (number.as_i64(), number.as_f64()) {
                (Some(integer), _) => Amount::new(integer),
                (None, _) if number.as_u64().is_some() => {
                    Err(CreditError::invalid_amount(format!("amount must be at most {AMOUNT_MAX}")))
                }
                (None, Some(float)) if float.fract() == 0.0 && float.abs() <= AMOUNT_MAX as f64 => {
                    Amount::new(float as i64)
                }
                (None, Some(float)) if float.fract() == 0.0 => {
                    Err(CreditError::invalid_amount(format!("amount must be between 1 and {AMOUNT_MAX}")))
                }
                _ => Err(CreditError::invalid_amount(format!("amount must be an integer, got {number}"))),
            },
            Value::Null => Err(CreditError::invalid_request("amount is required")),
            other => Err(CreditError::invalid_amount(format!("amount must be an integer, got {other}"))),
        }
    }

    /// Parses a CLI argument.
    pub fn parse(text: &str) -> Result<Self, CreditError> {
        let value = text
            .trim()
            .parse::<i64>()
            .map_err(|_| CreditError::invalid_amount(format!("amount must be a positive integer, got {text:?}")))?;
        Amount::new(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// What the credits paid for, e.g. `document.process`: lowercase ASCII letters, digits and `._:-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation(String);

impl Operation {
    pub fn new(name: &str) -> Result<Self, CreditError> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-');
        if name.is_empty() || name.len() > OPERATION_LENGTH_MAX || !name.chars().all(valid_char) {
            return Err(CreditError::invalid_request(format!(
                "operation must be 1-{OPERATION_LENGTH_MAX} characters of a-z, 0-9 and . _ : -, got {name:?}"
            )));
        }
        Ok(Operation(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks an identifier chosen elsewhere (user, team, API key, resource, transaction ids):
/// non-empty, bounded, no control characters and no surrounding whitespace.
pub fn identifier<'a>(field: &str, value: &'a str) -> Result<&'a str, CreditError> {
    if value.is_empty() {
        return Err(CreditError::invalid_request(format!("{field} must not be empty")));
    }
    // Characters, as JSON Schema's maxLength counts them (openapi.json states the same bound).
    if value.chars().count() > IDENTIFIER_LENGTH_MAX {
        return Err(CreditError::invalid_request(format!(
            "{field} must be at most {IDENTIFIER_LENGTH_MAX} characters"
        )));
    }
    if value.chars().any(char::is_control) || value.trim() != value {
        return Err(CreditError::invalid_request(format!(
            "{field} must not contain control characters or surrounding spaces"
        )));
    }
    Ok(value)
}

/// A caller-chosen idempotency key: printable ASCII, bounded.
pub fn idempotency_key(value: &str) -> Result<&str, CreditError> {
    if value.is_empty()
        || value.len() > IDEMPOTENCY_KEY_LENGTH_MAX
        || !value.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(CreditError::invalid_request(format!(
            "idempotency key must be 1-{IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters without spaces"
        )));
    }
    // It is stored as sent: an API key's secret pasted here would be a secret at rest.
    if crate::core::api_key::resembles_secret(value) {
        return Err(CreditError::invalid_request(
            "an idempotency key must not be an API key's secret (it is stored as sent)",
        ));
    }
    Ok(value)
}

/// Metadata stored in `credit_transactions.metadata` (a `text` column holding JSON): an object, capped.
pub fn metadata(value: &Value) -> Result<Option<String>, CreditError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(_) => {
            let text = value.to_string();
            if text.len() > METADATA_BYTES_MAX {
                return Err(CreditError::invalid_request(format!(
                    "metadata must be at most {METADATA_BYTES_MAX} bytes of JSON"
                )));
            }
            Ok(Some(text))
        }
        _ => Err(CreditError::invalid_request("metadata must be a JSON object")),
    }
}

/// Parses CLI `--metadata` text.
pub fn metadata_text(text: &str) -> Result<Option<String>, CreditError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| CreditError::invalid_request(format!("metadata is not JSON: {error}")))?;
    metadata(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn amounts_outside_the_integer_column_are_invalid_amount() {
        for bad in [json!(0), json!(-1), json!(2_147_483_648i64), json!(5.5), json!("5"), json!(u64::MAX), json!(true)]
        {
            assert_eq!(Amount::from_json(&bad).unwrap_err().code(), "invalid_amount", "{bad}");
        }
        assert_eq!(Amount::from_json(&json!(null)).unwrap_err().code(), "invalid_request");
        assert_eq!(Amount::from_json(&json!(2_147_483_647)).unwrap().get(), 2_147_483_647);
        assert_eq!(Amount::parse(" 7 ").unwrap().get(), 7);
        assert_eq!(Amount::parse("7x").unwrap_err().code(), "invalid_amount");
    }

    #[test]
    fn operation_names_are_lowercase_dotted_words() {
        assert!(Operation::new("document.process").is_ok());
        for bad in ["", "Document", "a b", "x".repeat(65).as_str(), "drop;table"] {
            assert_eq!(Operation::new(bad).unwrap_err().code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn identifiers_and_keys_reject_control_characters_and_overlength() {
        assert!(identifier("user_id", "user_1").is_ok());
        assert!(identifier("user_id", "a\u{0}b").is_err());
        assert!(identifier("user_id", " user").is_err());
        assert!(identifier("user_id", &"x".repeat(256)).is_err());
        assert!(idempotency_key("retry-1").is_ok());
        assert!(idempotency_key("has space").is_err());
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert_eq!(metadata(&json!({"pages": 3})).unwrap().as_deref(), Some(r#"{"pages":3}"#));
        assert_eq!(metadata(&json!(null)).unwrap(), None);
        assert!(metadata(&json!([1])).is_err());
        assert!(metadata(&json!({"x": "y".repeat(5000)})).is_err());
    }
}
