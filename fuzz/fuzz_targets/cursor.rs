//! `sql::ops::transactions::Cursor::decode` on arbitrary text, and the encode/decode round trip.
//!
//! Properties: an error is `invalid_request`; a decoded cursor has `created_at` in
//! 0..=9999-12-31T23:59:59.999999Z and an id that passes `identifier`, and re-encodes to a
//! canonical text no longer than the input that decodes to an equal cursor. A cursor built from
//! the input (created_at from its first 8 bytes, id from the rest) decodes back to itself exactly
//! when it is in those bounds and its encoding fits 1024 characters.
#![no_main]

use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::identifier;
use fltr_credits::sql::ops::transactions::Cursor;
use libfuzzer_sys::fuzz_target;

/// 9999-12-31T23:59:59.999999Z in microseconds (the bound `Cursor::decode` enforces).
const CURSOR_MICROS_MAX: i64 = 253_402_300_799_999_999;

fn in_bounds(cursor: &Cursor) -> bool {
    (0..=CURSOR_MICROS_MAX).contains(&cursor.created_at.0) && identifier("cursor", &cursor.id).is_ok()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Cursor::decode(text) {
            Ok(cursor) => {
                assert!(in_bounds(&cursor), "{cursor:?} decoded out of bounds");
                let encoded = cursor.encode();
                assert!(encoded.len() <= text.len(), "{encoded} longer than {text:?}");
                assert_eq!(Cursor::decode(&encoded).ok(), Some(cursor));
            }
            Err(error) => assert_eq!(error.code(), "invalid_request"),
        }
    }

    if data.len() >= 8 {
        let Ok(id) = std::str::from_utf8(&data[8..]) else { return };
        let cursor = Cursor { created_at: Timestamp(i64::from_le_bytes(data[..8].try_into().unwrap())), id: id.to_string() };
        let encoded = cursor.encode();
        let decoded = Cursor::decode(&encoded).ok();
        if in_bounds(&cursor) && encoded.len() <= 1024 {
            assert_eq!(decoded, Some(cursor));
        } else {
            assert_eq!(decoded, None, "{cursor:?} is out of bounds but decodes");
        }
    }
});
