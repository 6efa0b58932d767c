//! `http::body::json_object` on arbitrary bodies, `HttpRequest::query_param` on arbitrary query
//! strings, and the `core::validate` functions on what they yield.
//!
//! Input: one flag byte, then UTF-8 `query \0 idempotency-key`, then `\0` and the raw body.
//! Flags: bits 1-2 pick the Content-Type (`application/json`, with `; charset=utf-8`,
//! `text/plain`, none), bit 4 `required`, bit 8 a 64-byte limit instead of the API's 64 KiB (to
//! reach 413). Every field of a parsed object goes through `Amount::from_json`, `metadata`,
//! `identifier`, `idempotency_key`, `Operation::new` and the body helpers, as the handlers do;
//! `limit` and `cursor` query parameters go through `page_size` and `Cursor::decode`; the
//! unknown-field/parameter checks (`only_fields`, `only_query_params`) run too, and every error
//! is rendered as the API's error response (`HttpResponse::error`).
#![no_main]

use fltr_credits::core::time::Timestamp;
use fltr_credits::core::validate::{identifier, idempotency_key, metadata, Amount, Operation};
use fltr_credits::core::CreditError;
use fltr_credits::http::body::{idempotency_header, json_object, only_fields, optional_identifier, optional_string, required_string};
use fltr_credits::http::config::BODY_BYTES_MAX;
use fltr_credits::http::{HttpRequest, HttpResponse};
use fltr_credits::sql::ops::transactions::{page_size, Cursor};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn expect(error: &CreditError, codes: &[&str]) {
    assert!(codes.contains(&error.code()), "unexpected {}: {error}", error.code());
    let response = HttpResponse::error(error, "req_fuzz");
    assert_eq!(response.status, fltr_credits::http::status::of(&error));
    assert!(!response.body_bytes().is_empty());
}

const INVALID: &[&str] = &["invalid_request"];
const AMOUNT: &[&str] = &["invalid_request", "invalid_amount"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let Ok(query) = std::str::from_utf8(parts.next().unwrap_or_default()) else { return };
    let Ok(idempotency) = parts.next().map(std::str::from_utf8).transpose() else { return };
    let body = parts.next().unwrap_or_default();

    let mut request = HttpRequest::new("POST", "/api/v1/credits/consume", "req_fuzz", Timestamp::from_unix_seconds(1_764_064_800))
        .with_query(query)
        .with_body(body);
    match flags & 3 {
        0 => request = request.with_header("content-type", "application/json"),
        1 => request = request.with_header("Content-Type", "application/json; charset=utf-8"),
        2 => request = request.with_header("content-type", "text/plain"),
        _ => {}
    }
    if let Some(key) = idempotency {
        request = request.with_header("Idempotency-Key", key);
    }
    let required = flags & 4 != 0;
    let limit = if flags & 8 != 0 { 64 } else { BODY_BYTES_MAX };

    // Query string: the handlers' parameters, then every key present.
    match request.query_param("limit") {
        Ok(Some(text)) => match text.trim().parse::<i64>() {
            Ok(n) => match page_size(Some(n)) {
                Ok(size) => assert!((1..=100).contains(&size)),
                Err(error) => expect(&error, INVALID),
            },
            Err(_) => {}
        },
        Ok(None) => {}
        Err(error) => expect(&error, INVALID),
    }
    match request.query_param("cursor") {
        Ok(Some(text)) => {
            if let Err(error) = Cursor::decode(&text) {
                expect(&error, INVALID);
            }
        }
        Ok(None) => {}
        Err(error) => expect(&error, INVALID),
    }
    for pair in request.query.split('&').filter(|pair| !pair.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        match request.query_param(key) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("query parameter {key:?} is present but not found"),
            Err(error) => expect(&error, INVALID),
        }
    }

    for allowed in [&["limit", "cursor"][..], &["dry_run"][..], &[][..]] {
        match request.only_query_params(allowed) {
            Ok(()) => assert!(request.query.split('&').all(|pair| pair.is_empty() || allowed.contains(&pair.split_once('=').map_or(pair, |(key, _)| key)))),
            Err(error) => expect(&error, INVALID),
        }
    }

    match idempotency_header(&request) {
        Ok(Some(key)) => assert!(!key.is_empty() && key.len() <= 255),
        Ok(None) => assert!(idempotency.is_none()),
        Err(error) => expect(&error, INVALID),
    }

    let map = match json_object(&request, limit, required) {
        Ok(map) => map,
        Err(error) => {
            expect(&error, &["invalid_request", "payload_too_large", "unsupported_media_type"]);
            return;
        }
    };
    if let Err(error) = metadata(&Value::Object(map.clone())) {
        expect(&error, INVALID);
    }
    for allowed in [&["amount", "operation", "resource_id", "metadata"][..], &["transaction_id"][..], &[][..]] {
        match only_fields(&map, allowed) {
            Ok(()) => assert!(map.keys().all(|key| allowed.contains(&key.as_str()))),
            Err(error) => expect(&error, INVALID),
        }
    }
    for (field, value) in &map {
        let _ = identifier("field", field);
        if let Err(error) = Amount::from_json(value) {
            expect(&error, AMOUNT);
        }
        if let Ok(Some(text)) = metadata(value) {
            assert!(text.len() <= 4096);
        }
        if let Err(error) = optional_string(&map, field).and(required_string(&map, field)).and(optional_identifier(&map, field)) {
            expect(&error, INVALID);
        }
        if let Value::String(text) = value {
            let _ = identifier(field, text);
            let _ = idempotency_key(text);
            let _ = Operation::new(text);
            if let Err(error) = Amount::parse(text) {
                expect(&error, AMOUNT);
            }
        }
    }
});
