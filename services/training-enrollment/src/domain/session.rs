//! Sessions: where and when, how many seats, until when one may enrol or cancel.

use crate::domain::ids::{CourseId, ProgramId};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tiejun_platform::{
    clock,
    error::{Error, FieldViolation},
};
use tiejun_proto::training::v1::{Session, SessionStatus};

/// Headquarters, AutoEnroll's fallback city: the spellings of its name that
/// sessions use (`--headquarters`, `TIEJUN_HEADQUARTERS`; by default
/// Hangzhou, 杭州), compared without regard to ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headquarters(Vec<String>);

impl Headquarters {
    /// The headquarters named by `spellings` (at least one, none empty).
    pub fn new(spellings: &[String]) -> Result<Self, String> {
        let names: Vec<String> = spellings.iter().map(|s| s.trim().to_owned()).collect();
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(format!(
                "headquarters needs at least one non-empty city name, not {spellings:?}"
            ));
        }
        Ok(Self(names))
    }

    /// True when `city` is headquarters.
    pub fn is(&self, city: &str) -> bool {
        self.0.iter().any(|name| name.eq_ignore_ascii_case(city.trim()))
    }
}

impl Default for Headquarters {
    fn default() -> Self {
        Self(vec!["Hangzhou".to_owned(), "杭州".to_owned()])
    }
}

/// A session AutoEnroll may choose, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its city.
    pub city: &'a str,
    /// A seat is left.
    pub has_seat: bool,
}

/// AutoEnroll's choice among `upcoming` (in start order) for a learner in
/// `city` (empty: unknown): the first with a seat in the learner's city,
/// else with a seat at headquarters, else (the waitlist) the first in the
/// learner's city, at headquarters, anywhere. `None` when there is none.
pub fn choose(upcoming: &[Candidate<'_>], city: &str, hq: &Headquarters) -> Option<usize> {
    let here = |c: &Candidate<'_>| !city.is_empty() && c.city == city;
    let at_hq = |c: &Candidate<'_>| hq.is(c.city);
    let first = |wanted: &dyn Fn(&Candidate<'_>) -> bool| upcoming.iter().position(wanted);
    first(&|c| here(c) && c.has_seat)
        .or_else(|| first(&|c| at_hq(c) && c.has_seat))
        .or_else(|| first(&here))
        .or_else(|| first(&at_hq))
        .or((!upcoming.is_empty()).then_some(0))
}
/// Default cancellation deadline: this long before the start.
pub const CANCEL_BEFORE: Duration = Duration::hours(24);

/// A validated session to schedule, and the columns of a session row that
/// hold it (`store::sessions::SessionRow` reads them flattened).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NewSession {
    /// Programme taught (or course).
    pub program_id: Option<ProgramId>,
    /// Course taught (or programme).
    pub course_id: Option<CourseId>,
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
                program_id: program_id.map(Into::into),
                course_id: course_id.map(Into::into),
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

/// Whether cancelling a session in `status` changes anything: a scheduled
/// one is cancelled with its enrolments, a cancelled one already is, and one
/// that was held cannot be (FAILED_PRECONDITION `SESSION_COMPLETED`).
pub fn cancels(status: SessionStatus) -> Result<bool, Error> {
    match status {
        SessionStatus::Completed => Err(Error::precondition("SESSION_COMPLETED", "the session was held")),
        SessionStatus::Scheduled => Ok(true),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(city: &str, has_seat: bool) -> Candidate<'_> {
        Candidate { city, has_seat }
    }

    #[test]
    fn autoenroll_prefers_a_seat_at_home_then_at_headquarters_then_the_waitlist() {
        let hq = Headquarters::default();
        let sessions = [
            at("Ningbo", false),
            at("杭州", true),
            at("Wenzhou", true),
            at("Ningbo", true),
        ];
        assert_eq!(choose(&sessions, "Ningbo", &hq), Some(3), "a seat at home");
        assert_eq!(choose(&sessions, "Suzhou", &hq), Some(1), "a seat at headquarters");
        assert_eq!(choose(&sessions, "", &hq), Some(1), "no city: headquarters");
        let full = [at("Wenzhou", false), at("Ningbo", false), at("HANGZHOU", false)];
        assert_eq!(choose(&full, "Ningbo", &hq), Some(1), "the waitlist at home");
        assert_eq!(choose(&full, "Suzhou", &hq), Some(2), "the waitlist at headquarters");
        assert_eq!(choose(&full[..1], "Suzhou", &hq), Some(0), "the waitlist anywhere");
        assert_eq!(choose(&[], "Ningbo", &hq), None);
    }

    #[test]
    fn headquarters_is_configured_by_its_spellings() {
        let shanghai = Headquarters::new(&["Shanghai".into(), "上海".into()]).expect("valid");
        assert!(shanghai.is("shanghai") && shanghai.is("上海") && !shanghai.is("Hangzhou"));
        assert!(Headquarters::new(&[]).is_err());
        assert!(Headquarters::new(&[" ".into()]).is_err());
    }
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

    #[test]
    fn a_scheduled_session_is_cancelled_a_held_one_cannot_be() {
        assert_eq!(cancels(SessionStatus::Scheduled).ok(), Some(true));
        assert_eq!(cancels(SessionStatus::Cancelled).ok(), Some(false), "already");
        let held = cancels(SessionStatus::Completed).expect_err("held");
        assert_eq!(held.code(), tonic::Code::FailedPrecondition);
    }
}
