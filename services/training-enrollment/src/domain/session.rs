//! Sessions: where and when, how many seats, until when one may enrol or cancel.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tiejun_platform::{
    clock,
    error::{Error, FieldViolation},
};
use tiejun_proto::training::v1::Session;

/// Headquarters: AutoEnroll's fallback city.
pub const HEADQUARTERS: &str = "Hangzhou";
/// Default cancellation deadline: this long before the start.
pub const CANCEL_BEFORE: Duration = Duration::hours(24);

/// A validated session to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Programme taught (or course).
    pub program_id: Option<String>,
    /// Course taught (or programme).
    pub course_id: Option<String>,
    /// City.
    pub city: String,
    /// Venue.
    pub venue: String,
    /// IANA zone of the venue.
    pub time_zone: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Seats.
    pub capacity: i32,
    /// No enrolment after.
    pub enrollment_deadline: DateTime<Utc>,
    /// No cancellation after.
    pub cancellation_deadline: DateTime<Utc>,
}

impl NewSession {
    /// Validates `s` at `now` (fields under `session.`). Defaults: zone
    /// Asia/Shanghai, enrolment until the start, cancellation until 24 h before.
    pub fn parse(s: &Session, now: DateTime<Utc>) -> Result<Self, Error> {
        let mut v = Vec::new();
        let mut field = |name: &str, why: &str| v.push(FieldViolation::new(format!("session.{name}"), why));
        let program_id = (!s.program_id.trim().is_empty())
            .then(|| super::key(&s.program_id))
            .transpose()
            .map_err(|e| field("program_id", e))
            .ok()
            .flatten();
        let course_id = (!s.course_id.trim().is_empty())
            .then(|| super::key(&s.course_id))
            .transpose()
            .map_err(|e| field("course_id", e))
            .ok()
            .flatten();
        if program_id.is_some() == course_id.is_some() {
            field("program_id", "a session teaches one programme or one course");
        }
        let city = super::text(&s.city, 1, 50).map_err(|e| field("city", e)).ok();
        let venue = super::text(&s.venue, 0, 200).map_err(|e| field("venue", e)).ok();
        let time_zone = if s.time_zone.trim().is_empty() {
            "Asia/Shanghai".to_owned()
        } else {
            s.time_zone.trim().to_owned()
        };
        if time_zone.parse::<Tz>().is_err() {
            field("time_zone", "not an IANA time zone");
        }
        let mut instant = |name: &str, ts: &Option<prost_types::Timestamp>| {
            clock::check(&format!("session.{name}"), ts.as_ref()).unwrap_or_else(|bad| {
                v.push(bad);
                None
            })
        };
        let starts_at = instant("starts_at", &s.starts_at);
        let ends_at = instant("ends_at", &s.ends_at);
        let enrollment_deadline = instant("enrollment_deadline", &s.enrollment_deadline);
        let cancellation_deadline = instant("cancellation_deadline", &s.cancellation_deadline);
        let mut field = |name: &str, why: &str| v.push(FieldViolation::new(format!("session.{name}"), why));
        let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else {
            for (name, given) in [("starts_at", &s.starts_at), ("ends_at", &s.ends_at)] {
                if given.is_none() {
                    field(name, "is required");
                }
            }
            return Err(Error::InvalidArgument(v));
        };
        if starts_at <= now {
            field("starts_at", "must be in the future");
        }
        if ends_at <= starts_at {
            field("ends_at", "must be after the start");
        }
        let enrollment_deadline = enrollment_deadline.unwrap_or(starts_at);
        if enrollment_deadline > starts_at {
            field("enrollment_deadline", "must not be after the start");
        }
        let cancellation_deadline = cancellation_deadline.unwrap_or(starts_at - CANCEL_BEFORE);
        if cancellation_deadline > starts_at {
            field("cancellation_deadline", "must not be after the start");
        }
        if !(1..=10_000).contains(&s.capacity) {
            field("capacity", "must be between 1 and 10000");
        }
        match (city, venue) {
            (Some(city), Some(venue)) if v.is_empty() => Ok(Self {
                program_id,
                course_id,
                city,
                venue,
                time_zone,
                starts_at,
                ends_at,
                capacity: s.capacity,
                enrollment_deadline,
                cancellation_deadline,
            }),
            _ => Err(Error::InvalidArgument(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use tiejun_platform::clock::to_proto;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).single().expect("valid")
    }

    fn session() -> Session {
        Session {
            program_id: "employee_onboarding".into(),
            city: "Hangzhou".into(),
            venue: "Xixi campus".into(),
            starts_at: Some(to_proto(now() + Duration::days(7))),
            ends_at: Some(to_proto(now() + Duration::days(7) + Duration::hours(8))),
            capacity: 20,
            ..Default::default()
        }
    }

    #[test]
    fn deadlines_default_to_the_start_and_a_day_before() {
        let s = NewSession::parse(&session(), now()).expect("valid");
        assert_eq!(s.enrollment_deadline, s.starts_at);
        assert_eq!(s.cancellation_deadline, s.starts_at - Duration::hours(24));
        assert_eq!(s.time_zone, "Asia/Shanghai");
    }

    #[test]
    fn a_session_in_the_past_or_without_seats_is_refused() {
        let past = Session {
            starts_at: Some(to_proto(now() - Duration::days(1))),
            capacity: 0,
            ..session()
        };
        let Err(Error::InvalidArgument(v)) = NewSession::parse(&past, now()) else {
            panic!("accepted")
        };
        let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
        assert!(
            fields.contains(&"session.starts_at") && fields.contains(&"session.capacity"),
            "{fields:?}"
        );
        let both = Session {
            course_id: "negotiation_101".into(),
            ..session()
        };
        assert!(NewSession::parse(&both, now()).is_err());
    }
}
