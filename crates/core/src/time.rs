//! Time as the domain sees it: a value handed in by the caller, never read from a clock.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z), ignoring leap seconds, as RFC 6238 §4.2 counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The number of seconds since the epoch.
    pub fn seconds(self) -> u64 {
        self.0
    }

    /// The proleptic Gregorian (year, month, day) in UTC (Howard Hinnant's `civil_from_days`, restricted to
    /// non-negative days, which is all a `UnixTime` can express).
    pub fn civil_date(self) -> (u64, u64, u64) {
        let z = self.0 / 86_400 + 719_468;
        let era = z / 146_097;
        let day_of_era = z % 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + u64::from(month <= 2);
        (year, month, day)
    }

    /// The time as the Validation Protocol's `t` writes it: `YYYY-MM-DDThh:mm:ssZ0000` (UTC; the last four
    /// digits are milliseconds, which a `UnixTime` does not carry).
    pub fn protocol_timestamp(self) -> String {
        let seconds = self.0 % 86_400;
        format!("{}T{:02}:{:02}:{:02}Z0000", self.date(), seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// The date as `YYYY-MM-DD` (UTC).
    pub fn date(self) -> String {
        let (year, month, day) = self.civil_date();
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// The date and minute as `YYYY-MM-DD hh:mm UTC`, for people reading a log.
    pub fn date_time(self) -> String {
        let seconds = self.0 % 86_400;
        format!("{} {:02}:{:02} UTC", self.date(), seconds / 3600, seconds / 60 % 60)
    }

    /// The start (00:00 UTC) of a `YYYY-MM-DD` date from 1970 to 9999 (Hinnant's `days_from_civil`).
    pub fn from_date(text: &str) -> Result<UnixTime, crate::Error> {
        let invalid = || crate::Error::InvalidDate(text.chars().take(32).collect());
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [year, month, day] = parts.as_slice() else { return Err(invalid()) };
        let number = |part: &str, len: usize| {
            (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
        };
        let (Some(year), Some(month), Some(day)) = (number(year, 4), number(month, 2), number(day, 2)) else {
            return Err(invalid());
        };
        let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if year < 1970 || !(1..=12).contains(&month) || day == 0 || day > month_days[(month - 1) as usize] {
            return Err(invalid());
        }
        let shifted_year = if month <= 2 { year - 1 } else { year };
        let era = shifted_year / 400;
        let year_of_era = shifted_year - era * 400;
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Ok(UnixTime((era * 146_097 + day_of_era - 719_468) * 86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::UnixTime;

    #[test]
    fn the_protocol_timestamp_is_utc_with_zero_milliseconds() {
        // 2026-11-28T10:00:00Z, and a second before the next day.
        assert_eq!(UnixTime(1_795_860_000).protocol_timestamp(), "2026-11-28T10:00:00Z0000");
        assert_eq!(UnixTime(1_795_910_399).protocol_timestamp(), "2026-11-28T23:59:59Z0000");
    }

    #[test]
    fn typed_dates_are_the_start_of_that_utc_day() {
        for (text, seconds) in [
            ("1970-01-01", 0),
            ("2000-02-29", 951_782_400),
            ("2026-11-28", 1_795_824_000),
            ("2099-12-31", 4_102_358_400),
        ] {
            assert_eq!(UnixTime::from_date(text).unwrap(), UnixTime(seconds), "{text}");
            assert_eq!(UnixTime(seconds).date(), text);
        }
        for bad in [
            "",
            "2026-1-28",
            "2026-13-01",
            "2026-02-29",
            "1969-12-31",
            "2026/11/28",
            "２０２６-11-28",
            "2026-11-28-1",
        ] {
            assert!(UnixTime::from_date(bad).is_err(), "{bad:?}");
        }
        assert_eq!(UnixTime(1_795_860_000 + 65).date_time(), "2026-11-28 10:01 UTC");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(UnixTime(0).date(), "1970-01-01");
        assert_eq!(UnixTime(951_782_400).date(), "2000-02-29", "a leap day of a century leap year");
        assert_eq!(UnixTime(1_795_852_800).date(), "2026-11-28");
        assert_eq!(UnixTime(4_102_444_799).date(), "2099-12-31");
        assert_eq!(UnixTime(4_107_542_400).date(), "2100-03-01", "2100 is not a leap year");
    }
}
