//! The `leads` table.

use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Backend, Database, Tx},
    error::Error,
    on_pool, on_tx,
    paging::Page,
};

use crate::domain::lead::NewLead;

/// A row of `leads`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeadRow {
    /// Id.
    pub lead_id: String,
    /// `NEW_BUSINESS` or `RENEWAL`.
    pub kind: String,
    /// Company as entered.
    pub company_name: String,
    /// Contact person.
    pub contact_name: String,
    /// Normalised phone.
    pub phone: String,
    /// E-mail or empty.
    pub email: String,
    /// City.
    pub city: String,
    /// Industry.
    pub industry: String,
    /// Source.
    pub source: String,
    /// Priority 0–100.
    pub score: i32,
    /// State name (`POOL`…).
    pub state: String,
    /// Owner while ASSIGNED or PRIVATE.
    pub owner_person_id: Option<String>,
    /// When the current owner received it.
    pub assigned_at: Option<DateTime<Utc>>,
    /// When it was kept private.
    pub private_since: Option<DateTime<Utc>>,
    /// Last qualifying follow-up.
    pub last_follow_up_at: Option<DateTime<Utc>>,
    /// The next deadline.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// For renewal leads.
    pub subscription_id: Option<String>,
    /// For converted leads.
    pub account_id: Option<String>,
    /// Intake instant.
    pub created_at: DateTime<Utc>,
    /// The ownership period in progress.
    pub assignment_id: Option<String>,
    /// The deadline a warning was sent for.
    pub warned_deadline_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "lead_id, kind, company_name, contact_name, phone, email, city, industry, source, score, state, \
         owner_person_id, assigned_at, private_since, last_follow_up_at, next_deadline_at, subscription_id, \
         account_id, created_at, assignment_id, warned_deadline_at"
    };
}

/// An existing new-business lead with the same phone or company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The existing lead.
    pub lead_id: String,
    /// What matched, for the error message (never the other lead's contact data).
    pub matched: &'static str,
}

/// Two lookups, one per unique index (an `OR` makes SQLite scan the table).
const FIND_DUPLICATE: &str = "SELECT lead_id, phone FROM ( \
     SELECT lead_id, phone, created_at FROM leads WHERE kind = 'NEW_BUSINESS' AND phone = $1 \
     UNION ALL \
     SELECT lead_id, phone, created_at FROM leads WHERE kind = 'NEW_BUSINESS' AND company_key = $2 \
     ) AS d ORDER BY created_at LIMIT 1";

fn duplicate(found: Option<(String, String)>, lead: &NewLead) -> Option<Duplicate> {
    found.map(|(lead_id, phone)| Duplicate {
        lead_id,
        matched: if phone == lead.phone.as_str() {
            "the same phone number"
        } else {
            "the same company name"
        },
    })
}

/// The existing lead `lead` duplicates, read inside `tx`.
pub async fn find_duplicate_in(tx: &mut Tx, lead: &NewLead) -> Result<Option<Duplicate>, Error> {
    let found = on_tx!(tx, |c| sqlx::query_as(FIND_DUPLICATE)
        .bind(lead.phone.as_str())
        .bind(lead.company.key())
        .fetch_optional(c)
        .await?);
    Ok(duplicate(found, lead))
}

/// The existing lead `lead` duplicates (after a lost race on the unique index).
pub async fn find_duplicate(db: &Database, lead: &NewLead) -> Result<Option<Duplicate>, Error> {
    let found = on_pool!(db, |p| sqlx::query_as(FIND_DUPLICATE)
        .bind(lead.phone.as_str())
        .bind(lead.company.key())
        .fetch_optional(p)
        .await?);
    Ok(duplicate(found, lead))
}

/// Inserts a new-business lead in the pool. A duplicate phone or company
/// fails on the unique indexes (the caller turns that into ALREADY_EXISTS).
pub async fn insert_new_business(
    tx: &mut Tx,
    lead_id: &str,
    lead: &NewLead,
    now: DateTime<Utc>,
) -> Result<LeadRow, sqlx::Error> {
    on_tx!(tx, |c| sqlx::query_as(concat!(
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, email, city, industry, \
         source, score, state, created_at, updated_at) \
         VALUES ($1, 'NEW_BUSINESS', $2, $3, $4, $5, $6, $7, $8, $9, $10, 'POOL', $11, $11) RETURNING ",
        columns!()
    ))
    .bind(lead_id)
    .bind(lead.company.as_str())
    .bind(lead.company.key())
    .bind(&lead.contact_name)
    .bind(lead.phone.as_str())
    .bind(&lead.email)
    .bind(&lead.city)
    .bind(&lead.industry)
    .bind(&lead.source)
    .bind(lead.score)
    .bind(now)
    .fetch_one(c)
    .await)
}

/// A renewal lead (from RenewalDue): who to call about which subscription.
#[derive(Debug, Clone)]
pub struct NewRenewal<'a> {
    /// The subscription up for renewal.
    pub subscription_id: &'a str,
    /// The paying account.
    pub account_id: &'a str,
    /// Company as billing knows it.
    pub company_name: &'a str,
    /// Its duplicate key.
    pub company_key: &'a str,
    /// Contact person.
    pub contact_name: &'a str,
    /// Phone as billing knows it.
    pub phone: &'a str,
    /// City.
    pub city: &'a str,
}

/// Score of a renewal lead: above any new-business default, so it is dealt first.
pub const RENEWAL_SCORE: i32 = 90;

/// Inserts a renewal lead in the pool, first in line (`pool_priority` 1).
/// Renewal leads are exempt from the new-business duplicate indexes: the
/// customer already exists.
pub async fn insert_renewal(
    tx: &mut Tx,
    lead_id: &str,
    r: &NewRenewal<'_>,
    now: DateTime<Utc>,
) -> Result<LeadRow, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(concat!(
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, email, city, industry, \
         source, score, state, pool_priority, subscription_id, account_id, created_at, updated_at) \
         VALUES ($1, 'RENEWAL', $2, $3, $4, $5, '', $6, '', 'renewal', $7, 'POOL', 1, $8, $9, $10, $10) RETURNING ",
        columns!()
    ))
    .bind(lead_id)
    .bind(r.company_name)
    .bind(r.company_key)
    .bind(r.contact_name)
    .bind(r.phone)
    .bind(r.city)
    .bind(RENEWAL_SCORE)
    .bind(r.subscription_id)
    .bind(r.account_id)
    .bind(now)
    .fetch_one(c)
    .await)?)
}

/// One lead.
pub async fn get(db: &Database, lead_id: &str) -> Result<Option<LeadRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM leads WHERE lead_id = $1"
    ))
    .bind(lead_id)
    .fetch_optional(p)
    .await?))
}

/// Filters of [`list`]; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    /// State name.
    pub state: String,
    /// Owner.
    pub owner_person_id: String,
    /// City.
    pub city: String,
    /// Kind name.
    pub kind: String,
}

/// Leads in distribution order (pool priority, score, age), one page plus one row.
pub async fn list(db: &Database, filter: &LeadFilter, page: &Page) -> Result<Vec<LeadRow>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM leads WHERE ($1 = '' OR state = $1) AND ($2 = '' OR owner_person_id = $2) \
         AND ($3 = '' OR city = $3) AND ($4 = '' OR kind = $4) \
         ORDER BY pool_priority DESC, score DESC, created_at, lead_id LIMIT $5 OFFSET $6"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(&filter.state)
        .bind(&filter.owner_person_id)
        .bind(&filter.city)
        .bind(&filter.kind)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// The pool in distribution order, locked; leads a claim holds are skipped.
pub const POOL_FOR_UPDATE_PG: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leads WHERE state = 'POOL' ORDER BY pool_priority DESC, score DESC, created_at, lead_id \
     FOR UPDATE SKIP LOCKED"
);

/// The pool in distribution order (SQLite: the write lock is held).
pub const POOL_SQLITE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leads WHERE state = 'POOL' ORDER BY pool_priority DESC, score DESC, created_at, lead_id"
);

/// Held leads past their deadline at `$1`, locked; leads a call holds are skipped.
pub const DUE_FOR_UPDATE_PG: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at <= $1 ORDER BY next_deadline_at, lead_id \
     FOR UPDATE SKIP LOCKED"
);

/// Held leads past their deadline at `$1` (SQLite: the write lock is held).
pub const DUE_SQLITE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at <= $1 ORDER BY next_deadline_at, lead_id"
);

/// Held leads whose deadline falls in `($1, $2]` and was not warned of yet.
pub const WARNABLE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at > $1 AND next_deadline_at <= $2 \
     AND (warned_deadline_at IS NULL OR warned_deadline_at <> next_deadline_at) ORDER BY next_deadline_at, lead_id"
);

/// One lead inside a write transaction, locked on PostgreSQL.
pub async fn lock(tx: &mut Tx, lead_id: &str) -> Result<Option<LeadRow>, Error> {
    let sql = match tx.backend() {
        Backend::Postgres => concat!("SELECT ", columns!(), " FROM leads WHERE lead_id = $1 FOR UPDATE"),
        Backend::Sqlite => concat!("SELECT ", columns!(), " FROM leads WHERE lead_id = $1"),
    };
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(lead_id)
        .fetch_optional(c)
        .await?))
}

/// Every lead `owner` holds (ASSIGNED or PRIVATE), locked on PostgreSQL.
pub async fn held_by_for_update(tx: &mut Tx, owner: &str) -> Result<Vec<(String, String)>, Error> {
    let sql = match tx.backend() {
        Backend::Postgres => {
            "SELECT lead_id, state FROM leads WHERE owner_person_id = $1 AND state IN ('ASSIGNED', 'PRIVATE') \
             ORDER BY lead_id FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT lead_id, state FROM leads WHERE owner_person_id = $1 AND state IN ('ASSIGNED', 'PRIVATE') \
             ORDER BY lead_id"
        }
    };
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(owner).fetch_all(c).await?))
}
