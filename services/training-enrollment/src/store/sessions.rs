//! Sessions.

use crate::domain::ids::{ProgramId, SessionId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Backend, Database, Tx},
    error::Error,
    execute, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::training::v1::SessionStatus;

use crate::domain::session::NewSession;

/// A row of `sessions`, with its waitlist length.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// Id.
    pub session_id: SessionId,
    /// What was scheduled: programme or course, place, times, seats and deadlines.
    #[sqlx(flatten)]
    pub plan: NewSession,
    /// Seats taken.
    pub seats_taken: i32,
    /// Scheduled, cancelled or completed.
    pub status: Named<SessionStatus>,
    /// Learners waiting.
    pub waitlisted: i64,
}

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT s.session_id, s.program_id, s.course_id, s.city, s.venue, s.time_zone, s.starts_at, s.ends_at, \
             s.capacity, s.seats_taken, s.enrollment_deadline, s.cancellation_deadline, s.status, \
             (SELECT count(*) FROM enrollments e WHERE e.session_id = s.session_id AND e.status = 'WAITLISTED') \
             AS waitlisted FROM sessions s ",
            $rest
        )
    };
}

/// Schedules a session; its programme or course must exist.
pub async fn create(tx: &mut Tx, id: &SessionId, s: &NewSession, now: DateTime<Utc>) -> Result<(), Error> {
    let (table, key, value) = match (&s.program_id, &s.course_id) {
        (Some(p), _) => ("programs", "program_id", p.as_str()),
        (_, Some(c)) => ("courses", "course_id", c.as_str()),
        _ => {
            return Err(Error::invalid(
                "session.program_id",
                "a session teaches one programme or one course",
            ));
        }
    };
    let sql = format!("SELECT count(*) FROM {table} WHERE {key} = $1");
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_one(c)
        .await?);
    if n == 0 {
        return Err(Error::invalid(
            format!("session.{key}"),
            format!("no such {key}: {value}"),
        ));
    }
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO sessions (session_id, program_id, course_id, city, venue, time_zone, starts_at, ends_at, \
             capacity, enrollment_deadline, cancellation_deadline, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'SCHEDULED', $12)"
        )
        .bind(id)
        .bind(&s.program_id)
        .bind(&s.course_id)
        .bind(&s.city)
        .bind(&s.venue)
        .bind(&s.time_zone)
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(s.capacity)
        .bind(s.enrollment_deadline)
        .bind(s.cancellation_deadline)
        .bind(now)
    )?;
    Ok(())
}

/// One session.
pub async fn get(db: &Database, id: &SessionId) -> Result<Option<SessionRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!("WHERE s.session_id = $1"))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// One session inside a write transaction, locked on PostgreSQL: every
/// enrolment and cancellation of a session queues here. The lock is its own
/// statement, not `locked!` on the read: the read counts the waitlist in a
/// subquery, which must see what the transaction that held the lock
/// committed, not the snapshot taken before waiting for it.
pub async fn lock(tx: &mut Tx, id: &SessionId) -> Result<Option<SessionRow>, Error> {
    if let Tx::Postgres(pg) = tx {
        sqlx::query("SELECT 1 FROM sessions WHERE session_id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut **pg)
            .await?;
    }
    debug_assert!(matches!(tx.backend(), Backend::Postgres | Backend::Sqlite));
    Ok(on_tx!(tx, |c| sqlx::query_as(select!("WHERE s.session_id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// Filters of [`list`]: empty strings and `None` match everything.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// City.
    pub city: String,
    /// Programme.
    pub program_id: String,
    /// Status name.
    pub status: String,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
}

/// Sessions by start, one page plus one row.
pub async fn list(db: &Database, f: &SessionFilter, page: &Page) -> Result<Vec<SessionRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!(
        "WHERE ($1 = '' OR s.city = $1) AND ($2 = '' OR s.program_id = $2) AND ($3 = '' OR s.status = $3) \
         AND ($4 IS NULL OR s.starts_at >= $4) AND ($5 IS NULL OR s.starts_at < $5) \
         ORDER BY s.starts_at, s.session_id LIMIT $6 OFFSET $7"
    ))
    .bind(&f.city)
    .bind(&f.program_id)
    .bind(&f.status)
    .bind(f.from)
    .bind(f.to)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// Takes a seat if one is left.
pub async fn take_seat(tx: &mut Tx, id: &SessionId) -> Result<bool, Error> {
    let n = execute!(
        tx,
        sqlx::query(
            "UPDATE sessions SET seats_taken = seats_taken + 1 WHERE session_id = $1 AND seats_taken < capacity"
        )
        .bind(id)
    )?;
    Ok(n == 1)
}

/// Gives a seat back.
pub async fn free_seat(tx: &mut Tx, id: &SessionId) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE sessions SET seats_taken = seats_taken - 1 WHERE session_id = $1").bind(id)
    )?;
    Ok(())
}

/// The next waitlist number of a session.
pub async fn next_waitlist_seq(tx: &mut Tx, id: &SessionId) -> Result<i32, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "UPDATE sessions SET waitlist_next = waitlist_next + 1 WHERE session_id = $1 RETURNING waitlist_next"
    )
    .bind(id)
    .fetch_one(c)
    .await?))
}

/// Marks a session cancelled and frees every seat.
pub async fn cancel(tx: &mut Tx, id: &SessionId) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE sessions SET status = 'CANCELLED', seats_taken = 0 WHERE session_id = $1").bind(id)
    )?;
    Ok(())
}

/// Upcoming open sessions of a programme (enrolment still open at `now`), by start.
pub async fn upcoming(db: &Database, program_id: &ProgramId, now: DateTime<Utc>) -> Result<Vec<SessionRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(select!(
        "WHERE s.program_id = $1 AND s.status = 'SCHEDULED' AND s.enrollment_deadline >= $2 \
         ORDER BY s.starts_at, s.session_id"
    ))
    .bind(program_id)
    .bind(now)
    .fetch_all(p)
    .await?))
}
