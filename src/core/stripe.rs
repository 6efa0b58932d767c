//! Stripe webhook signatures, checked without I/O (REFERENCE §6).
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`; the signed payload is
//! `"{t}." + raw body bytes`, and `v1 = hex(HMAC-SHA256(key = the whole "whsec_…" secret, payload))`.
//! Any matching `v1` is accepted (Stripe sends several while a secret is being rolled); `v0` is
//! Stripe's test-mode scheme and never trusted. A signature older than the tolerance is refused, so
//! a captured delivery cannot be replayed later. The caller passes `now`: the core reads no clock.

use crate::core::digest::constant_time_eq;
use crate::core::digest::{hex, hmac_sha256};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;

/// Stripe's own libraries use 300 s: older signatures are refused.
pub const TOLERANCE_SECONDS: i64 = 300;
/// A header longer than this is not Stripe's (it sends at most a few signatures).
const HEADER_LENGTH_MAX: usize = 2048;

fn invalid(message: &str) -> CreditError {
    CreditError::InvalidSignature { message: message.to_string() }
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`: what Stripe puts in `v1`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex(&hmac_sha256(secret.as_bytes(), &[timestamp.to_string().as_bytes(), b".", body]))
}

/// The parts of a `Stripe-Signature` header we use: the timestamp and every `v1` signature.
fn parse(header: &str) -> Result<(i64, Vec<&str>), CreditError> {
    if header.len() > HEADER_LENGTH_MAX {
        return Err(invalid("Stripe-Signature header is too long"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else { continue };
        match key {
            "t" => {
                timestamp =
                    Some(value.parse::<i64>().map_err(|_| invalid("Stripe-Signature timestamp is not a number"))?)
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| invalid("Stripe-Signature has no timestamp (t=)"))?;
    if signatures.is_empty() {
        return Err(invalid("Stripe-Signature has no v1 signature"));
    }
    Ok((timestamp, signatures))
}

/// Verifies a delivery; returns the signed timestamp. Every failure is `invalid_signature`.
pub fn verify(header: Option<&str>, body: &[u8], secret: &str, now: Timestamp) -> Result<i64, CreditError> {
    if secret.is_empty() {
        return Err(invalid("webhook secret is not configured (STRIPE_WEBHOOK_SECRET); nothing can be verified"));
    }
    let header =
        header.map(str::trim).filter(|h| !h.is_empty()).ok_or_else(|| invalid("Stripe-Signature header is missing"))?;
    let (timestamp, signatures) = parse(header)?;
    let expected = sign(secret, timestamp, body);
    if !signatures.iter().any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes())) {
        return Err(invalid("no Stripe signature matches the payload and the webhook secret"));
    }
    // Saturating: a signed `t` near i64::MIN must not wrap into "fresh" (found by cargo fuzz).
    if now.unix_seconds().saturating_sub(timestamp) > TOLERANCE_SECONDS {
        return Err(invalid("Stripe signature is older than 300 seconds"));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const V1: &str = "4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150";

    #[test]
    fn a_timestamp_at_the_edge_of_i64_is_stale_not_a_wrap() {
        for t in [i64::MIN, i64::MIN + 12] {
            let header = format!("t={t},v1={}", sign(SECRET, t, b""));
            assert_eq!(verify(Some(&header), b"", SECRET, at(1_764_064_800)).unwrap_err().code(), "invalid_signature");
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(seconds)
    }

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(sign(SECRET, 1_700_000_000, BODY), V1);
        let header = format!("t=1700000000,v1={V1}");
        assert_eq!(verify(Some(&header), BODY, SECRET, at(1_700_000_010)).unwrap(), 1_700_000_000);
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let header = format!("t=1700000000,v0={V1},v1=00,v1={V1}");
        assert!(verify(Some(&header), BODY, SECRET, at(1_700_000_000)).is_ok());
        let only_v0 = format!("t=1700000000,v0={V1}");
        assert!(verify(Some(&only_v0), BODY, SECRET, at(1_700_000_000)).is_err());
    }

    #[test]
    fn tampered_stale_or_malformed_deliveries_are_invalid_signature() {
        let good = format!("t=1700000000,v1={V1}");
        let cases: [(Option<&str>, &[u8], &str, i64); 7] = [
            (Some(&good), b"{}", SECRET, 1_700_000_000),
            (Some(&good), BODY, "whsec_other", 1_700_000_000),
            (Some(&good), BODY, SECRET, 1_700_000_301),
            (Some(&good), BODY, "", 1_700_000_000),
            (None, BODY, SECRET, 1_700_000_000),
            (Some("t=abc,v1=00"), BODY, SECRET, 1_700_000_000),
            (Some("v1=00"), BODY, SECRET, 1_700_000_000),
        ];
        for (header, body, secret, now) in cases {
            let error = verify(header, body, secret, at(now)).unwrap_err();
            assert_eq!(error.code(), "invalid_signature", "{header:?} {secret} {now}");
            assert_eq!(crate::http::status::of(&error), 400);
        }
        assert!(verify(Some(&good), BODY, SECRET, at(1_700_000_300)).is_ok(), "exactly 300 s old is still accepted");
    }
}
