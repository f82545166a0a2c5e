//! Enrolment: a seat while one is left, else the waitlist; AutoEnroll's
//! choice of session (`domain::session::choose`); cancelling, which hands
//! the seat to the oldest waitlisted learner who still needs it, in the same
//! transaction; and the attendance and scores that complete a programme.

use crate::domain::ids::{EnrollmentId, LearnerId, ProgramId, SessionId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    stored::Stored as _,
};
use tiejun_proto::training::v1::{EnrollmentStatus, SessionStatus, Track};

use crate::{
    domain::session::{Candidate, Headquarters, choose},
    store::{
        assignments,
        completion::{self, CertificateRow},
        enrollments::{self, EnrollmentRow},
        sessions::{self, SessionRow},
    },
};

/// Enrolments by result (ENROLLED, WAITLISTED), beside the RPC metrics:
/// counted by whatever placed the learner (AutoEnroll, Enroll, the events
/// consumer), after its commit.
static ENROLLMENTS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
    tiejun_platform::metrics::domain_counter(
        "training",
        "tiejun.training.enrollments",
        "{enrollment}",
        "Enrolments, by result",
    )
});

/// Counts one committed enrolment.
pub fn enrolled(result: EnrollmentStatus) {
    ENROLLMENTS.add(1, &[opentelemetry::KeyValue::new("result", result.stored())]);
}

/// Enrols `learner` in a session: a seat while one is left, else the
/// waitlist; enrolling again returns the first enrolment. The session's row
/// lock orders every change to its seats.
pub async fn enroll(
    tx: &mut Tx,
    session_id: &SessionId,
    learner: &LearnerId,
    now: DateTime<Utc>,
) -> Result<EnrollmentRow, Error> {
    let session = sessions::lock(tx, session_id)
        .await?
        .ok_or_else(|| Error::missing(session_id))?;
    if session.status != SessionStatus::Scheduled {
        return Err(Error::precondition(
            "SESSION_NOT_OPEN",
            format!("the session is {}", session.status),
        ));
    }
    if now > session.plan.enrollment_deadline {
        return Err(Error::precondition(
            "ENROLLMENT_CLOSED",
            "the enrolment deadline has passed",
        ));
    }
    if let Some(existing) = enrollments::active(tx, session_id, learner).await? {
        return Ok(existing);
    }
    let waitlist_seq = if sessions::take_seat(tx, session_id).await? {
        None
    } else {
        Some(sessions::next_waitlist_seq(tx, session_id).await?)
    };
    let id = EnrollmentId::mint();
    enrollments::insert(tx, &id, session_id, learner, waitlist_seq, now).await
}

/// AutoEnroll: the next session of `program_id` chosen for the learner's
/// city (`city`, else the city of their assignment), headquarters, or the
/// waitlist. NO_SESSION when the programme has none open.
pub async fn place(
    tx: &mut Tx,
    db: &Database,
    hq: &Headquarters,
    learner: &LearnerId,
    program_id: &ProgramId,
    city: &str,
    now: DateTime<Utc>,
) -> Result<(EnrollmentRow, SessionRow), Error> {
    let city = match city {
        "" => assignments::get_in(tx, learner, program_id)
            .await?
            .map(|a| a.city)
            .unwrap_or_default(),
        c => c.to_owned(),
    };
    let upcoming = sessions::upcoming(db, program_id, now).await?;
    let candidates: Vec<Candidate<'_>> = upcoming
        .iter()
        .map(|s| Candidate {
            city: &s.plan.city,
            has_seat: s.seats_taken < s.plan.capacity,
        })
        .collect();
    let chosen = choose(&candidates, &city, hq)
        .map(|i| &upcoming[i])
        .ok_or_else(|| Error::precondition("NO_SESSION", format!("no open session of {program_id}")))?;
    let row = enroll(tx, &chosen.session_id, learner, now).await?;
    let session = sessions::lock(tx, &chosen.session_id)
        .await?
        .ok_or_else(|| Error::missing(&chosen.session_id))?;
    Ok((row, session))
}

/// What a cancellation changed.
#[derive(Debug, Clone)]
pub struct Cancelled {
    /// The enrolment, after it.
    pub enrollment: EnrollmentRow,
    /// The waitlisted enrolment that took the seat.
    pub promoted: Option<EnrollmentRow>,
}

/// Cancels enrolment `found` (read by the caller to authorise it) with
/// `reason`, before the session's cancellation deadline. A freed seat goes
/// to the oldest waitlisted learner who is not seated in another session;
/// one who is, is taken off the waitlist. Cancelling twice changes nothing.
pub async fn cancel(tx: &mut Tx, found: &EnrollmentRow, reason: &str, now: DateTime<Utc>) -> Result<Cancelled, Error> {
    let id = &found.enrollment_id;
    // The session first: every change to its seats queues on its row.
    let session = sessions::lock(tx, &found.session_id)
        .await?
        .ok_or_else(|| Error::missing(&found.session_id))?;
    let row = enrollment(tx, id).await?;
    let from = row.status.0;
    if from == EnrollmentStatus::Cancelled {
        return Ok(Cancelled {
            enrollment: row,
            promoted: None,
        });
    }
    if !matches!(from, EnrollmentStatus::Enrolled | EnrollmentStatus::Waitlisted) {
        return Err(Error::precondition(
            "ENROLLMENT_FINAL",
            format!("the enrollment is {}", row.status),
        ));
    }
    if now > session.plan.cancellation_deadline {
        return Err(Error::precondition(
            "CANCELLATION_CLOSED",
            "the cancellation deadline has passed",
        ));
    }
    let why = if reason.is_empty() {
        "cancelled by the learner"
    } else {
        reason
    };
    enrollments::set_status(tx, id, from, EnrollmentStatus::Cancelled, why, now).await?;
    let mut promoted = None;
    if from == EnrollmentStatus::Enrolled {
        for waiting in enrollments::waitlist(tx, &row.session_id).await? {
            if enrollments::seated_elsewhere(tx, &row.session_id, &waiting.learner_id).await? {
                let skip = "no longer needed: enrolled in another session";
                let (waitlisted, cancelled) = (EnrollmentStatus::Waitlisted, EnrollmentStatus::Cancelled);
                enrollments::set_status(tx, &waiting.enrollment_id, waitlisted, cancelled, skip, now).await?;
                continue;
            }
            enrollments::promote(tx, &waiting.enrollment_id, now).await?;
            promoted = enrollments::get_in(tx, &waiting.enrollment_id).await?;
            break;
        }
        if promoted.is_none() {
            sessions::free_seat(tx, &row.session_id).await?;
        }
    }
    Ok(Cancelled {
        enrollment: enrollment(tx, id).await?,
        promoted,
    })
}

async fn enrollment(tx: &mut Tx, id: &EnrollmentId) -> Result<EnrollmentRow, Error> {
    enrollments::get_in(tx, id).await?.ok_or_else(|| Error::missing(id))
}

/// Records whether the learner of enrolment `found` attended its session
/// (once it has started). Attending a programme's session may complete it.
pub async fn attendance(
    tx: &mut Tx,
    found: &EnrollmentRow,
    attended: bool,
    now: DateTime<Utc>,
) -> Result<EnrollmentRow, Error> {
    let id = &found.enrollment_id;
    let session = sessions::lock(tx, &found.session_id)
        .await?
        .ok_or_else(|| Error::missing(&found.session_id))?;
    if now < session.plan.starts_at {
        return Err(Error::precondition(
            "SESSION_NOT_STARTED",
            "attendance is recorded once the session has started",
        ));
    }
    let row = enrollment(tx, id).await?;
    let to = if attended {
        EnrollmentStatus::Attended
    } else {
        EnrollmentStatus::NoShow
    };
    if row.status != to {
        if row.status != EnrollmentStatus::Enrolled {
            return Err(Error::precondition(
                "NOT_SEATED",
                format!("the enrollment is {}", row.status),
            ));
        }
        enrollments::set_status(tx, id, EnrollmentStatus::Enrolled, to, "", now).await?;
        if let (true, Some(program_id)) = (attended, &session.plan.program_id) {
            completion::lock(tx, &row.learner_id, program_id).await?;
            completion::attended(tx, &row.learner_id, program_id, session.plan.starts_at).await?;
            super::completion::if_done(tx, &row.learner_id, program_id, Some(session.plan.starts_at), now).await?;
        }
    }
    enrollment(tx, id).await
}

/// Records a learner's score on a track of a programme (the latest counts);
/// the certificate, if this completes it.
pub async fn assessment(
    tx: &mut Tx,
    learner: &LearnerId,
    program_id: &ProgramId,
    track: Track,
    score: i32,
    now: DateTime<Utc>,
) -> Result<Option<CertificateRow>, Error> {
    let attended = completion::lock(tx, learner, program_id).await?;
    completion::score(tx, learner, program_id, track, score, now).await?;
    super::completion::if_done(tx, learner, program_id, attended, now).await
}
