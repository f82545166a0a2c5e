//! Programmes and courses.

use crate::domain::ids::{CourseId, ProgramId};
use tiejun_platform::error::{Error, FieldViolation};
use tiejun_proto::training::v1::{Audience, Course, Program, Track};

/// Days to complete the employee onboarding programme (DESIGN §6).
pub const EMPLOYEE_DUE_DAYS: i32 = 60;
/// Days to complete a customer programme (DESIGN §6).
pub const CUSTOMER_DUE_DAYS: i32 = 90;
/// Passing score per track when none is given.
pub const DEFAULT_PASSING_SCORE: i32 = 60;
/// What the employee onboarding assesses (DESIGN §6).
pub const ONBOARDING_TRACKS: [Track; 3] = [Track::CultureValues, Track::ProductKnowledge, Track::SalesSkills];

/// The employee onboarding programme as a caller creates it (DESIGN §6):
/// `employee_onboarding`, for employees, mandatory, assessing
/// [`ONBOARDING_TRACKS`], the rest left to the defaults. The demo data, the
/// tests and this module's own tests start from it.
pub fn employee_onboarding(name: &str) -> Program {
    Program {
        program_id: "employee_onboarding".into(),
        name: name.into(),
        audience: Audience::Employee as i32,
        mandatory: true,
        tracks: ONBOARDING_TRACKS.map(|t| t as i32).to_vec(),
        employee_onboarding: true,
        ..Default::default()
    }
}

/// A validated programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProgram {
    /// Id.
    pub program_id: ProgramId,
    /// Name.
    pub name: String,
    /// Audience.
    pub audience: Audience,
    /// Mandatory.
    pub mandatory: bool,
    /// Tracks, no duplicates.
    pub tracks: Vec<Track>,
    /// Passing score per track.
    pub passing_score: i32,
    /// Days from assignment to due.
    pub due_within_days: i32,
    /// Days a completion stays valid (0 = forever).
    pub validity_days: i32,
    /// Courses.
    pub course_ids: Vec<CourseId>,
    /// The employee onboarding programme.
    pub employee_onboarding: bool,
}

impl NewProgram {
    /// Validates `p` (fields under `program.`).
    pub fn parse(p: &Program) -> Result<Self, Error> {
        let mut v = Vec::new();
        let mut field = |name: &str, why: &str| v.push(FieldViolation::new(format!("program.{name}"), why));
        let program_id = super::key(&p.program_id).map_err(|e| field("program_id", e)).ok();
        let name = super::text(&p.name, 1, 200).map_err(|e| field("name", e)).ok();
        let audience = match Audience::try_from(p.audience) {
            Ok(a @ (Audience::Employee | Audience::Customer)) => Some(a),
            _ => {
                field("audience", "must be EMPLOYEE or CUSTOMER");
                None
            }
        };
        let mut tracks = Vec::new();
        for t in &p.tracks {
            match Track::try_from(*t) {
                Ok(Track::Unspecified) | Err(_) => field("tracks", "unknown track"),
                Ok(t) if tracks.contains(&t) => field("tracks", "a track is listed twice"),
                Ok(t) => tracks.push(t),
            }
        }
        if tracks.is_empty() {
            field("tracks", "at least one track is assessed");
        }
        let passing_score = match p.passing_score {
            0 => DEFAULT_PASSING_SCORE,
            s if (1..=100).contains(&s) => s,
            _ => {
                field("passing_score", "must be between 1 and 100");
                0
            }
        };
        let due_within_days = match (p.due_within_days, audience) {
            (0, Some(Audience::Customer)) => CUSTOMER_DUE_DAYS,
            (0, _) => EMPLOYEE_DUE_DAYS,
            (d, _) if (1..=3650).contains(&d) => d,
            _ => {
                field("due_within_days", "must be between 1 and 3650");
                0
            }
        };
        if !(0..=36500).contains(&p.validity_days) {
            field("validity_days", "must be between 0 (forever) and 36500");
        }
        if p.employee_onboarding && audience != Some(Audience::Employee) {
            field(
                "employee_onboarding",
                "only an EMPLOYEE programme can be the employee onboarding",
            );
        }
        let mut course_ids = Vec::new();
        for c in &p.course_ids {
            match super::key(c) {
                Ok(c) => course_ids.push(CourseId::from(c)),
                Err(e) => field("course_ids", e),
            }
        }
        match (program_id, name, audience) {
            (Some(program_id), Some(name), Some(audience)) if v.is_empty() => Ok(Self {
                program_id: program_id.into(),
                name,
                audience,
                mandatory: p.mandatory,
                tracks,
                passing_score,
                due_within_days,
                validity_days: p.validity_days,
                course_ids,
                employee_onboarding: p.employee_onboarding,
            }),
            _ => Err(Error::InvalidArgument(v)),
        }
    }
}

/// A validated course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCourse {
    /// Id.
    pub course_id: CourseId,
    /// Name.
    pub name: String,
    /// Track.
    pub track: Track,
    /// Prerequisites.
    pub prerequisites: Vec<String>,
    /// Hours.
    pub hours: i32,
}

impl NewCourse {
    /// Validates `c` (fields under `course.`).
    pub fn parse(c: &Course) -> Result<Self, Error> {
        let mut v = Vec::new();
        let mut field = |name: &str, why: &str| v.push(FieldViolation::new(format!("course.{name}"), why));
        let course_id = super::key(&c.course_id).map_err(|e| field("course_id", e)).ok();
        let name = super::text(&c.name, 1, 200).map_err(|e| field("name", e)).ok();
        let track = match Track::try_from(c.track) {
            Ok(Track::Unspecified) | Err(_) => {
                field("track", "unknown track");
                None
            }
            Ok(t) => Some(t),
        };
        let mut prerequisites = Vec::new();
        for p in &c.prerequisite_course_ids {
            match super::key(p) {
                Ok(p) if Some(&p) == course_id.as_ref() => {
                    field("prerequisite_course_ids", "a course cannot require itself")
                }
                Ok(p) => prerequisites.push(p),
                Err(e) => field("prerequisite_course_ids", e),
            }
        }
        let hours = if (1..=1000).contains(&c.hours) {
            c.hours
        } else {
            field("hours", "must be between 1 and 1000");
            0
        };
        match (course_id, name, track) {
            (Some(course_id), Some(name), Some(track)) if v.is_empty() => Ok(Self {
                course_id: course_id.into(),
                name,
                track,
                prerequisites,
                hours,
            }),
            _ => Err(Error::InvalidArgument(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onboarding() -> Program {
        employee_onboarding("百年大计 onboarding")
    }

    #[test]
    fn defaults_follow_the_audience() {
        let p = NewProgram::parse(&onboarding()).expect("valid");
        assert_eq!((p.due_within_days, p.passing_score), (60, 60));
        let customer = Program {
            program_id: "customer_onboarding".into(),
            audience: Audience::Customer as i32,
            employee_onboarding: false,
            ..onboarding()
        };
        assert_eq!(NewProgram::parse(&customer).expect("valid").due_within_days, 90);
    }

    #[test]
    fn bad_programmes_name_each_field() {
        let bad = Program {
            tracks: vec![],
            audience: Audience::Customer as i32,
            passing_score: 101,
            ..onboarding()
        };
        let Err(Error::InvalidArgument(v)) = NewProgram::parse(&bad) else {
            panic!("accepted")
        };
        let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["program.tracks", "program.passing_score", "program.employee_onboarding"]
        );
    }
}
