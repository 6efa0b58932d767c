//! `core::stripe::verify(header, body, secret, now)` with arbitrary `Stripe-Signature` headers and
//! bodies.
//!
//! Input: 4 bytes `now` (unix seconds, u32 LE: 1970..2106), 8 bytes `t` (i64 LE), 1 mode byte,
//! then UTF-8 header bytes up to the first `\0`, then the raw body. The fuzzed header is verified
//! as is (it can never carry a valid HMAC by chance); with mode bit 1 the target also prepends
//! `t=<t>,v1=<the genuine signature of the body at t>` to it, so the checks behind the HMAC (the
//! timestamp arithmetic) are reached too. Properties: every error is `invalid_signature`; an
//! accepted delivery is at most 300 s old.
#![no_main]

use fltr_credits::core::stripe::{sign, verify, TOLERANCE_SECONDS};
use fltr_credits::core::time::Timestamp;
use fltr_credits::core::CreditError;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_test_secret";

fn check(result: Result<i64, CreditError>, now: Timestamp) {
    match result {
        Ok(timestamp) => assert!(i128::from(now.unix_seconds()) - i128::from(timestamp) <= i128::from(TOLERANCE_SECONDS)),
        Err(error) => {
            assert_eq!(error.code(), "invalid_signature", "{error}");
            assert_eq!(fltr_credits::http::status::of(&error), 400);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let now = Timestamp::from_unix_seconds(i64::from(u32::from_le_bytes(data[0..4].try_into().unwrap())));
    let t = i64::from_le_bytes(data[4..12].try_into().unwrap());
    let mode = data[12];
    let rest = &data[13..];
    let (header, body) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(header) = std::str::from_utf8(header) else { return };

    check(verify(Some(header), body, SECRET, now), now);
    assert!(verify(Some(header), body, "", now).is_err(), "an empty secret verifies nothing");
    assert!(verify(None, body, SECRET, now).is_err());

    if mode & 1 != 0 {
        let signed = format!("t={t},v1={},{header}", sign(SECRET, t, body));
        check(verify(Some(&signed), body, SECRET, now), now);
    }
});
