//! The injectable clock every time-dependent rule reads, and business-day
//! arithmetic in the configured zone.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The default business zone.
pub const DEFAULT_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// A source of the current instant (UTC).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set and move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The shared handle services hold.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The business day (calendar date in `zone`) that `at` falls on.
pub fn business_day(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// A UTC instant as a protobuf `Timestamp`.
pub fn to_proto(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf `Timestamp` as a UTC instant; `None` if out of range.
pub fn from_proto(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// The instant a business day starts (midnight in `zone`), in UTC.
pub fn business_day_start(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn business_day_is_computed_in_the_zone_not_utc() {
        // 17:00 UTC on 1 March is already 01:00 on 2 March in Shanghai.
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 17, 0, 0).single().expect("valid");
        assert_eq!(
            business_day(at, DEFAULT_ZONE),
            NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid")
        );
        assert_eq!(
            business_day(at, chrono_tz::UTC),
            NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid")
        );
    }

    #[test]
    fn timestamps_round_trip_and_bad_ones_are_refused() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().expect("valid");
        assert_eq!(from_proto(&to_proto(at)), Some(at));
        assert_eq!(from_proto(&prost_types::Timestamp { seconds: 0, nanos: -1 }), None);
        assert_eq!(
            from_proto(&prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }

    #[test]
    fn a_shanghai_business_day_starts_at_16_00_utc_the_day_before() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid");
        let start = business_day_start(day, DEFAULT_ZONE);
        assert_eq!(
            start,
            Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).single().expect("valid")
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid");
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::hours(48));
        assert_eq!(clock.now() - start, chrono::Duration::hours(48));
    }
}
