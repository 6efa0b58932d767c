//! `http::router::match_path` on arbitrary UTF-8 paths, and `core::percent::percent_decode`.
//!
//! Properties beyond "never panics": a matched route's methods are ones the route table lists; a
//! key id (allocate, rotate, update/revoke), re-encoded, routes back to the same id, and is never
//! shaped like a secret (those paths are `SecretInPath`); `percent_decode` never grows its input
//! and inverts percent-encoding.
#![no_main]

use fltr_credits::core::percent::percent_decode;
use fltr_credits::http::router::{match_path, Route, ROUTES};
use libfuzzer_sys::fuzz_target;

/// Escapes every byte that is not an RFC 3986 unreserved character.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };

    if let Some((methods, route)) = match_path(path) {
        for method in methods {
            assert!(ROUTES.iter().any(|(listed, _)| listed == method), "{method} is not in ROUTES");
        }
        let keyed = match &route {
            Route::Allocate(id) => Some((id, "/allocate")),
            Route::RotateApiKey(id) => Some((id, "/rotate")),
            Route::ApiKey(id) => Some((id, "")),
            _ => None,
        };
        // An id spelt `revoke%2Dleaked` re-encodes to the literal route of that name.
        if let Some((id, action)) = keyed.filter(|(id, action)| !(action.is_empty() && *id == "revoke-leaked")) {
            assert!(!id.is_empty() && !fltr_credits::core::api_key::resembles_secret(id));
            let again = match_path(&format!("/api/v1/api-keys/{}{action}", percent_encode(id)));
            assert_eq!(again.map(|(_, route)| route), Some(route.clone()), "re-encoded id {id:?}");
        }
    }

    if let Some(decoded) = percent_decode(path) {
        assert!(decoded.len() <= path.len());
        assert_eq!(percent_decode(&percent_encode(&decoded)).as_deref(), Some(decoded.as_str()));
    }
});
