//! Idempotency: a caller-chosen key plus a fingerprint of the request it was first used with.
//! A replay with the same fingerprint gets the stored outcome; a different one is a conflict.

use crate::core::digest::sha256_hex;

/// SHA-256 over the request's fields, each length-prefixed so that no two different requests
/// can produce the same byte string.
pub fn request_hash(fields: &[&str]) -> String {
    let mut bytes = Vec::new();
    for field in fields {
        bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    sha256_hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn field_boundaries_matter() {
        assert_ne!(request_hash(&["ab", "c"]), request_hash(&["a", "bc"]));
        assert_eq!(request_hash(&["consume", "5"]), request_hash(&["consume", "5"]));
    }
}
