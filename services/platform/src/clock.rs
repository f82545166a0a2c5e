//! The injectable clock every time-dependent rule reads, and business-day
//! arithmetic in the configured zone.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::error::{Error, FieldViolation};

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

/// The first second a request may name: 0001-01-01T00:00:00Z, where the
/// range of `google.protobuf.Timestamp` begins.
pub const EARLIEST_SECONDS: i64 = -62_135_596_800;

/// The last second a request may name: 9999-12-31T23:59:59Z, where the
/// range of `google.protobuf.Timestamp` ends (with up to 999,999,999 ns).
pub const LATEST_SECONDS: i64 = 253_402_300_799;

/// What a caller is told about an instant outside the range.
pub const OUT_OF_RANGE: &str =
    "not a valid instant: must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z";

/// A protobuf `Timestamp` as a UTC instant; `None` outside
/// 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z or with nanos
/// outside 0 ..= 999,999,999. Chrono itself reaches far wider, but neither
/// database orders such instants the way it orders the rest, and no rule
/// of the domain needs them.
pub fn from_proto(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    if !(EARLIEST_SECONDS..=LATEST_SECONDS).contains(&ts.seconds) {
        return None;
    }
    let nanos = u32::try_from(ts.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// The one check of an instant in a request: absent is `Ok(None)`, outside
/// the range a [`FieldViolation`] naming `field` (in proto path form).
pub fn check(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>, FieldViolation> {
    ts.map(|ts| from_proto(ts).ok_or_else(|| FieldViolation::new(field, OUT_OF_RANGE)))
        .transpose()
}

/// [`check`] as an `INVALID_ARGUMENT`, for a request with one instant to read.
pub fn instant(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>, Error> {
    check(field, ts).map_err(|v| Error::InvalidArgument(vec![v]))
}

/// How far ahead of the server's clock a caller may date what happened
/// (a rep's phone, a bank's statement): clocks that disagree by less are
/// trusted, one instant later is refused as in the future. One constant for
/// every service.
pub const FUTURE_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// `at` when it is not after `now` + [`FUTURE_SKEW`], else INVALID_ARGUMENT
/// on `field`.
pub fn not_future(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    if at > now + FUTURE_SKEW {
        return Err(Error::invalid(field, "must not be in the future"));
    }
    Ok(at)
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
    fn an_instant_within_the_skew_is_trusted_and_one_past_it_refused() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).single().expect("valid");
        assert_eq!(not_future("at", now + FUTURE_SKEW, now).ok(), Some(now + FUTURE_SKEW));
        let late = now + FUTURE_SKEW + chrono::Duration::seconds(1);
        assert!(not_future("at", late, now).is_err());
    }

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
        let ts = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        for (seconds, nanos, valid) in [
            (EARLIEST_SECONDS, 0, true),
            (EARLIEST_SECONDS - 1, 999_999_999, false),
            (LATEST_SECONDS, 999_999_999, true),
            (LATEST_SECONDS + 1, 0, false),
            (0, 1_000_000_000, false),
        ] {
            assert_eq!(from_proto(&ts(seconds, nanos)).is_some(), valid, "{seconds} {nanos}");
        }
        let earliest = from_proto(&ts(EARLIEST_SECONDS, 0)).expect("in range");
        assert_eq!(earliest.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        let latest = from_proto(&ts(LATEST_SECONDS, 0)).expect("in range");
        assert_eq!(latest.to_rfc3339(), "9999-12-31T23:59:59+00:00");
        let bad = check("session.ends_at", Some(&ts(LATEST_SECONDS + 1, 0))).expect_err("year 10000");
        assert_eq!(bad.field, "session.ends_at");
        assert_eq!(check("at", None), Ok(None));
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
