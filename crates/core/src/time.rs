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
    fn dates_are_utc_calendar_dates() {
        assert_eq!(UnixTime(0).date(), "1970-01-01");
        assert_eq!(UnixTime(951_782_400).date(), "2000-02-29", "a leap day of a century leap year");
        assert_eq!(UnixTime(1_795_852_800).date(), "2026-11-28");
        assert_eq!(UnixTime(4_102_444_799).date(), "2099-12-31");
        assert_eq!(UnixTime(4_107_542_400).date(), "2100-03-01", "2100 is not a leap year");
    }
}
