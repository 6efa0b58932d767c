//! The JS executor: carries each statement through the caller's `query(text, params)` — any
//! Postgres driver (`pg`, `@neondatabase/serverless`, `postgres`) — and reads its rows.
//!
//! Every parameter is a string or null (the SQL casts it), every statement selects text columns
//! only, so no driver's type mapping can change a value. A thrown error whose `.code` is a
//! SQLSTATE (pg, neon and postgres.js set it) keeps its meaning; anything else (ECONNREFUSED, a
//! closed socket) is a connection failure: `database_unavailable`.

use crate::sql::executor::BatchExecutor;
use crate::sql::executor::Executor;
use crate::sql::failure::DbFailure;
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `query` called with `this` = the object it came from, so `createCredits(pool)` works as well
/// as `createCredits({ query })`.
#[derive(Clone)]
pub struct JsExecutor {
    receiver: JsValue,
    query: Function,
}

impl JsExecutor {
    /// Takes `{ query }` or any object with a `query(text, params)` method (pg Client/Pool, neon).
    pub fn from_object(value: &JsValue) -> Option<JsExecutor> {
        if !value.is_object() && !value.is_function() {
            return None;
        }
        let query = Reflect::get(value, &JsValue::from_str("query")).ok()?.dyn_into::<Function>().ok()?;
        Some(JsExecutor { receiver: value.clone(), query })
    }

    async fn call(&self, sql: &str, params: Option<Array>) -> Result<JsValue, DbFailure> {
        let text = JsValue::from_str(sql);
        let returned = match params {
            Some(params) => self.query.call2(&self.receiver, &text, &params),
            None => self.query.call1(&self.receiver, &text),
        }
        .map_err(|error| failure(&error))?;
        JsFuture::from(Promise::resolve(&returned)).await.map_err(|error| failure(&error))
    }
}

fn property(value: &JsValue, name: &str) -> Option<JsValue> {
    if !value.is_object() && !value.is_function() {
        return None;
    }
    Reflect::get(value, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// A SQLSTATE is five of `0-9A-Z` in a class Postgres defines; Node's `EPIPE` is not one.
pub fn is_sqlstate(code: &str) -> bool {
    code.len() == 5
        && code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && matches!(code.as_bytes()[0], b'0'..=b'9' | b'F' | b'H' | b'P' | b'X')
}

/// What a thrown JS value means.
pub fn failure(error: &JsValue) -> DbFailure {
    let message = property(error, "message")
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| js_sys::JSON::stringify(error).map(String::from).unwrap_or_else(|_| "unknown error".into()));
    let code = property(error, "code").and_then(|c| c.as_string());
    match code {
        Some(code) if is_sqlstate(&code) => DbFailure { sqlstate: Some(code), message },
        Some(code) => DbFailure::connection(format!("{code}: {message}")),
        None => DbFailure::connection(message),
    }
}

fn not_understood(detail: &str) -> DbFailure {
    // XX000 maps to `internal`: the query callback broke its contract, a programming error.
    DbFailure {
        sqlstate: Some("XX000".into()),
        message: format!(
            "query() must resolve to rows (an array, or {{ rows: [...] }}) whose columns are text: {detail}"
        ),
    }
}

/// Accepts `{ rows: [...] }` (pg, neon Pool/Client) and plain arrays (postgres.js, neon `sql`);
/// each row an object of text columns, or an array row (array mode) named by `fields[i].name`.
fn rows(result: &JsValue) -> Result<Vec<Row>, DbFailure> {
    let list = if Array::is_array(result) {
        result.clone()
    } else {
        property(result, "rows").ok_or_else(|| not_understood("no rows"))?
    };
    if !Array::is_array(&list) {
        return Err(not_understood("rows is not an array"));
    }
    let list: Array = list.unchecked_into();
    let field_names = || -> Result<Vec<String>, DbFailure> {
        let fields = property(result, "fields")
            .filter(Array::is_array)
            .ok_or_else(|| not_understood("array rows without fields"))?;
        fields
            .unchecked_into::<Array>()
            .iter()
            .map(|field| {
                property(&field, "name")
                    .and_then(|name| name.as_string())
                    .ok_or_else(|| not_understood("a field has no name"))
            })
            .collect()
    };
    let mut names: Option<Vec<String>> = None;
    let mut out = Vec::with_capacity(list.length() as usize);
    for row in list.iter() {
        let (keys, values) = if Array::is_array(&row) {
            if names.is_none() {
                names = Some(field_names()?);
            }
            (names.clone().unwrap_or_default(), row.unchecked_into::<Array>())
        } else if row.is_object() {
            let object: &Object = row.unchecked_ref();
            let keys = Object::keys(object).iter().filter_map(|key| key.as_string()).collect();
            (keys, Object::values(object))
        } else {
            return Err(not_understood("a row is neither an object nor an array"));
        };
        if keys.len() != values.length() as usize {
            return Err(not_understood("a row's columns and names differ in number"));
        }
        let columns = keys
            .into_iter()
            .zip(values.iter())
            .map(|(name, value)| {
                if value.is_null() || value.is_undefined() {
                    Ok((name, None))
                } else {
                    value
                        .as_string()
                        .map(|text| (name, Some(text)))
                        .ok_or_else(|| not_understood("a column is not text"))
                }
            })
            .collect::<Result<Vec<_>, DbFailure>>()?;
        out.push(Row::new(columns));
    }
    Ok(out)
}

fn param(value: &Option<String>) -> JsValue {
    value.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

impl Executor for JsExecutor {
    /// Every statement binds exactly the parameters its SQL references (`sql::ops` tests it), so
    /// drivers that send untyped parameters (pg, neon, postgres.js) can type each one.
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbFailure> {
        let params: Array = statement.params.iter().map(param).collect();
        let result = self.call(statement.sql, Some(params)).await?;
        rows(&result)
    }
}

impl BatchExecutor for JsExecutor {
    /// Parameterless SQL: pg uses the simple protocol, so several statements may run at once.
    async fn batch(&self, sql: &str) -> Result<(), DbFailure> {
        self.call(sql, None).await.map(|_| ())
    }
}
