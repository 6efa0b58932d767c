//! UTC instants without a clock: callers pass `now` in, so the core stays deterministic.
//!
//! Postgres `timestamp` columns (the seed's type) hold UTC wall time with microsecond precision;
//! `Timestamp` is exactly that, as microseconds since the Unix epoch.

use crate::core::error::CreditError;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CivilDate {
    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// Inverse of [`CivilDate::days_since_epoch`].
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        CivilDate { year: year as i32, month: month as u8, day: day as u8 }
    }

    pub fn is_leap_year(year: i32) -> bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    pub fn days_in_month(year: i32, month: u8) -> u8 {
        match month {
            2 if Self::is_leap_year(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

impl Timestamp {
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp(seconds * MICROS_PER_SECOND)
    }

    /// This instant moved by `millis` (saturating at the ends of the range).
    pub fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis.saturating_mul(1000)))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }

    pub fn date(self) -> CivilDate {
        CivilDate::from_days_since_epoch(self.0.div_euclid(MICROS_PER_DAY))
    }

    pub fn midnight_of(date: CivilDate) -> Self {
        Timestamp(date.days_since_epoch() * MICROS_PER_DAY)
    }

    /// RFC 3339 in UTC with a `Z`; fractional seconds only when present (API.md's form).
    pub fn to_rfc3339(self) -> String {
        let date = self.date();
        let micros_of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let seconds_of_day = micros_of_day / MICROS_PER_SECOND;
        let micros = micros_of_day % MICROS_PER_SECOND;
        let (hour, minute, second) = (seconds_of_day / 3600, seconds_of_day / 60 % 60, seconds_of_day % 60);
        let base =
            format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", date.year, date.month, date.day, hour, minute, second);
        if micros == 0 {
            format!("{base}Z")
        } else {
            format!("{base}.{micros:06}Z")
        }
    }

    /// The literal Postgres accepts for a `timestamp` parameter (`YYYY-MM-DD HH:MM:SS.ffffff`).
    pub fn to_sql_literal(self) -> String {
        let text = self.to_rfc3339();
        text.trim_end_matches('Z').replacen('T', " ", 1)
    }

    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|+00:00]`, and Postgres' text form of `timestamp`.
    pub fn parse(text: &str) -> Result<Self, CreditError> {
        let invalid = || CreditError::invalid_request(format!("not a UTC timestamp: {text:?}"));
        let bytes = text.as_bytes();
        if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
            return Err(invalid());
        }
        if bytes[10] != b'T' && bytes[10] != b' ' {
            return Err(invalid());
        }
        let number = |range: std::ops::Range<usize>| -> Result<i64, CreditError> {
            let part = text.get(range).ok_or_else(invalid)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<i64>().map_err(|_| invalid())
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return Err(invalid());
        }
        if day < 1 || day > i64::from(CivilDate::days_in_month(year as i32, month as u8)) {
            return Err(invalid());
        }
        let mut rest = &text[19..];
        let mut micros = 0i64;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return Err(invalid());
            }
            let padded = format!("{:0<6}", &fraction[..digits.min(6)]);
            micros = padded.parse::<i64>().map_err(|_| invalid())?;
            rest = &fraction[digits..];
        }
        if !matches!(rest, "" | "Z" | "z" | "+00:00" | "+00") {
            return Err(invalid());
        }
        let date = CivilDate { year: year as i32, month: month as u8, day: day as u8 };
        let seconds = hour * 3600 + minute * 60 + second;
        Ok(Timestamp(date.days_since_epoch() * MICROS_PER_DAY + seconds * MICROS_PER_SECOND + micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn epoch_and_known_dates_convert_both_ways() {
        assert_eq!(CivilDate { year: 1970, month: 1, day: 1 }.days_since_epoch(), 0);
        assert_eq!(CivilDate { year: 2000, month: 3, day: 1 }.days_since_epoch(), 11_017);
        assert_eq!(CivilDate::from_days_since_epoch(-1), CivilDate { year: 1969, month: 12, day: 31 });
        let leap = Timestamp::parse("2024-02-29T23:59:59.5Z").unwrap();
        assert_eq!(leap.to_rfc3339(), "2024-02-29T23:59:59.500000Z");
        assert_eq!(Timestamp::parse("2026-11-25 10:00:00").unwrap().to_rfc3339(), "2026-11-25T10:00:00Z");
    }

    #[test]
    fn impossible_dates_are_rejected_not_normalised() {
        for text in [
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "yesterday",
            "2026-11-25T10:00:00+02:00",
        ] {
            assert_eq!(Timestamp::parse(text).unwrap_err().code(), "invalid_request", "{text}");
        }
    }

    // Properties need proptest, which needs an OS RNG: native only (the rest also runs on wasm32).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn days_round_trip(days in -1_000_000i64..1_000_000) {
                prop_assert_eq!(CivilDate::from_days_since_epoch(days).days_since_epoch(), days);
            }

            #[test]
            fn rfc3339_round_trips(micros in -2_000_000_000_000_000i64..8_000_000_000_000_000) {
                let at = Timestamp(micros);
                prop_assert_eq!(Timestamp::parse(&at.to_rfc3339()).unwrap(), at);
                prop_assert_eq!(Timestamp::parse(&at.to_sql_literal()).unwrap(), at);
            }
        }
    }
}
