//! Rows to messages.

use tiejun_platform::clock::to_proto;
use tiejun_proto::training::v1::{
    Audience, Course, Enrollment, EnrollmentStatus, Program, Session, SessionStatus, Track,
};

use crate::{
    domain::program::tracks_from_text,
    store::{
        catalog::{CourseRow, ProgramRow},
        enrollments::EnrollmentRow,
        sessions::SessionRow,
    },
};

fn list(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A programme.
pub fn program(r: ProgramRow) -> Program {
    Program {
        audience: Audience::from_str_name(&format!("AUDIENCE_{}", r.audience)).unwrap_or_default() as i32,
        tracks: tracks_from_text(&r.tracks).into_iter().map(|t| t as i32).collect(),
        course_ids: list(&r.course_ids),
        program_id: r.program_id,
        name: r.name,
        mandatory: r.mandatory,
        passing_score: r.passing_score,
        due_within_days: r.due_within_days,
        validity_days: r.validity_days,
        employee_onboarding: r.employee_onboarding,
        created_at: Some(to_proto(r.created_at)),
    }
}

/// A course.
pub fn course(r: CourseRow) -> Course {
    Course {
        track: Track::from_str_name(&format!("TRACK_{}", r.track)).unwrap_or_default() as i32,
        prerequisite_course_ids: list(&r.prerequisites),
        course_id: r.course_id,
        name: r.name,
        hours: r.hours,
    }
}

/// A session.
pub fn session(r: SessionRow) -> Session {
    Session {
        status: SessionStatus::from_str_name(&format!("SESSION_STATUS_{}", r.status)).unwrap_or_default() as i32,
        session_id: r.session_id,
        program_id: r.program_id.unwrap_or_default(),
        course_id: r.course_id.unwrap_or_default(),
        city: r.city,
        venue: r.venue,
        time_zone: r.time_zone,
        starts_at: Some(to_proto(r.starts_at)),
        ends_at: Some(to_proto(r.ends_at)),
        capacity: r.capacity,
        seats_taken: r.seats_taken,
        waitlisted: i32::try_from(r.waitlisted).unwrap_or(i32::MAX),
        enrollment_deadline: Some(to_proto(r.enrollment_deadline)),
        cancellation_deadline: Some(to_proto(r.cancellation_deadline)),
    }
}

/// An enrollment.
pub fn enrollment(r: EnrollmentRow) -> Enrollment {
    Enrollment {
        status: EnrollmentStatus::from_str_name(&format!("ENROLLMENT_STATUS_{}", r.status)).unwrap_or_default() as i32,
        waitlist_position: i32::try_from(r.waitlist_position).unwrap_or(i32::MAX),
        enrollment_id: r.enrollment_id,
        session_id: r.session_id,
        learner_id: r.learner_id,
        created_at: Some(to_proto(r.created_at)),
        promoted_at: r.promoted_at.map(to_proto),
        cancel_reason: r.cancel_reason,
    }
}
