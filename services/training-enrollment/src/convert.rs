//! Rows as messages: what every handler encodes, in one place. Stored
//! enums are typed on the rows (`tiejun_platform::stored`), so nothing here
//! parses a name, except a certificate's scores, whose corrupt track is an
//! error.

use chrono::{DateTime, Utc};
use tiejun_platform::{
    clock::to_proto,
    error::Error,
    stored::{self, Stored as _},
};
use tiejun_proto::training::v1::{
    Assignment, AssignmentStatus, Certificate, Course, Enrollment, Program, Session, Track, TrackScore,
};

use crate::{
    domain::assignment,
    store::{
        assignments::AssignmentRow,
        catalog::{CourseRow, ProgramRow},
        completion::CertificateRow,
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
        audience: r.audience.0 as i32,
        tracks: r.tracks.0.iter().map(|t| *t as i32).collect(),
        course_ids: list(&r.course_ids),
        program_id: r.program_id.into(),
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
        track: r.track.0 as i32,
        prerequisite_course_ids: list(&r.prerequisites),
        course_id: r.course_id.into(),
        name: r.name,
        hours: r.hours,
    }
}

/// A session.
pub fn session(r: SessionRow) -> Session {
    let plan = r.plan;
    Session {
        status: r.status.0 as i32,
        session_id: r.session_id.into(),
        program_id: plan.program_id.unwrap_or_default().into(),
        course_id: plan.course_id.unwrap_or_default().into(),
        city: plan.city,
        venue: plan.venue,
        time_zone: plan.time_zone,
        starts_at: Some(to_proto(plan.starts_at)),
        ends_at: Some(to_proto(plan.ends_at)),
        capacity: plan.capacity,
        seats_taken: r.seats_taken,
        waitlisted: i32::try_from(r.waitlisted).unwrap_or(i32::MAX),
        enrollment_deadline: Some(to_proto(plan.enrollment_deadline)),
        cancellation_deadline: Some(to_proto(plan.cancellation_deadline)),
    }
}

/// An enrollment.
pub fn enrollment(r: EnrollmentRow) -> Enrollment {
    Enrollment {
        status: r.status.0 as i32,
        waitlist_position: i32::try_from(r.waitlist_position).unwrap_or(i32::MAX),
        enrollment_id: r.enrollment_id.into(),
        session_id: r.session_id.into(),
        learner_id: r.learner_id.into(),
        created_at: Some(to_proto(r.created_at)),
        promoted_at: r.promoted_at.map(to_proto),
        cancel_reason: r.cancel_reason,
    }
}

/// An assignment as it stands at `now` (completed, overdue or open).
pub fn assignment(row: AssignmentRow, now: DateTime<Utc>) -> Assignment {
    let status: AssignmentStatus = assignment::status(row.completed_at, row.due_at, now);
    Assignment {
        source: row.source.0 as i32,
        status: status as i32,
        assigned_at: Some(to_proto(row.assigned_at)),
        due_at: Some(to_proto(row.due_at)),
        completed_at: row.completed_at.map(to_proto),
        assignment_id: row.assignment_id.into(),
        learner_id: row.learner_id.into(),
        program_id: row.program_id.into(),
        city: row.city,
        account_id: row.account_id.unwrap_or_default().into(),
    }
}

/// A certificate's scores as stored: `CULTURE_VALUES=85,PRODUCT_KNOWLEDGE=90`.
pub fn scores_text(scores: &[(Track, i32)]) -> String {
    scores
        .iter()
        .map(|(track, score)| format!("{}={score}", track.stored()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A certificate; a stored score that does not parse is a corrupt row.
pub fn certificate(row: &CertificateRow) -> Result<Certificate, Error> {
    let corrupt = || {
        Error::internal(format!(
            "corrupt row: certificate {} scores {:?}",
            row.certificate_id, row.scores
        ))
    };
    let mut scores = Vec::new();
    for pair in row.scores.split(',').filter(|p| !p.is_empty()) {
        let (track, score) = pair.split_once('=').ok_or_else(corrupt)?;
        let track: Track = stored::parse(track).map_err(|_| corrupt())?;
        scores.push(TrackScore {
            track: track as i32,
            score: score.parse().map_err(|_| corrupt())?,
        });
    }
    Ok(Certificate {
        certificate_id: row.certificate_id.to_string(),
        learner_id: row.learner_id.to_string(),
        program_id: row.program_id.to_string(),
        issued_at: Some(to_proto(row.issued_at)),
        valid_until: row.valid_until.map(to_proto),
        scores,
    })
}
