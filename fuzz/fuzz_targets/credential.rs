//! `core::session::credential(authorization, x_api_key, cookie, secret)` with arbitrary header
//! values, plus `session_cookie` and `verify_signed`.
//!
//! Input: one flag byte, then UTF-8 `authorization \0 x-api-key \0 cookie \0 secret`. Flag bits
//! 1/2/4 say whether each header is present (else `None`); bit 8 uses the fuzzed secret instead
//! of a fixed one. Properties: every error is `unauthenticated`; a credential is never empty; a
//! token signed with the secret (`session::sign`) verifies back to itself as a bearer value and as
//! a cookie.
#![no_main]

use fltr_credits::core::session::{credential, session_cookie, sign, verify_signed, Credential};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut parts = text.splitn(4, '\0');
    let (authorization, api_key, cookie, fuzzed_secret) = (parts.next(), parts.next(), parts.next(), parts.next());
    let secret = if flags & 8 != 0 { fuzzed_secret.unwrap_or("") } else { SECRET };

    let present = |bit: u8| flags & bit != 0;
    let (a, k, c) = (authorization.filter(|_| present(1)), api_key.filter(|_| present(2)), cookie.filter(|_| present(4)));
    match credential(a, k, c, secret) {
        Ok(Some(Credential::Session(value) | Credential::Bearer(value) | Credential::ApiKey(value))) => assert!(!value.is_empty()),
        Ok(None) => {}
        Err(error) => {
            assert_eq!(error.code(), "unauthenticated", "{error}");
            assert_eq!(fltr_credits::http::status::of(&error), 401);
            let _ = fltr_credits::http::error_body::of(&error);
        }
    }

    if let Some(value) = cookie.and_then(session_cookie) {
        if let Ok(token) = verify_signed(value, secret) {
            assert!(!token.is_empty());
        }
    }
    for part in [authorization, api_key, cookie].into_iter().flatten() {
        if let Ok(token) = verify_signed(part, secret) {
            assert!(!token.is_empty());
        }
    }

    // Round trip through a genuine signature, for tokens a cookie can carry unescaped.
    if let Some(token) = authorization {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !token.is_empty() && token.chars().all(plain) && !secret.is_empty() {
            let signed = format!("{token}.{}", sign(token, secret));
            assert_eq!(verify_signed(&signed, secret).ok().as_deref(), Some(token));
            let escaped = signed.replace('=', "%3D");
            let expected = Some(Credential::Session(token.to_string()));
            assert_eq!(credential(Some(&format!("Bearer {escaped}")), None, None, secret).ok(), Some(expected.clone()));
            let header = format!("theme=dark; better-auth.session_token={escaped}");
            assert_eq!(session_cookie(&header), Some(escaped.as_str()));
            assert_eq!(credential(None, None, Some(&header), secret).ok(), Some(expected));
        }
    }
});
