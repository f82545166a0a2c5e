//! Programmes and courses.

use crate::domain::ids::{CourseId, ProgramId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::{Named, NamedList};
use tiejun_platform::{
    db::{Database, Tx},
    error::{Error, on_duplicate},
    execute, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::training::v1::{Audience, Track};

use crate::domain::program::{NewCourse, NewProgram};

/// A row of `programs`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProgramRow {
    /// Id.
    pub program_id: ProgramId,
    /// Name.
    pub name: String,
    /// Employees or customers.
    pub audience: Named<Audience>,
    /// Mandatory.
    pub mandatory: bool,
    /// Its tracks (stored comma-separated).
    pub tracks: NamedList<Track>,
    /// Passing score.
    pub passing_score: i32,
    /// Due within days.
    pub due_within_days: i32,
    /// Validity days.
    pub validity_days: i32,
    /// Courses, comma-separated.
    pub course_ids: String,
    /// The employee onboarding programme.
    pub employee_onboarding: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A row of `courses`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CourseRow {
    /// Id.
    pub course_id: CourseId,
    /// Name.
    pub name: String,
    /// The track it teaches.
    pub track: Named<Track>,
    /// Prerequisites, comma-separated.
    pub prerequisites: String,
    /// Hours.
    pub hours: i32,
}

const PROGRAM_COLUMNS: &str = "program_id, name, audience, mandatory, tracks, passing_score, due_within_days, \
                               validity_days, course_ids, employee_onboarding, created_at";

/// Creates a programme; its courses must exist.
pub async fn create_program(tx: &mut Tx, p: &NewProgram, now: DateTime<Utc>) -> Result<(), Error> {
    for course in &p.course_ids {
        let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT count(*) FROM courses WHERE course_id = $1"
        )
        .bind(course)
        .fetch_one(c)
        .await?);
        if n == 0 {
            return Err(Error::invalid("program.course_ids", format!("no course {course}")));
        }
    }
    let why = if p.employee_onboarding {
        "the programme exists, or another is already the employee onboarding"
    } else {
        "a programme with this id exists"
    };
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO programs (program_id, name, audience, mandatory, tracks, passing_score, due_within_days, \
             validity_days, course_ids, employee_onboarding, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
        .bind(&p.program_id)
        .bind(&p.name)
        .bind(Named(p.audience))
        .bind(p.mandatory)
        .bind(NamedList(p.tracks.clone()).text())
        .bind(p.passing_score)
        .bind(p.due_within_days)
        .bind(p.validity_days)
        .bind(p.course_ids.join(","))
        .bind(p.employee_onboarding)
        .bind(now)
    )
    .map_err(|err| on_duplicate(err, &p.program_id, why))?;
    Ok(())
}

/// One programme.
pub async fn program(db: &Database, program_id: &ProgramId) -> Result<Option<ProgramRow>, Error> {
    let sql = format!("SELECT {PROGRAM_COLUMNS} FROM programs WHERE program_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(program_id)
        .fetch_optional(p)
        .await?))
}

/// Programmes by id, filtered by audience name ('' for all), one page plus one row.
pub async fn programs(db: &Database, audience: &str, page: &Page) -> Result<Vec<ProgramRow>, Error> {
    let sql = format!(
        "SELECT {PROGRAM_COLUMNS} FROM programs WHERE ($1 = '' OR audience = $1) ORDER BY program_id LIMIT $2 OFFSET $3"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(audience)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// Creates a course; its prerequisites must exist.
pub async fn create_course(tx: &mut Tx, c: &NewCourse) -> Result<(), Error> {
    for pre in &c.prerequisites {
        let n: i64 = on_tx!(tx, |conn| sqlx::query_scalar(
            "SELECT count(*) FROM courses WHERE course_id = $1"
        )
        .bind(pre)
        .fetch_one(conn)
        .await?);
        if n == 0 {
            return Err(Error::invalid(
                "course.prerequisite_course_ids",
                format!("no course {pre}"),
            ));
        }
    }
    execute!(
        tx,
        sqlx::query("INSERT INTO courses (course_id, name, track, prerequisites, hours) VALUES ($1, $2, $3, $4, $5)")
            .bind(&c.course_id)
            .bind(&c.name)
            .bind(Named(c.track))
            .bind(c.prerequisites.join(","))
            .bind(c.hours)
    )
    .map_err(|err| on_duplicate(err, &c.course_id, "a course with this id exists"))?;
    Ok(())
}

/// Courses by id, filtered by track name ('' for all), one page plus one row.
pub async fn courses(db: &Database, track: &str, page: &Page) -> Result<Vec<CourseRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT course_id, name, track, prerequisites, hours FROM courses WHERE ($1 = '' OR track = $1) \
         ORDER BY course_id LIMIT $2 OFFSET $3"
    )
    .bind(track)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// One programme, inside a transaction.
pub async fn program_in(tx: &mut Tx, program_id: &ProgramId) -> Result<Option<ProgramRow>, Error> {
    let sql = format!("SELECT {PROGRAM_COLUMNS} FROM programs WHERE program_id = $1");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(program_id)
        .fetch_optional(c)
        .await?))
}

/// The programmes an event assigns: the employee onboarding (RepHired), or
/// every mandatory customer programme (CustomerActivated).
pub async fn assigned_on_event(tx: &mut Tx, employee: bool) -> Result<Vec<ProgramRow>, Error> {
    let sql = format!(
        "SELECT {PROGRAM_COLUMNS} FROM programs WHERE \
         ($1 AND employee_onboarding = $2) OR (NOT $1 AND audience = 'CUSTOMER' AND mandatory = $2) \
         ORDER BY program_id"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(employee)
        .bind(true)
        .fetch_all(c)
        .await)?)
}
