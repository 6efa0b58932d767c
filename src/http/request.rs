//! What the router sees of a request: adapter-neutral, already read into memory.

use crate::core::api_key::Entropy;
use crate::core::error::CreditError;
use crate::core::percent::percent_decode;
use crate::core::time::Timestamp;

#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Upper case (`GET`, `POST`, `OPTIONS`).
    pub method: String,
    /// The URL path, not decoded (`/api/v1/api-keys/fltr%2Fx/allocate` keeps its escape).
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    /// Header names in lower case; a repeated header appears more than once.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Chosen by the adapter (the core has no randomness); echoed as `X-Request-Id` and in errors.
    pub request_id: String,
    /// The adapter's clock: the core never reads one.
    pub now: Timestamp,
    /// Bytes from the platform CSPRNG for a route that issues a secret (the core draws none);
    /// adapters supply them for POST requests.
    pub entropy: Option<Entropy>,
}

impl HttpRequest {
    /// A request with no headers, query or body; tests and adapters fill in the rest.
    pub fn new(method: &str, path: &str, request_id: &str, now: Timestamp) -> Self {
        HttpRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            request_id: request_id.to_string(),
            now,
            entropy: None,
        }
    }

    pub fn with_entropy(mut self, entropy: Entropy) -> Self {
        self.entropy = Some(entropy);
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.trim_start_matches('?').to_string();
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Refuses query parameters the route does not take (a misspelt `limt` is an error, not a
    /// silently ignored default).
    pub fn only_query_params(&self, allowed: &[&str]) -> Result<(), CreditError> {
        for pair in self.query.split('&').filter(|pair| !pair.is_empty()) {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            if !allowed.contains(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(CreditError::invalid_request(format!(
                    "unknown query parameter {shown:?}; this route takes {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// A query parameter, decoded (`+` is a space in a query string); a malformed escape is
    /// `invalid_request`, never a silent guess.
    pub fn query_param(&self, name: &str) -> Result<Option<String>, CreditError> {
        for pair in self.query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == name {
                let decoded = percent_decode(&value.replace('+', " ")).ok_or_else(|| {
                    CreditError::invalid_request(format!("query parameter {name} is not valid percent-encoded UTF-8"))
                })?;
                return Ok(Some(decoded));
            }
        }
        Ok(None)
    }
}
