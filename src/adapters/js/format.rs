//! Display helpers: `formatCredits` through the runtime's `Intl` (via js-sys), a balance status,
//! and the rate-limit headers of a charge outcome.

use crate::adapters::js::convert::{self, error_value, invalid, string_object};
use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::core::window::WindowUsage;
use crate::http::rate_limit;
use crate::sql::outcome::Limits;
use js_sys::{Function, Intl, Object, Reflect};
use serde_json::Value;
use wasm_bindgen::prelude::*;

/// Formatters are costly to build (tens of µs): one per (locale, compact) is kept, in JS `Map`s
/// keyed by the locale string itself, so a call moves no string across the boundary at all.
const FORMATTER_CACHE_MAX: u32 = 64;

mod checked {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// js-sys' `Intl.NumberFormat` constructor does not catch; this one does.
        #[wasm_bindgen(js_namespace = Intl)]
        pub type NumberFormat;
        #[wasm_bindgen(constructor, catch, js_namespace = Intl)]
        pub fn new(locales: &js_sys::Array, options: &js_sys::Object) -> Result<NumberFormat, JsValue>;

        /// `{ locale, compact }`, read with plain property gets (no try/catch wrapper, no key
        /// strings made per call): formatCredits sits on a hot path.
        pub type FormatOptions;
        #[wasm_bindgen(method, getter, structural)]
        pub fn locale(this: &FormatOptions) -> JsValue;
        #[wasm_bindgen(method, getter, structural)]
        pub fn compact(this: &FormatOptions) -> JsValue;

        /// A cached bound `Intl.NumberFormat#format`; a finite number never makes it throw.
        #[wasm_bindgen(extends = js_sys::Function)]
        pub type BoundFormat;
        #[wasm_bindgen(method, js_name = call)]
        pub fn format(this: &BoundFormat, receiver: &JsValue, value: f64) -> js_sys::JsString;
    }
}

thread_local! {
    static FORMATTERS: [js_sys::Map; 2] = [js_sys::Map::new(), js_sys::Map::new()];
    static SUFFIX_ONE: js_sys::JsString = js_sys::JsString::from(" credit");
    static SUFFIX_OTHER: js_sys::JsString = js_sys::JsString::from(" credits");
}

fn build_formatter(locale: &JsValue, compact: bool) -> Result<Function, CreditError> {
    let locales = js_sys::Array::new();
    if !locale.is_undefined() {
        locales.push(locale);
    }
    let options = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&options, &JsValue::from_str(k), &v).map(|_| ());
    let configured = if compact {
        set("notation", "compact".into()).and(set("maximumFractionDigits", 1.into()))
    } else {
        set("maximumFractionDigits", 0.into())
    };
    configured.map_err(|_| CreditError::internal("could not build Intl options"))?;
    // `new Intl.NumberFormat` throws a RangeError for a malformed tag: bound with `catch`.
    let shown = locale.as_string().unwrap_or_default();
    Ok(checked::NumberFormat::new(&locales, &options)
        .map_err(|_| CreditError::invalid_request(format!("locale {shown:?} is not a valid BCP 47 language tag")))?
        .unchecked_into::<Intl::NumberFormat>()
        .format())
}

/// `locale` is a JS string or `undefined` (the runtime's default locale).
fn formatter(locale: &JsValue, compact: bool) -> Result<Function, CreditError> {
    let cache = FORMATTERS.with(|maps| maps[usize::from(compact)].clone());
    let found = cache.get(locale);
    if !found.is_undefined() {
        return Ok(found.unchecked_into());
    }
    let format = build_formatter(locale, compact)?;
    if cache.size() >= FORMATTER_CACHE_MAX {
        cache.clear();
    }
    cache.set(locale, &format);
    Ok(format)
}

/// `formatCredits(1234567)` → `"1,234,567 credits"`; `{ compact: true }` → `"1.2M"`;
/// `{ locale: "de-DE" }` → `"1.234.567 credits"`. Without a locale, the runtime's default.
#[wasm_bindgen(js_name = formatCredits, unchecked_return_type = "string")]
pub fn format_credits(
    amount: f64,
    #[wasm_bindgen(unchecked_optional_param_type = "{ locale?: string; compact?: boolean }")] options: JsValue,
) -> Result<JsValue, JsValue> {
    if !amount.is_finite() {
        return Err(error_value(&CreditError::invalid_amount("credits must be a finite number")));
    }
    let (locale, compact) = if options.is_object() {
        let options: &checked::FormatOptions = options.unchecked_ref();
        let locale = options.locale();
        if !locale.is_undefined() && !locale.is_string() {
            return Err(invalid("locale must be a string"));
        }
        (locale, options.compact().is_truthy())
    } else {
        (JsValue::UNDEFINED, false)
    };
    let format = formatter(&locale, compact).map_err(|error| error_value(&error))?;
    let number = format.unchecked_ref::<checked::BoundFormat>().format(&JsValue::UNDEFINED, amount);
    if compact {
        return Ok(number.into());
    }
    let suffix = if amount == 1.0 { SUFFIX_ONE.with(Clone::clone) } else { SUFFIX_OTHER.with(Clone::clone) };
    Ok(number.concat(&suffix).into())
}

/// Default threshold of `balanceStatus`: below it a balance is `low`.
pub const LOW_BALANCE_DEFAULT: f64 = 10.0;

thread_local! {
    /// The three answers as JS strings, made once: a call returns one without encoding text.
    static STATUSES: [JsValue; 3] = [JsValue::from_str("empty"), JsValue::from_str("low"), JsValue::from_str("ok")];
}

/// `"empty"` (≤ 0), `"low"` (below `low`, default 10) or `"ok"`.
#[wasm_bindgen(js_name = balanceStatus, unchecked_return_type = "'empty' | 'low' | 'ok'")]
pub fn balance_status(
    balance: f64,
    #[wasm_bindgen(unchecked_optional_param_type = "{ low?: number }")] options: JsValue,
) -> Result<JsValue, JsValue> {
    if balance.is_nan() {
        return Err(error_value(&CreditError::invalid_amount("balance must be a number")));
    }
    let low = match convert::get(&options, "low") {
        None => LOW_BALANCE_DEFAULT,
        Some(value) => {
            value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| invalid("low must be a finite number"))?
        }
    };
    let index = if balance <= 0.0 {
        0
    } else if balance < low {
        1
    } else {
        2
    };
    Ok(STATUSES.with(|statuses| statuses[index].clone()))
}

fn window(value: &Value) -> Option<WindowUsage> {
    Some(WindowUsage {
        limit: value.get("limit").and_then(Value::as_i64),
        used: value.get("used").and_then(Value::as_i64).unwrap_or(0),
        remaining: value.get("remaining").and_then(Value::as_i64),
        reset: Timestamp::parse(value.get("reset")?.as_str()?).ok()?,
    })
}

/// The `limits` of a consume/check result object, back to the core's type.
fn limits(value: &Value) -> Option<Limits> {
    let limits = value.get("limits").filter(|l| !l.is_null())?;
    Some(Limits { daily: window(limits.get("daily")?)?, monthly: window(limits.get("monthly")?)? })
}

/// A thrown limit error back to the core's type.
fn limit_error(value: &JsValue) -> Option<CreditError> {
    let code = convert::get(value, "code")?.as_string()?;
    let number = |key: &str| convert::get(value, key).and_then(|v| v.as_f64()).map(|v| v as i64);
    let (limit, used, retry_after) = (number("limit")?, number("used").unwrap_or(0), number("retry_after")?);
    let reset = Timestamp::parse(&convert::get(value, "reset")?.as_string()?).ok()?;
    match code.as_str() {
        "daily_limit_exceeded" => Some(CreditError::DailyLimitExceeded { limit, used, reset, retry_after }),
        "monthly_limit_exceeded" => Some(CreditError::MonthlyLimitExceeded { limit, used, reset, retry_after }),
        _ => None,
    }
}

/// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (unix seconds) for the
/// tightest window of an API key charge, plus `Retry-After` for a limit error. Pass a
/// consume/check result or the error it threw; `{}` when no limit applies.
#[wasm_bindgen(js_name = limitHeaders, unchecked_return_type = "Record<string, string>")]
pub fn limit_headers(
    #[wasm_bindgen(unchecked_param_type = "ChargeResult | Error | unknown")] outcome: JsValue,
) -> JsValue {
    if let Some(error) = limit_error(&outcome) {
        return string_object(&rate_limit::for_error(&error));
    }
    let is_result = convert::get(&outcome, "ok").is_some_and(|ok| ok.as_bool() == Some(true));
    let parsed = is_result
        .then(|| js_sys::JSON::stringify(&outcome).ok().and_then(|t| t.as_string()))
        .flatten()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|value| limits(&value));
    match parsed {
        Some(limits) => string_object(&rate_limit::for_limits(&limits)),
        None => Object::new().into(),
    }
}
