//! Daily and monthly limit windows of an API key: UTC day and UTC calendar month.
//!
//! A window is identified by its start instant; the database stores the start of the window its
//! usage counter belongs to, and a counter whose start is older than the current window counts as 0.

use crate::core::time::{CivilDate, Timestamp, MICROS_PER_SECOND};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub fn start(self, now: Timestamp) -> Timestamp {
        let date = now.date();
        match self {
            Period::Daily => Timestamp::midnight_of(date),
            Period::Monthly => Timestamp::midnight_of(CivilDate { day: 1, ..date }),
        }
    }

    /// The first instant of the next window: when the quota resets.
    pub fn reset(self, now: Timestamp) -> Timestamp {
        let date = now.date();
        match self {
            Period::Daily => Timestamp::midnight_of(CivilDate::from_days_since_epoch(date.days_since_epoch() + 1)),
            Period::Monthly => {
                let (year, month) = if date.month == 12 { (date.year + 1, 1) } else { (date.year, date.month + 1) };
                Timestamp::midnight_of(CivilDate { year, month, day: 1 })
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }
}

/// Whole seconds until `reset`, rounded up so a client that waits that long is never early; at least 1.
pub fn retry_after_seconds(now: Timestamp, reset: Timestamp) -> i64 {
    let micros = (reset.0 - now.0).max(0);
    ((micros + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND).max(1)
}

/// The state of one window of one key, as API.md's `limits.daily` / `limits.monthly` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowUsage {
    /// `None` means unlimited (a NULL limit column).
    pub limit: Option<i64>,
    pub used: i64,
    pub remaining: Option<i64>,
    #[serde(serialize_with = "crate::core::time_serde::rfc3339")]
    pub reset: Timestamp,
}

impl WindowUsage {
    /// `stored_used` counts usage in the window that began at `stored_start`; an older window counts 0.
    pub fn current(
        period: Period,
        limit: Option<i64>,
        stored_used: i64,
        stored_start: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        let start = period.start(now);
        let used = match stored_start {
            Some(stored) if stored >= start => stored_used.max(0),
            _ => 0,
        };
        WindowUsage { limit, used, remaining: limit.map(|limit| (limit - used).max(0)), reset: period.reset(now) }
    }

    /// Whether `amount` more fits. A limit of 0 allows nothing; `None` allows everything.
    pub fn allows(&self, amount: i64) -> bool {
        match self.limit {
            None => true,
            Some(limit) => self.used.saturating_add(amount) <= limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn month_ends_and_leap_years_reset_on_the_first() {
        let table = [
            ("2024-02-29T23:59:59Z", "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"),
            ("2023-02-28T12:00:00Z", "2023-03-01T00:00:00Z", "2023-03-01T00:00:00Z"),
            ("2026-12-31T23:59:59.999999Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ("2026-11-25T10:00:00Z", "2026-11-26T00:00:00Z", "2026-12-01T00:00:00Z"),
            ("2100-02-28T00:00:00Z", "2100-03-01T00:00:00Z", "2100-03-01T00:00:00Z"),
        ];
        for (now, daily, monthly) in table {
            assert_eq!(Period::Daily.reset(at(now)), at(daily), "{now}");
            assert_eq!(Period::Monthly.reset(at(now)), at(monthly), "{now}");
        }
        assert_eq!(Period::Monthly.start(at("2024-02-29T23:00:00Z")), at("2024-02-01T00:00:00Z"));
    }

    #[test]
    fn zero_limit_allows_nothing_and_null_allows_everything() {
        let now = at("2026-11-25T10:00:00Z");
        assert!(!WindowUsage::current(Period::Daily, Some(0), 0, None, now).allows(1));
        assert!(WindowUsage::current(Period::Daily, None, 1_000_000, Some(now), now).allows(i64::from(i32::MAX)));
    }

    #[test]
    fn usage_from_an_older_window_does_not_count() {
        let now = at("2026-11-25T00:00:00Z");
        let yesterday = at("2026-11-24T00:00:00Z");
        let window = WindowUsage::current(Period::Daily, Some(10), 10, Some(yesterday), now);
        assert_eq!((window.used, window.remaining), (0, Some(10)));
        let window = WindowUsage::current(Period::Monthly, Some(10), 10, Some(at("2026-11-01T00:00:00Z")), now);
        assert_eq!((window.used, window.remaining), (10, Some(0)));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_seconds(at("2026-11-25T23:59:59.5Z"), at("2026-11-26T00:00:00Z")), 1);
        assert_eq!(retry_after_seconds(at("2026-11-25T23:00:00Z"), at("2026-11-26T00:00:00Z")), 3600);
        assert_eq!(retry_after_seconds(at("2026-11-26T00:00:00Z"), at("2026-11-26T00:00:00Z")), 1);
    }

    // Properties need proptest, which needs an OS RNG: native only (the rest also runs on wasm32).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn now_lies_inside_its_window(micros in 0i64..8_000_000_000_000_000) {
                let now = Timestamp(micros);
                for period in [Period::Daily, Period::Monthly] {
                    let (start, reset) = (period.start(now), period.reset(now));
                    prop_assert!(start <= now && now < reset);
                    prop_assert_eq!(period.start(reset), reset, "the reset is the next window's start");
                    let len_days = (reset.0 - start.0) / 86_400_000_000;
                    let expected_length = if period == Period::Daily { len_days == 1 } else { (28..=31).contains(&len_days) };
                    prop_assert!(expected_length);
                }
            }

            #[test]
            fn remaining_plus_used_is_the_limit(limit in 0i64..10_000, used in 0i64..20_000, amount in 1i64..100) {
                let now = Timestamp(1_764_000_000_000_000);
                let window = WindowUsage::current(Period::Daily, Some(limit), used, Some(now), now);
                prop_assert_eq!(window.remaining, Some((limit - used).max(0)));
                prop_assert_eq!(window.allows(amount), used + amount <= limit);
            }
        }
    }
}
