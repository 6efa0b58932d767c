//! `usage`: what an account spent over a range of UTC days, net of refunds, grouped by day,
//! operation and/or API key — for charts and invoices (API.md `GET /api/v1/credits/usage`).
//!
//! The rules, decided here once for every surface:
//! - **Range**: `from` and `to` are UTC calendar dates (`YYYY-MM-DD`, years 0001–9999); `from` is
//!   included, `to` is not; `from < to`, at most [`SPAN_DAYS_MAX`] days apart. A day runs from UTC
//!   midnight to UTC midnight (`created_at` is UTC wall time).
//! - **What counts**: `usage` rows (a consume, a capture) made in the range, and each one's refund,
//!   the row `refund_<usage id>`. Grants, purchases, allocations, adjustments, expirations and the
//!   `refund` rows a revocation writes are not usage and never count.
//! - **Net of refunds**: a refund is netted into its usage's own day, operation and key, whenever
//!   it was made — so a refund never makes a day negative, and the refund of a usage made before
//!   `from` does not show up in the range at all. `amount` is the credits spent and not given back
//!   (positive); `count` is the number of usage rows not refunded. A group whose every usage was
//!   refunded is left out.
//! - **Whose rows**: an account's rows as `transactions` lists them — a user's rows name them
//!   (whichever pool paid: their own, their team's, one of their keys), a team's rows name the team,
//!   a key's rows name the key. `api_key_id` is the key's public id (`key_…`), NULL for usage that
//!   went through no key.
//! - **Groups**: one row per distinct value of the chosen dimensions (`day`, `operation`, `api_key`,
//!   one or more), ordered by them, NULL last; days without usage are absent (a chart fills them).
//!   At most [`GROUPS_MAX`] groups: more is `invalid_request` (narrow the range or the grouping).
//!
//! One statement, index-backed: each account kind is its own `UNION ALL` branch, so whichever plan
//! Postgres caches (custom or generic), the branch that runs is a range scan of that kind's
//! `(…, created_at, id)` index of migration 0002, and the others are cut by a one-time filter;
//! each usage's refund is found by primary key, once (a `LIMIT 1` lateral: a nested loop, never a
//! hash join over every refund in the table). `tests/usage.rs` checks the plans with EXPLAIN.

use crate::core::account::{public_key_id, Account};
use crate::core::error::CreditError;
use crate::core::time::{CivilDate, Timestamp};
use crate::sql::row::Row;
use crate::sql::statement::Statement;
use serde::Serialize;

/// The longest range one request may cover: a leap year.
pub const SPAN_DAYS_MAX: i64 = 366;
/// The most groups one answer may carry (366 days × a handful of operations fits easily).
pub const GROUPS_MAX: u32 = 10_000;
const YEAR_MIN: i32 = 1;
const YEAR_MAX: i32 = 9999;

pub const SQL: &str = r#"WITH used AS (
  SELECT t.id, t.amount, t.operation, t.api_key_id, t.created_at FROM credit_transactions t
  WHERE $1::text = 'user' AND t.user_id = $2::text
    AND t.created_at >= $3::timestamp AND t.created_at < $4::timestamp AND t.type = 'usage'
  UNION ALL
  SELECT t.id, t.amount, t.operation, t.api_key_id, t.created_at FROM credit_transactions t
  WHERE $1::text = 'team' AND t.team_id = $2::text
    AND t.created_at >= $3::timestamp AND t.created_at < $4::timestamp AND t.type = 'usage'
  UNION ALL
  SELECT t.id, t.amount, t.operation, t.api_key_id, t.created_at FROM credit_transactions t
  WHERE $1::text = 'api_key' AND t.api_key_id = $2::text
    AND t.created_at >= $3::timestamp AND t.created_at < $4::timestamp AND t.type = 'usage'
), netted AS (
  SELECT u.created_at, u.operation, u.api_key_id, u.amount::bigint + coalesce(r.amount, 0) AS net
  FROM used u LEFT JOIN LATERAL (
    SELECT r.amount FROM credit_transactions r WHERE r.id = 'refund_' || u.id AND r.type = 'refund' LIMIT 1
  ) r ON true
)
SELECT CASE WHEN $5::boolean THEN to_char(n.created_at, 'YYYY-MM-DD') END AS day,
  CASE WHEN $6::boolean THEN n.operation END AS operation,
  CASE WHEN $7::boolean THEN n.api_key_id END AS api_key_id,
  (-sum(n.net))::text AS amount,
  (count(*) FILTER (WHERE n.net <> 0))::text AS count
FROM netted n
GROUP BY 1, 2, 3
HAVING count(*) FILTER (WHERE n.net <> 0) > 0
ORDER BY 1, 2, 3
LIMIT $8::int"#;

/// One dimension of `group_by`, in the order rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Day,
    Operation,
    ApiKey,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Day, Dimension::Operation, Dimension::ApiKey];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Day => "day",
            Dimension::Operation => "operation",
            Dimension::ApiKey => "api_key",
        }
    }
}

/// A validated request: the range as UTC midnights and the grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: CivilDate,
    pub to: CivilDate,
    /// Distinct, sorted (day, operation, api_key), at least one.
    pub group_by: Vec<Dimension>,
}

impl UsageQuery {
    /// `from`/`to` as `YYYY-MM-DD`; `group_by` as `day`, `operation`, `api_key` or a
    /// comma-separated list of them (absent: `day`).
    pub fn parse(from: Option<&str>, to: Option<&str>, group_by: Option<&str>) -> Result<Self, CreditError> {
        let from = date("from", from.ok_or_else(|| CreditError::invalid_request("from is required (YYYY-MM-DD)"))?)?;
        let to = date("to", to.ok_or_else(|| CreditError::invalid_request("to is required (YYYY-MM-DD)"))?)?;
        let span = to.days_since_epoch() - from.days_since_epoch();
        if span < 1 {
            return Err(CreditError::invalid_request("to must be after from (from is included, to is not)"));
        }
        if span > SPAN_DAYS_MAX {
            return Err(CreditError::invalid_request(format!(
                "from and to are {span} days apart; at most {SPAN_DAYS_MAX} per request"
            )));
        }
        Ok(UsageQuery { from, to, group_by: dimensions(group_by.unwrap_or("day"))? })
    }

    fn has(&self, dimension: Dimension) -> bool {
        self.group_by.contains(&dimension)
    }
}

/// A UTC calendar date, exactly `YYYY-MM-DD`.
pub fn date(field: &str, text: &str) -> Result<CivilDate, CreditError> {
    let invalid = || CreditError::invalid_request(format!("{field} must be a date YYYY-MM-DD (UTC), got {text:?}"));
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i32, CreditError> {
        let part = &text[range];
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        part.parse::<i32>().map_err(|_| invalid())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) || !(1..=12).contains(&month) {
        return Err(invalid());
    }
    if day < 1 || day > i32::from(CivilDate::days_in_month(year, month as u8)) {
        return Err(invalid());
    }
    Ok(CivilDate { year, month: month as u8, day: day as u8 })
}

fn dimensions(text: &str) -> Result<Vec<Dimension>, CreditError> {
    let mut found = Vec::new();
    for word in text.split(',') {
        let dimension = Dimension::ALL.into_iter().find(|d| d.as_str() == word).ok_or_else(|| {
            CreditError::invalid_request(format!(
                "group_by takes day, operation, api_key or a comma-separated list of them (no spaces), got {text:?}"
            ))
        })?;
        found.push(dimension);
    }
    found.sort();
    // Named twice is the same grouping (openapi.json's pattern allows it; rejecting it would
    // refuse a request the schema calls valid).
    found.dedup();
    Ok(found)
}

pub fn format_date(date: CivilDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// One group. Only the dimensions asked for are present; `operation` and `api_key_id` may be
/// null (usage without an operation, or through no key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Option<String>>,
    /// Credits spent and not refunded.
    pub amount: i64,
    /// Usage rows not refunded.
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub group_by: Vec<Dimension>,
    pub usage: Vec<UsageRow>,
}

/// Asks for one group more than [`GROUPS_MAX`], to tell a full answer from a cut one.
pub fn plan(account: &Account, query: &UsageQuery) -> Statement {
    Statement::new(SQL)
        .param(account.kind.as_str())
        .param(&account.id)
        .param(Timestamp::midnight_of(query.from).to_sql_literal())
        .param(Timestamp::midnight_of(query.to).to_sql_literal())
        .param(query.has(Dimension::Day))
        .param(query.has(Dimension::Operation))
        .param(query.has(Dimension::ApiKey))
        .param(GROUPS_MAX + 1)
}

pub fn decode(rows: &[Row], query: &UsageQuery) -> Result<UsageReport, CreditError> {
    if rows.len() > GROUPS_MAX as usize {
        return Err(CreditError::invalid_request(format!(
            "more than {GROUPS_MAX} groups; narrow the range or group by fewer dimensions"
        )));
    }
    let usage = rows
        .iter()
        .map(|row| {
            let day = query.has(Dimension::Day).then(|| row.owned("day")).transpose()?;
            let operation = query.has(Dimension::Operation).then(|| row.opt_owned("operation")).transpose()?;
            let api_key_id = query
                .has(Dimension::ApiKey)
                .then(|| row.opt_text("api_key_id").map(|id| id.map(public_key_id)))
                .transpose()?;
            let (amount, count) = (row.int("amount")?, row.int("count")?);
            if count < 1 || amount < 0 {
                return Err(CreditError::internal("usage: a group with no usage left or a negative amount"));
            }
            Ok(UsageRow { day, operation, api_key_id, amount, count })
        })
        .collect::<Result<Vec<_>, CreditError>>()?;
    Ok(UsageReport {
        from: format_date(query.from),
        to: format_date(query.to),
        group_by: query.group_by.clone(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn query(group_by: &str) -> UsageQuery {
        UsageQuery::parse(Some("2026-11-01"), Some("2026-12-01"), Some(group_by)).unwrap()
    }

    #[test]
    fn ranges_are_utc_dates_to_exclusive_and_at_most_366_days() {
        let november = query("day");
        assert_eq!((format_date(november.from), format_date(november.to)), ("2026-11-01".into(), "2026-12-01".into()));
        assert!(UsageQuery::parse(Some("2024-01-01"), Some("2025-01-01"), None).is_ok(), "a leap year is 366 days");
        assert!(UsageQuery::parse(Some("2026-11-01"), Some("2026-11-02"), None).is_ok(), "one day");
        assert!(UsageQuery::parse(Some("0001-01-01"), Some("0001-12-31"), None).is_ok(), "any year Postgres stores");
        for (from, to) in [
            ("2026-11-01", "2026-11-01"),
            ("2026-12-01", "2026-11-01"),
            ("2025-01-01", "2026-01-03"),
            ("2026-02-29", "2026-03-01"),
            ("2026-11-1", "2026-12-01"),
            ("2026-11-01T00:00:00Z", "2026-12-01"),
            ("0000-12-31", "0001-01-02"),
            ("9999-12-31", "9999-12-31"),
            ("+026-11-01", "2026-12-01"),
            ("2026-13-01", "2026-12-01"),
            ("2026-11-00", "2026-12-01"),
            ("２０２６-11-01", "2026-12-01"),
        ] {
            let error = UsageQuery::parse(Some(from), Some(to), None).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{from} {to}");
        }
        assert_eq!(UsageQuery::parse(None, Some("2026-12-01"), None).unwrap_err().code(), "invalid_request");
        assert_eq!(UsageQuery::parse(Some("2026-11-01"), None, None).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn group_by_is_one_or_more_known_dimensions_in_a_fixed_order() {
        assert_eq!(UsageQuery::parse(Some("2026-11-01"), Some("2026-12-01"), None).unwrap().group_by, [Dimension::Day]);
        assert_eq!(query("api_key,day").group_by, [Dimension::Day, Dimension::ApiKey]);
        assert_eq!(query("operation,day,api_key").group_by, Dimension::ALL);
        assert_eq!(query("day,day").group_by, [Dimension::Day]);
        for bad in ["", "days", "day, operation", "day,", "DAY", "api_key_id", " day"] {
            let error = UsageQuery::parse(Some("2026-11-01"), Some("2026-12-01"), Some(bad)).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{bad:?}");
        }
    }

    #[test]
    fn the_plan_binds_the_account_the_utc_midnights_and_the_dimensions() {
        let statement = plan(&Account::team("team_1").unwrap(), &query("operation"));
        let params: Vec<Option<&str>> = statement.params.iter().map(Option::as_deref).collect();
        assert_eq!(
            params,
            [
                Some("team"),
                Some("team_1"),
                Some("2026-11-01 00:00:00"),
                Some("2026-12-01 00:00:00"),
                Some("false"),
                Some("true"),
                Some("false"),
                Some("10001")
            ]
        );
    }

    #[test]
    fn rows_decode_to_the_asked_dimensions_only_with_key_ids_made_public() {
        let rows = [
            Row::of(&[
                ("day", Some("2026-11-03")),
                ("operation", None),
                ("api_key_id", Some("key_0123456789abcdef0123")),
                ("amount", Some("42")),
                ("count", Some("3")),
            ]),
            Row::of(&[
                ("day", Some("2026-11-04")),
                ("operation", None),
                ("api_key_id", Some("fltr_legacy_secret_0001")),
                ("amount", Some("5")),
                ("count", Some("1")),
            ]),
            Row::of(&[
                ("day", Some("2026-11-04")),
                ("operation", None),
                ("api_key_id", None),
                ("amount", Some("0")),
                ("count", Some("1")),
            ]),
        ];
        let report = decode(&rows, &query("day,api_key")).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "from": "2026-11-01", "to": "2026-12-01", "group_by": ["day", "api_key"],
                "usage": [
                    {"day": "2026-11-03", "api_key_id": "key_0123456789abcdef0123", "amount": 42, "count": 3},
                    {"day": "2026-11-04", "api_key_id": "fltr****0001", "amount": 5, "count": 1},
                    {"day": "2026-11-04", "api_key_id": null, "amount": 0, "count": 1}
                ]
            })
        );
    }

    #[test]
    fn a_row_the_decoder_does_not_understand_is_internal_and_too_many_groups_is_invalid() {
        let broken = |amount: &str, count: &str| {
            Row::of(&[("day", Some("2026-11-03")), ("amount", Some(amount)), ("count", Some(count))])
        };
        for (amount, count) in [("-1", "1"), ("5", "0"), ("x", "1")] {
            assert_eq!(decode(&[broken(amount, count)], &query("day")).unwrap_err().code(), "internal");
        }
        let missing_day = Row::of(&[("day", None), ("amount", Some("1")), ("count", Some("1"))]);
        assert_eq!(decode(&[missing_day], &query("day")).unwrap_err().code(), "internal");
        let many = vec![broken("1", "1"); GROUPS_MAX as usize + 1];
        assert_eq!(decode(&many, &query("day")).unwrap_err().code(), "invalid_request");
    }
}
