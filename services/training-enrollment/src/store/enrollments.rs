//! Enrollments and the waitlist.

use crate::domain::ids::{EnrollmentId, LearnerId, SessionId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::training::v1::EnrollmentStatus;

/// A row of `enrollments`, with its live waitlist position.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrollmentRow {
    /// Id.
    pub enrollment_id: EnrollmentId,
    /// Session.
    pub session_id: SessionId,
    /// Learner.
    pub learner_id: LearnerId,
    /// Status.
    pub status: Named<EnrollmentStatus>,
    /// Waitlist number (WAITLISTED only).
    pub waitlist_seq: Option<i32>,
    /// Position among those still waiting (1 = next), WAITLISTED only.
    pub waitlist_position: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Promoted from the waitlist.
    pub promoted_at: Option<DateTime<Utc>>,
    /// Why cancelled.
    pub cancel_reason: String,
}

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT e.enrollment_id, e.session_id, e.learner_id, e.status, e.waitlist_seq, \
             CASE WHEN e.status = 'WAITLISTED' THEN (SELECT count(*) FROM enrollments w WHERE w.session_id = e.session_id \
             AND w.status = 'WAITLISTED' AND w.waitlist_seq <= e.waitlist_seq) ELSE 0 END AS waitlist_position, \
             e.created_at, e.promoted_at, e.cancel_reason FROM enrollments e ",
            $rest
        )
    };
}

/// The learner's active (ENROLLED or WAITLISTED) enrollment in a session.
pub async fn active(
    tx: &mut Tx,
    session_id: &SessionId,
    learner_id: &LearnerId,
) -> Result<Option<EnrollmentRow>, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(select!(
        "WHERE e.session_id = $1 AND e.learner_id = $2 AND e.status IN ('ENROLLED', 'WAITLISTED')"
    ))
    .bind(session_id)
    .bind(learner_id)
    .fetch_optional(c)
    .await?))
}

/// Records an enrollment: ENROLLED, or WAITLISTED with its number.
pub async fn insert(
    tx: &mut Tx,
    id: &EnrollmentId,
    session_id: &SessionId,
    learner_id: &LearnerId,
    waitlist_seq: Option<i32>,
    now: DateTime<Utc>,
) -> Result<EnrollmentRow, Error> {
    let status = if waitlist_seq.is_some() {
        "WAITLISTED"
    } else {
        "ENROLLED"
    };
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO enrollments (enrollment_id, session_id, learner_id, status, waitlist_seq, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)"
        )
        .bind(id)
        .bind(session_id)
        .bind(learner_id)
        .bind(status)
        .bind(waitlist_seq)
        .bind(now)
    )?;
    get_in(tx, id)
        .await?
        .ok_or_else(|| Error::Aborted("enrollment vanished; retry".into()))
}

/// One enrollment, inside a transaction.
pub async fn get_in(tx: &mut Tx, id: &EnrollmentId) -> Result<Option<EnrollmentRow>, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(select!("WHERE e.enrollment_id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// One enrollment.
pub async fn get(db: &Database, id: &EnrollmentId) -> Result<Option<EnrollmentRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!("WHERE e.enrollment_id = $1"))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// Sets a status (and reason), from the status it had.
pub async fn set_status(
    tx: &mut Tx,
    id: &EnrollmentId,
    from: EnrollmentStatus,
    to: EnrollmentStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let n = execute!(
        tx,
        sqlx::query(
            "UPDATE enrollments SET status = $3, cancel_reason = $4, updated_at = $5 \
             WHERE enrollment_id = $1 AND status = $2"
        )
        .bind(id)
        .bind(Named(from))
        .bind(Named(to))
        .bind(reason)
        .bind(now)
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::Aborted("the enrollment changed concurrently; retry".into()))
    }
}

/// Moves a waitlisted learner into a seat.
pub async fn promote(tx: &mut Tx, id: &EnrollmentId, now: DateTime<Utc>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE enrollments SET status = 'ENROLLED', promoted_at = $2, updated_at = $2 \
             WHERE enrollment_id = $1 AND status = 'WAITLISTED'"
        )
        .bind(id)
        .bind(now)
    )?;
    Ok(())
}

/// The waitlist of a session, oldest first.
pub async fn waitlist(tx: &mut Tx, session_id: &SessionId) -> Result<Vec<EnrollmentRow>, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(select!(
        "WHERE e.session_id = $1 AND e.status = 'WAITLISTED' ORDER BY e.waitlist_seq"
    ))
    .bind(session_id)
    .fetch_all(c)
    .await?))
}

/// Whether the learner holds a seat in another session teaching the same
/// programme or course (then they no longer need this one).
pub async fn seated_elsewhere(tx: &mut Tx, session_id: &SessionId, learner_id: &LearnerId) -> Result<bool, Error> {
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM enrollments e JOIN sessions s ON s.session_id = e.session_id \
         JOIN sessions mine ON mine.session_id = $1 \
         WHERE e.learner_id = $2 AND e.session_id <> $1 AND e.status = 'ENROLLED' AND s.status = 'SCHEDULED' \
         AND (s.program_id = mine.program_id OR s.course_id = mine.course_id)"
    )
    .bind(session_id)
    .bind(learner_id)
    .fetch_one(c)
    .await?);
    Ok(n > 0)
}

/// Cancels every active enrollment of a session; returns how many.
pub async fn cancel_all(tx: &mut Tx, session_id: &SessionId, reason: &str, now: DateTime<Utc>) -> Result<u64, Error> {
    Ok(execute!(
        tx,
        sqlx::query(
            "UPDATE enrollments SET status = 'CANCELLED', cancel_reason = $2, updated_at = $3 \
             WHERE session_id = $1 AND status IN ('ENROLLED', 'WAITLISTED')"
        )
        .bind(session_id)
        .bind(reason)
        .bind(now)
    )?)
}

/// Enrollments of a session or a learner: seats first, then the waitlist in order.
pub async fn list(
    db: &Database,
    session_id: &str,
    learner_id: &str,
    status: &str,
    page: &Page,
) -> Result<Vec<EnrollmentRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!(
        "WHERE ($1 = '' OR e.session_id = $1) AND ($2 = '' OR e.learner_id = $2) AND ($3 = '' OR e.status = $3) \
         ORDER BY e.session_id, CASE WHEN e.status = 'WAITLISTED' THEN 1 ELSE 0 END, e.waitlist_seq, e.created_at, \
         e.enrollment_id LIMIT $4 OFFSET $5"
    ))
    .bind(session_id)
    .bind(learner_id)
    .bind(status)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// Every enrollment (optionally of one status), newest first: what staff
/// list without naming a session or a learner.
pub async fn list_newest(db: &Database, status: &str, page: &Page) -> Result<Vec<EnrollmentRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!(
        "WHERE ($1 = '' OR e.status = $1) ORDER BY e.created_at DESC, e.enrollment_id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(status)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}
