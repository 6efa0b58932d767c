//! Better Auth credentials, checked without I/O: the signed session cookie
//! (`better-auth.session_token` or `__Secure-better-auth.session_token`, value
//! `token + "." + base64(HMAC-SHA256(BETTER_AUTH_SECRET, token))`, URL-encoded), the bearer
//! plugin's `Authorization: Bearer <token | token.sig>`, and `x-api-key`. Looking the token up in
//! `sessions` is a statement (`sql::ops::principal`), not done here.

use crate::core::digest::constant_time_eq;
use crate::core::digest::hmac_sha256;
use crate::core::error::CreditError;
use crate::core::percent::percent_decode;

pub const COOKIE_NAMES: [&str; 2] = ["__Secure-better-auth.session_token", "better-auth.session_token"];
/// Base64 of a 32-byte HMAC: 44 characters ending in `=`.
const SIGNATURE_LENGTH: usize = 44;

/// What a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session token whose signature was verified (cookie, or signed bearer).
    Session(String),
    /// An unsigned bearer value: a raw session token (bearer plugin) or an API key.
    Bearer(String),
    /// `x-api-key`.
    ApiKey(String),
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64(HMAC-SHA256(secret, token))`, the signature Better Auth appends.
pub fn sign(token: &str, secret: &str) -> String {
    base64_standard(&hmac_sha256(secret.as_bytes(), &[token.as_bytes()]))
}

/// Verifies `token.signature` (URL-encoded or not) and returns the token.
pub fn verify_signed(value: &str, secret: &str) -> Result<String, CreditError> {
    let forged = || CreditError::unauthenticated("session signature is invalid");
    let decoded = percent_decode(value).ok_or_else(forged)?;
    let (token, signature) = decoded.rsplit_once('.').ok_or_else(forged)?;
    if token.is_empty() || signature.len() != SIGNATURE_LENGTH || !signature.ends_with('=') {
        return Err(forged());
    }
    if secret.is_empty() || !constant_time_eq(sign(token, secret).as_bytes(), signature.as_bytes()) {
        return Err(forged());
    }
    Ok(token.to_string())
}

/// The session cookie's value from a `Cookie` header, the `__Secure-` name first.
pub fn session_cookie(cookie_header: &str) -> Option<&str> {
    COOKIE_NAMES.iter().find_map(|name| {
        cookie_header
            .split(';')
            .map(str::trim)
            .find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    })
}

/// Picks the credential from the three headers, in the order: `Authorization`, `x-api-key`,
/// cookie. A value that looks signed (`x.sig` with a 44-character signature) must verify.
pub fn credential(
    authorization: Option<&str>,
    api_key: Option<&str>,
    cookie: Option<&str>,
    secret: &str,
) -> Result<Option<Credential>, CreditError> {
    if let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) {
        let (scheme, value) = header
            .split_once(' ')
            .ok_or_else(|| CreditError::unauthenticated("Authorization must be `Bearer <token>`"))?;
        let value = value.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
            return Err(CreditError::unauthenticated("Authorization must be `Bearer <token>`"));
        }
        return Ok(Some(if looks_signed(value) {
            Credential::Session(verify_signed(value, secret)?)
        } else {
            Credential::Bearer(value.to_string())
        }));
    }
    if let Some(key) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(Some(Credential::ApiKey(key.to_string())));
    }
    if let Some(value) = cookie.and_then(session_cookie) {
        return Ok(Some(Credential::Session(verify_signed(value, secret)?)));
    }
    Ok(None)
}

fn looks_signed(value: &str) -> bool {
    percent_decode(value)
        .and_then(|decoded| {
            decoded
                .rsplit_once('.')
                .map(|(_, signature)| signature.len() == SIGNATURE_LENGTH && signature.ends_with('='))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    const TOKEN: &str = "Xq3fT9bLk2Vw8PzR1nYc7HdJ4sMa6GuE";
    const COOKIE: &str = "Xq3fT9bLk2Vw8PzR1nYc7HdJ4sMa6GuE.pDk8M14rrR4Iq9FAQJY3fL0ADEND7KyLhkclmZPpnHo%3D";

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(format!("{TOKEN}.{}", sign(TOKEN, SECRET)).replace('=', "%3D"), COOKIE);
        assert_eq!(verify_signed(COOKIE, SECRET).unwrap(), TOKEN);
    }

    #[test]
    fn forged_or_truncated_signatures_are_unauthenticated() {
        let tampered = COOKIE.replace("Xq3f", "Xq3g");
        for bad in [tampered.as_str(), TOKEN, "x.y", "", &COOKIE[..COOKIE.len() - 3]] {
            assert_eq!(verify_signed(bad, SECRET).unwrap_err().code(), "unauthenticated", "{bad}");
        }
        assert!(verify_signed(COOKIE, "other-secret").is_err());
        assert!(verify_signed(COOKIE, "").is_err());
    }

    #[test]
    fn credentials_come_from_bearer_then_api_key_then_cookie() {
        let cookie = format!("theme=dark; __Secure-better-auth.session_token={COOKIE}");
        assert_eq!(credential(None, None, Some(&cookie), SECRET).unwrap(), Some(Credential::Session(TOKEN.into())));
        assert_eq!(
            credential(Some(&format!("bearer {COOKIE}")), None, None, SECRET).unwrap(),
            Some(Credential::Session(TOKEN.into()))
        );
        assert_eq!(
            credential(Some("Bearer raw"), Some("k"), None, SECRET).unwrap(),
            Some(Credential::Bearer("raw".into()))
        );
        assert_eq!(
            credential(None, Some("fltr_key"), Some(&cookie), SECRET).unwrap(),
            Some(Credential::ApiKey("fltr_key".into()))
        );
        assert_eq!(credential(Some("Basic abc"), None, None, SECRET).unwrap_err().code(), "unauthenticated");
        assert_eq!(
            credential(None, None, Some("better-auth.session_token=abc.forged"), SECRET).unwrap_err().code(),
            "unauthenticated"
        );
        assert_eq!(credential(None, None, None, SECRET).unwrap(), None);
    }
}
