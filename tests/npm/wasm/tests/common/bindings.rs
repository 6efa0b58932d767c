// Binding tests, included by tests/node.rs (`wasm-pack test --node`) and tests/browser.rs
// (`wasm-pack test --headless --chrome`): the same assertions in Node's and Chromium's JS engines and `Intl`.

use fltr_credits::adapters::js::convert::error_value;
use fltr_credits::adapters::js::executor::{failure, is_sqlstate};
use fltr_credits::adapters::js::format::{balance_status, format_credits, limit_headers};
use fltr_credits::adapters::js::request::{credential_from_request, sign_session_token};
use fltr_credits::adapters::js::schema::{migration_sql, migrations};
use fltr_credits::core::error::CreditError;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const TOKEN: &str = "Xq3fT9bLk2Vw8PzR1nYc7HdJ4sMa6GuE";
const COOKIE: &str = "Xq3fT9bLk2Vw8PzR1nYc7HdJ4sMa6GuE.pDk8M14rrR4Iq9FAQJY3fL0ADEND7KyLhkclmZPpnHo%3D";

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in pairs {
        Reflect::set(&object, &JsValue::from_str(key), value).unwrap();
    }
    object.into()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap()
}

fn code(error: JsValue) -> String {
    get(&error, "code").as_string().unwrap()
}

fn format(amount: f64, locale: &str, compact: bool) -> String {
    format_credits(amount, object(&[("locale", locale.into()), ("compact", compact.into())])).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn format_credits_follows_each_locale() {
    assert_eq!(format(1_234_567.0, "en-US", false), "1,234,567 credits");
    assert_eq!(format(1_234_567.0, "en-US", true), "1.2M");
    assert_eq!(format(1_234_567.0, "de-DE", false), "1.234.567 credits");
    assert_eq!(format(1_234_567.0, "de-DE", true), "1,2\u{a0}Mio.");
    assert_eq!(format(1_234_567.0, "ja-JP", true), "123.5万");
    assert_eq!(format(1_234_567.0, "fr-FR", false), "1\u{202f}234\u{202f}567 credits");
    assert_eq!(format(1_234_567.0, "en-IN", false), "12,34,567 credits");
    assert_eq!(format(1.0, "en-US", false), "1 credit");
    assert_eq!(format(0.0, "en-US", false), "0 credits");
    assert_eq!(format(-5.0, "en-US", false), "-5 credits");
    // Cached formatters keep answering the same.
    assert_eq!(format(999.0, "en-US", true), "999");
}

#[wasm_bindgen_test]
fn format_credits_rejects_bad_input_with_stable_codes() {
    assert_eq!(code(format_credits(1.0, object(&[("locale", "not a locale!".into())])).unwrap_err()), "invalid_request");
    assert_eq!(code(format_credits(1.0, object(&[("locale", 42.into())])).unwrap_err()), "invalid_request");
    assert_eq!(code(format_credits(f64::NAN, JsValue::UNDEFINED).unwrap_err()), "invalid_amount");
    assert_eq!(code(format_credits(f64::INFINITY, JsValue::UNDEFINED).unwrap_err()), "invalid_amount");
    assert!(format_credits(5.0, JsValue::UNDEFINED).unwrap().as_string().unwrap().ends_with(" credits"));
}

#[wasm_bindgen_test]
fn balance_status_has_three_states() {
    assert_eq!(balance_status(0.0, JsValue::UNDEFINED).unwrap().as_string().unwrap(), "empty");
    assert_eq!(balance_status(3.0, JsValue::UNDEFINED).unwrap().as_string().unwrap(), "low");
    assert_eq!(balance_status(10.0, JsValue::UNDEFINED).unwrap().as_string().unwrap(), "ok");
    assert_eq!(balance_status(60.0, object(&[("low", 100.into())])).unwrap().as_string().unwrap(), "low");
    assert_eq!(code(balance_status(f64::NAN, JsValue::UNDEFINED).unwrap_err()), "invalid_amount");
}

#[wasm_bindgen_test]
fn errors_are_error_objects_with_code_status_and_contract_fields() {
    let error = error_value(&CreditError::DailyLimitExceeded { limit: 700, used: 700, reset: fltr_credits::core::time::Timestamp::parse("2026-11-26T00:00:00Z").unwrap(), retry_after: 3600 });
    assert!(error.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&error, "name").as_string().unwrap(), "CreditError");
    assert_eq!(code(error.clone()), "daily_limit_exceeded");
    assert_eq!(get(&error, "status").as_f64(), Some(429.0));
    assert_eq!(get(&error, "retry_after").as_f64(), Some(3600.0));
    let headers = limit_headers(error);
    assert_eq!(get(&headers, "X-RateLimit-Limit").as_string().unwrap(), "700");
    assert_eq!(get(&headers, "X-RateLimit-Remaining").as_string().unwrap(), "0");
    assert_eq!(get(&headers, "X-RateLimit-Reset").as_string().unwrap(), "1795651200");
    assert_eq!(get(&headers, "Retry-After").as_string().unwrap(), "3600");
    let other = limit_headers(error_value(&CreditError::not_found("x")));
    let other: Object = other.unchecked_into();
    assert_eq!(js_sys::Object::keys(&other).length(), 0);
}

#[wasm_bindgen_test]
fn credentials_come_from_request_headers_and_forgeries_are_unauthenticated() {
    assert_eq!(sign_session_token(TOKEN, SECRET), COOKIE);
    let headers = object(&[("cookie", format!("theme=dark; better-auth.session_token={COOKIE}").into())]);
    let credential = credential_from_request(object(&[("headers", headers)]), SECRET.into()).unwrap();
    assert_eq!(get(&credential, "kind").as_string().unwrap(), "session");
    assert_eq!(get(&credential, "value").as_string().unwrap(), TOKEN);
    let forged = object(&[("cookie", format!("better-auth.session_token={}", COOKIE.replace("Xq3f", "Xq3g")).into())]);
    assert_eq!(code(credential_from_request(forged, SECRET.into()).unwrap_err()), "unauthenticated");
    let bearer = credential_from_request(object(&[("authorization", "Bearer fltr_key_1".into())]), SECRET.into()).unwrap();
    assert_eq!(get(&bearer, "kind").as_string().unwrap(), "bearer");
    assert!(credential_from_request(object(&[]), SECRET.into()).unwrap().is_null());
    assert_eq!(code(credential_from_request(JsValue::from(5), SECRET.into()).unwrap_err()), "invalid_request");
}

#[wasm_bindgen_test]
fn driver_errors_keep_their_sqlstate_and_others_are_connection_failures() {
    let with_code = |code: &str| {
        let error = js_sys::Error::new("boom");
        Reflect::set(&error, &"code".into(), &code.into()).unwrap();
        failure(&error.into()).into_credit_error().code()
    };
    assert_eq!(with_code("42P01"), "schema_not_ready");
    assert_eq!(with_code("57P01"), "database_unavailable");
    assert_eq!(with_code("ECONNREFUSED"), "database_unavailable");
    assert_eq!(with_code("EPIPE"), "database_unavailable");
    assert_eq!(failure(&JsValue::from_str("plain string")).into_credit_error().code(), "database_unavailable");
    assert!(is_sqlstate("23505") && is_sqlstate("P0001") && !is_sqlstate("EPIPE") && !is_sqlstate("2350"));
}

#[wasm_bindgen_test]
fn migrations_come_from_the_generator() {
    let files: js_sys::Array = migrations().unwrap().unchecked_into();
    assert_eq!(files.length() as usize, fltr_credits::schema::history::migrations().len());
    let first = files.get(0);
    assert_eq!(get(&first, "tag").as_string().unwrap(), "0000_nifty_bruce_banner");
    assert_eq!(migration_sql("up", Some("0000".into())).unwrap(), get(&first, "up").as_string().unwrap());
    assert_eq!(code(migration_sql("sideways", None).unwrap_err()), "invalid_request");
}

