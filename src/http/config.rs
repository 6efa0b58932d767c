//! The Worker's configuration, read by the adapter from vars and secrets and passed in whole.

/// Largest JSON body the API reads (documented in README.md "HTTP API" and openapi.json): a consume
/// request with the largest metadata (4 KiB) fits many times over.
pub const BODY_BYTES_MAX: u32 = 64 * 1024;
/// Stripe event payloads carry the whole checkout session; they stay well under this.
pub const WEBHOOK_BODY_BYTES_MAX: u32 = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Better Auth's secret: verifies signed session tokens and cookies.
    pub better_auth_secret: String,
    /// `whsec_…`: verifies `Stripe-Signature`. Empty: every webhook is refused.
    pub stripe_webhook_secret: String,
    /// Bearer token of the `/admin/*` routes. Empty: admin routes are closed.
    pub admin_token: String,
    /// Bearer token of the backend that runs jobs (API.md "Who may do what"): refunds, and any
    /// end-user operation on an account it names. `admin_token` is accepted too. Empty: only the
    /// admin token acts as the service.
    pub service_token: String,
    /// Origins allowed by CORS; `*` allows any (without credentials).
    pub cors_origins: Vec<String>,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `CORS_ORIGINS` as the seed writes it (`["https://app.example"]`); a comma-separated list is
/// accepted too. Blank entries are dropped; origins compare without a trailing slash.
pub fn parse_cors_origins(text: &str) -> Vec<String> {
    let text = text.trim();
    // Read as a `Value`, not as `Vec<String>`: a typed deserialiser would pull serde's float
    // error formatting into the Worker (BENCHMARKS.md §2, size).
    let items: Vec<String> = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(list)) => {
            list.into_iter().filter_map(|item| item.as_str().map(str::to_string)).collect()
        }
        _ => text.split(',').map(str::to_string).collect(),
    };
    items
        .into_iter()
        .map(|origin| origin.trim().trim_end_matches('/').to_string())
        .filter(|origin| !origin.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn cors_origins_read_the_seed_json_array_or_a_plain_list() {
        assert_eq!(
            parse_cors_origins(r#"["https://a.example/", "https://b.example"]"#),
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(
            parse_cors_origins("https://a.example, https://b.example"),
            vec!["https://a.example", "https://b.example"]
        );
        assert!(parse_cors_origins("").is_empty());
        assert!(parse_cors_origins("[]").is_empty());
    }
}
