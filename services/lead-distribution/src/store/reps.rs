//! The `reps` table.

use crate::domain::ids::PersonId;
use chrono::{DateTime, Utc};
use tiejun_platform::stored::{Named, Stored as _};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    locked, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::leads::v1::RepStatus;

use crate::domain::rep::NewRep;

/// A row of `reps`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RepRow {
    /// Employee number.
    pub person_id: PersonId,
    /// Name.
    pub name: String,
    /// Team.
    pub team: String,
    /// City.
    pub city: String,
    /// Daily quota.
    pub daily_quota: i32,
    /// Status.
    pub status: Named<RepStatus>,
    /// Why the status last changed.
    pub status_reason: String,
    /// Registration instant.
    pub hired_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "person_id, name, team, city, daily_quota, status, status_reason, hired_at, updated_at"
    };
}

/// What [`insert`] did.
#[derive(Debug)]
pub enum Inserted {
    /// A new rep.
    Created(RepRow),
    /// The same registration was made before.
    Existing(RepRow),
}

/// Registers `rep` as ONBOARDING; a repeat of the same registration returns
/// the existing rep, a different one with the same id is ALREADY_EXISTS.
pub async fn insert(tx: &mut Tx, rep: &NewRep, now: DateTime<Utc>) -> Result<Inserted, Error> {
    let created: Option<RepRow> = on_tx!(tx, |c| sqlx::query_as(
        "INSERT INTO reps (person_id, name, team, city, daily_quota, status, hired_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'ONBOARDING', $6, $6) ON CONFLICT (person_id) DO NOTHING \
         RETURNING person_id, name, team, city, daily_quota, status, status_reason, hired_at, updated_at"
    )
    .bind(&rep.person_id)
    .bind(&rep.name)
    .bind(&rep.team)
    .bind(&rep.city)
    .bind(rep.daily_quota)
    .bind(now)
    .fetch_optional(c)
    .await?);
    if let Some(row) = created {
        return Ok(Inserted::Created(row));
    }
    let existing = lock_for_change(tx, &rep.person_id)
        .await?
        .ok_or_else(|| Error::Aborted("rep changed; retry".into()))?;
    let same = existing.name == rep.name && existing.team == rep.team && existing.city == rep.city;
    if same {
        Ok(Inserted::Existing(existing))
    } else {
        Err(Error::AlreadyExists {
            resource: "rep",
            existing_id: existing.person_id.into(),
            message: "a rep with this person_id is registered with other details".into(),
        })
    }
}

/// One rep.
pub async fn get(db: &Database, person_id: &PersonId) -> Result<Option<RepRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM reps WHERE person_id = $1"
    ))
    .bind(person_id)
    .fetch_optional(p)
    .await?))
}

/// One rep, locked to change it (status, quota): `FOR NO KEY UPDATE`, which
/// foreign-key checks (`FOR KEY SHARE`) never wait on.
pub async fn lock_for_change(tx: &mut Tx, person_id: &PersonId) -> Result<Option<RepRow>, Error> {
    let sql = locked!(
        tx,
        concat!("SELECT ", columns!(), " FROM reps WHERE person_id = $1"),
        "FOR NO KEY UPDATE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(person_id)
        .fetch_optional(c)
        .await?))
}

/// One rep, locked so its status and quota hold until commit while a lead
/// is given to them: `FOR SHARE`, which other assignments share.
pub async fn lock_to_assign(tx: &mut Tx, person_id: &PersonId) -> Result<Option<RepRow>, Error> {
    let sql = locked!(
        tx,
        concat!("SELECT ", columns!(), " FROM reps WHERE person_id = $1"),
        "FOR SHARE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(person_id)
        .fetch_optional(c)
        .await?))
}

/// Every ACTIVE rep (person_id, city, quota), locked `FOR SHARE` in
/// person_id order: the seats of a distribution or a sweep's handover.
pub async fn lock_active(tx: &mut Tx) -> Result<Vec<(PersonId, String, i32)>, Error> {
    let sql = locked!(
        tx,
        "SELECT person_id, city, daily_quota FROM reps WHERE status = 'ACTIVE' ORDER BY person_id",
        "FOR SHARE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).fetch_all(c).await?))
}

/// A rep's team, read without a lock (a rep's team never changes).
pub async fn team_of(tx: &mut Tx, person_id: &PersonId) -> Result<Option<String>, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT team FROM reps WHERE person_id = $1"
    )
    .bind(person_id)
    .fetch_optional(c)
    .await?))
}

/// Filters of [`list`]; empty strings and `Unspecified` match everything.
#[derive(Debug, Clone, Default)]
pub struct RepFilter {
    /// Team.
    pub team: String,
    /// City.
    pub city: String,
    /// Status.
    pub status: Option<RepStatus>,
}

/// Reps by person_id, one page (plus one row to tell if more remain).
pub async fn list(db: &Database, filter: &RepFilter, page: &Page) -> Result<Vec<RepRow>, Error> {
    let status = filter.status.map(RepStatus::stored).unwrap_or("");
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM reps WHERE ($1 = '' OR team = $1) AND ($2 = '' OR city = $2) \
         AND ($3 = '' OR status = $3) ORDER BY person_id LIMIT $4 OFFSET $5"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(&filter.team)
        .bind(&filter.city)
        .bind(status)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// Sets the quota; `None` if the rep does not exist.
pub async fn set_quota(
    tx: &mut Tx,
    person_id: &PersonId,
    quota: i32,
    now: DateTime<Utc>,
) -> Result<Option<RepRow>, Error> {
    let sql = concat!(
        "UPDATE reps SET daily_quota = $2, updated_at = $3 WHERE person_id = $1 RETURNING ",
        columns!()
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(person_id)
        .bind(quota)
        .bind(now)
        .fetch_optional(c)
        .await?))
}

/// Moves a rep from `from` to `to`, only if it is still in `from` (a
/// conditional update: a concurrent change makes this ABORTED, not lost).
pub async fn set_status(
    tx: &mut Tx,
    person_id: &PersonId,
    from: RepStatus,
    to: RepStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RepRow, Error> {
    let sql = concat!(
        "UPDATE reps SET status = $2, status_reason = $3, updated_at = $4 WHERE person_id = $1 AND status = $5 \
         RETURNING ",
        columns!()
    );
    let row: Option<RepRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(person_id)
        .bind(to.stored())
        .bind(reason)
        .bind(now)
        .bind(from.stored())
        .fetch_optional(c)
        .await?);
    row.ok_or_else(|| Error::Aborted("the rep changed concurrently; retry".into()))
}
