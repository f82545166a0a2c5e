//! Progress towards a programme: attendance, scores per track, and the
//! certificate issued when everything is done. Every change locks the
//! learner's `progress` row first, so concurrent scores make one certificate.

use crate::domain::ids::{CertificateId, LearnerId, ProgramId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, locked, on_pool, on_tx,
};
use tiejun_proto::training::v1::Track;

/// A row of `certificates`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CertificateRow {
    /// Verifiable id.
    pub certificate_id: CertificateId,
    /// Learner.
    pub learner_id: LearnerId,
    /// Programme.
    pub program_id: ProgramId,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Valid until (None: forever).
    pub valid_until: Option<DateTime<Utc>>,
    /// `TRACK=score` pairs, comma-separated.
    pub scores: String,
}

const CERT_COLUMNS: &str = "certificate_id, learner_id, program_id, issued_at, valid_until, scores";

/// Locks (creating if needed) the learner's progress on a programme; returns
/// when they attended a session of it.
pub async fn lock(tx: &mut Tx, learner_id: &LearnerId, program_id: &ProgramId) -> Result<Option<DateTime<Utc>>, Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO progress (learner_id, program_id) VALUES ($1, $2) \
             ON CONFLICT (learner_id, program_id) DO NOTHING"
        )
        .bind(learner_id)
        .bind(program_id)
    )?;
    let sql = locked!(
        tx,
        "SELECT attended_at FROM progress WHERE learner_id = $1 AND program_id = $2",
        "FOR UPDATE"
    );
    let attended: Option<DateTime<Utc>> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(learner_id)
        .bind(program_id)
        .fetch_one(c)
        .await?);
    Ok(attended)
}

/// Records that the learner attended a session of the programme.
pub async fn attended(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE progress SET attended_at = $3 WHERE learner_id = $1 AND program_id = $2 AND attended_at IS NULL"
        )
        .bind(learner_id)
        .bind(program_id)
        .bind(at)
    )?;
    Ok(())
}

/// Records a track's score (the latest counts).
pub async fn score(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    track: Track,
    score: i32,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO scores (learner_id, program_id, track, score, recorded_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (learner_id, program_id, track) \
             DO UPDATE SET score = excluded.score, recorded_at = excluded.recorded_at"
        )
        .bind(learner_id)
        .bind(program_id)
        .bind(Named(track))
        .bind(score)
        .bind(now)
    )?;
    Ok(())
}

/// The learner's scores on a programme, by track.
pub async fn scores(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
) -> Result<Vec<(Named<Track>, i32)>, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT track, score FROM scores WHERE learner_id = $1 AND program_id = $2"
    )
    .bind(learner_id)
    .bind(program_id)
    .fetch_all(c)
    .await?))
}

/// A learner's certificate for a programme (`$1`, `$2`) valid at `$3`:
/// issued by then and not yet expired, the latest issued.
fn valid_at_sql() -> String {
    format!(
        "SELECT {CERT_COLUMNS} FROM certificates WHERE learner_id = $1 AND program_id = $2 AND issued_at <= $3 \
         AND (valid_until IS NULL OR valid_until > $3) ORDER BY issued_at DESC LIMIT 1"
    )
}

/// The certificate valid at `at`, inside a transaction.
pub async fn valid_in(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    at: DateTime<Utc>,
) -> Result<Option<CertificateRow>, Error> {
    let sql = valid_at_sql();
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(learner_id)
        .bind(program_id)
        .bind(at)
        .fetch_optional(c)
        .await?))
}

/// The certificate valid at `at`.
pub async fn valid(
    db: &Database,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    at: DateTime<Utc>,
) -> Result<Option<CertificateRow>, Error> {
    let sql = valid_at_sql();
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(learner_id)
        .bind(program_id)
        .bind(at)
        .fetch_optional(p)
        .await?))
}

/// Issues a certificate and closes the progress row.
pub async fn issue(tx: &mut Tx, cert: &CertificateRow) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO certificates (certificate_id, learner_id, program_id, issued_at, valid_until, scores) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&cert.certificate_id)
        .bind(&cert.learner_id)
        .bind(&cert.program_id)
        .bind(cert.issued_at)
        .bind(cert.valid_until)
        .bind(&cert.scores)
    )?;
    execute!(
        tx,
        sqlx::query(
            "UPDATE progress SET completed_at = $3, certificate_id = $4 WHERE learner_id = $1 AND program_id = $2"
        )
        .bind(&cert.learner_id)
        .bind(&cert.program_id)
        .bind(cert.issued_at)
        .bind(&cert.certificate_id)
    )?;
    Ok(())
}

/// One certificate.
pub async fn certificate(db: &Database, id: &CertificateId) -> Result<Option<CertificateRow>, Error> {
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE certificate_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// A learner's certificates, newest first.
pub async fn certificates(db: &Database, learner_id: &LearnerId) -> Result<Vec<CertificateRow>, Error> {
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE learner_id = $1 ORDER BY issued_at DESC");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(learner_id)
        .fetch_all(p)
        .await?))
}
