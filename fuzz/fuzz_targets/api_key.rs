//! `core::api_key`: the secret format, the checks on ids and the redaction of secrets in text.
//!
//! Properties beyond "never panics": a secret issued from any 64 bytes (when enough are unbiased)
//! passes its own checksum and hashes as SHA-256; `redact` leaves nothing that continues a
//! `fltr_` (any case) with a letter or digit, and is idempotent; `key_id` accepts only `key_…` ids
//! and refuses everything else as `invalid_request` or `not_found`; a secret given as a `KeyRef`
//! never shows in its `Debug`.
#![no_main]

use fltr_credits::core::api_key::{self, Entropy, KeyRef, ENTROPY_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= ENTROPY_BYTES {
        let mut bytes = [0u8; ENTROPY_BYTES];
        bytes.copy_from_slice(&data[..ENTROPY_BYTES]);
        let entropy = Entropy(bytes);
        match api_key::issue_secret(&entropy) {
            Ok(issued) => {
                assert!(api_key::is_secret(&issued.secret), "{}", issued.secret);
                assert_eq!(issued.hash, api_key::hash(&issued.secret));
                assert_eq!(issued.start, issued.secret[..api_key::START_LENGTH]);
                assert!(!api_key::redact(&issued.secret).contains(&issued.secret[5..]));
            }
            Err(error) => assert_eq!(error.code(), "internal"),
        }
        assert!(api_key::issue_id(&entropy).starts_with("key_"));
    }
    let Ok(text) = std::str::from_utf8(data) else { return };

    let redacted = api_key::redact(text);
    let lowered = redacted.to_ascii_lowercase();
    for (at, _) in lowered.match_indices("fltr_") {
        let next = lowered[at + 5..].chars().next();
        assert!(!next.is_some_and(|c| c.is_ascii_alphanumeric()), "{redacted:?}");
    }
    assert_eq!(api_key::redact(&redacted), redacted, "idempotent");

    match api_key::key_id("id", text) {
        Ok(id) => assert!(id.starts_with("key_") && !api_key::resembles_secret(&id) && id == text),
        Err(error) => assert!(matches!(error.code(), "invalid_request" | "not_found"), "{}", error.code()),
    }

    if api_key::is_secret(text) {
        assert!(api_key::resembles_secret(text));
        let key = KeyRef::given(text);
        assert!(matches!(key, KeyRef::Secret { .. }));
        assert!(!format!("{key:?}").contains(&text[5..]), "Debug shows the secret");
    }
});
