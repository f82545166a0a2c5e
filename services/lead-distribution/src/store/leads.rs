//! The `leads` table.

use crate::domain::ids::{AccountId, AssignmentId, LeadId, PersonId, SubscriptionId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, locked, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::leads::v1::{LeadKind, LeadState};

use crate::domain::{
    deadlines::Held,
    lead::NewLead,
    rules::{RENEWAL_SCORE, RETURNED_PRIORITY},
};

/// A row of `leads`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeadRow {
    /// Id.
    pub lead_id: LeadId,
    /// New business or renewal.
    pub kind: Named<LeadKind>,
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
    /// Where the lead is.
    pub state: Named<LeadState>,
    /// Owner while ASSIGNED or PRIVATE.
    pub owner_person_id: Option<PersonId>,
    /// When the current owner received it.
    pub assigned_at: Option<DateTime<Utc>>,
    /// When it was kept private.
    pub private_since: Option<DateTime<Utc>>,
    /// Last qualifying follow-up.
    pub last_follow_up_at: Option<DateTime<Utc>>,
    /// The next deadline.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// For renewal leads.
    pub subscription_id: Option<SubscriptionId>,
    /// For converted leads.
    pub account_id: Option<AccountId>,
    /// Intake instant.
    pub created_at: DateTime<Utc>,
    /// The ownership period in progress.
    pub assignment_id: Option<AssignmentId>,
    /// The deadline a warning was sent for.
    pub warned_deadline_at: Option<DateTime<Utc>>,
}

impl LeadRow {
    /// Where a held lead stands (`None` in the pool or once resolved).
    pub fn held(&self) -> Option<Held> {
        match (self.state.0, self.assigned_at, self.private_since) {
            (LeadState::Assigned, Some(assigned_at), _) => Some(Held::Assigned { assigned_at }),
            (LeadState::Private, _, Some(since)) => Some(Held::Private { since }),
            _ => None,
        }
    }
}

/// The columns of [`LeadRow`], optionally qualified: `lead_columns!()` or
/// `lead_columns!("l.")`.
macro_rules! lead_columns {
    () => {
        $crate::store::leads::lead_columns!("")
    };
    ($t:literal) => {
        concat!(
            $t,
            "lead_id, ",
            $t,
            "kind, ",
            $t,
            "company_name, ",
            $t,
            "contact_name, ",
            $t,
            "phone, ",
            $t,
            "email, ",
            $t,
            "city, ",
            $t,
            "industry, ",
            $t,
            "source, ",
            $t,
            "score, ",
            $t,
            "state, ",
            $t,
            "owner_person_id, ",
            $t,
            "assigned_at, ",
            $t,
            "private_since, ",
            $t,
            "last_follow_up_at, ",
            $t,
            "next_deadline_at, ",
            $t,
            "subscription_id, ",
            $t,
            "account_id, ",
            $t,
            "created_at, ",
            $t,
            "assignment_id, ",
            $t,
            "warned_deadline_at"
        )
    };
}
pub(crate) use lead_columns;
use lead_columns as columns;

/// An existing new-business lead with the same phone or company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The existing lead.
    pub lead_id: LeadId,
    /// What matched, for the error message (never the other lead's contact data).
    pub matched: &'static str,
}

/// Two lookups, one per unique key (an `OR` makes SQLite scan the table);
/// the oldest match first (lead ids are UUIDv7, in intake order).
const FIND_DUPLICATE: &str = "SELECT lead_id, phone FROM ( \
     SELECT lead_id, phone FROM lead_keys WHERE phone = $1 \
     UNION ALL \
     SELECT lead_id, phone FROM lead_keys WHERE company_key = $2 \
     ) AS d ORDER BY lead_id LIMIT 1";

fn duplicate(found: Option<(String, String)>, lead: &NewLead) -> Option<Duplicate> {
    found.map(|(lead_id, phone)| Duplicate {
        lead_id: lead_id.into(),
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

/// Inserts a new-business lead in the pool with its duplicate keys; `None`
/// when `lead_keys` holds the same phone or company already (a concurrent
/// intake of the same lead is waited for first, so the caller can read it
/// next; the caller rolls back the lead row).
pub async fn insert_new_business(
    tx: &mut Tx,
    lead_id: &LeadId,
    lead: &NewLead,
    now: DateTime<Utc>,
) -> Result<Option<LeadRow>, Error> {
    let row: LeadRow = on_tx!(tx, |c| sqlx::query_as(concat!(
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
    .await?);
    let keyed = execute!(
        tx,
        sqlx::query("INSERT INTO lead_keys (lead_id, phone, company_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(lead_id)
            .bind(lead.phone.as_str())
            .bind(lead.company.key())
    )?;
    Ok((keyed == 1).then_some(row))
}

/// A renewal lead (from RenewalDue): who to call about which subscription.
#[derive(Debug, Clone)]
pub struct NewRenewal<'a> {
    /// The subscription up for renewal.
    pub subscription_id: &'a SubscriptionId,
    /// The paying account.
    pub account_id: &'a AccountId,
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

/// Inserts a renewal lead in the pool, first in line.
/// Renewal leads are exempt from the new-business duplicate indexes: the
/// customer already exists.
pub async fn insert_renewal(
    tx: &mut Tx,
    lead_id: &LeadId,
    r: &NewRenewal<'_>,
    now: DateTime<Utc>,
) -> Result<LeadRow, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(concat!(
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, email, city, industry, \
         source, score, state, pool_priority, subscription_id, account_id, created_at, updated_at) \
         VALUES ($1, 'RENEWAL', $2, $3, $4, $5, '', $6, '', 'renewal', $7, 'POOL', $11, $8, $9, $10, $10) RETURNING ",
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
    .bind(RETURNED_PRIORITY)
    .fetch_one(c)
    .await)?)
}

/// One lead.
pub async fn get(db: &Database, lead_id: &LeadId) -> Result<Option<LeadRow>, Error> {
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
    /// The billing account (converted into, or renewing).
    pub account_id: String,
}

/// Leads in distribution order (pool priority, score, age), one page plus one row.
pub async fn list(db: &Database, filter: &LeadFilter, page: &Page) -> Result<Vec<LeadRow>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM leads WHERE ($1 = '' OR state = $1) AND ($2 = '' OR owner_person_id = $2) \
         AND ($3 = '' OR city = $3) AND ($4 = '' OR kind = $4) AND ($5 = '' OR account_id = $5) \
         ORDER BY pool_priority DESC, score DESC, created_at, lead_id LIMIT $6 OFFSET $7"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(&filter.state)
        .bind(&filter.owner_person_id)
        .bind(&filter.city)
        .bind(&filter.kind)
        .bind(&filter.account_id)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// One lead inside a write transaction, locked (lock order: leads).
pub async fn lock(tx: &mut Tx, lead_id: &LeadId) -> Result<Option<LeadRow>, Error> {
    let sql = locked!(
        tx,
        concat!("SELECT ", columns!(), " FROM leads WHERE lead_id = $1"),
        "FOR NO KEY UPDATE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(lead_id)
        .fetch_optional(c)
        .await?))
}

/// Several leads, locked in lead_id order (the lock order within leads);
/// ids that name no lead are missing from the answer.
pub async fn lock_many(tx: &mut Tx, lead_ids: &[&LeadId]) -> Result<Vec<LeadRow>, Error> {
    let mut ids: Vec<&LeadId> = lead_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        rows.extend(lock(tx, id).await?);
    }
    Ok(rows)
}

/// Every lead `owner` holds (ASSIGNED or PRIVATE), locked in lead_id order.
pub async fn lock_held_by(tx: &mut Tx, owner: &PersonId) -> Result<Vec<LeadRow>, Error> {
    let sql = locked!(
        tx,
        concat!(
            "SELECT ",
            columns!(),
            " FROM leads WHERE owner_person_id = $1 AND state IN ('ASSIGNED', 'PRIVATE') ORDER BY lead_id"
        ),
        "FOR NO KEY UPDATE"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(owner).fetch_all(c).await?))
}

/// Sets the `account_id` of `lead_id` when it has none yet; true when it did.
pub async fn set_account(
    tx: &mut Tx,
    lead_id: &LeadId,
    account_id: &AccountId,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let set = execute!(
        tx,
        sqlx::query("UPDATE leads SET account_id = $2, updated_at = $3 WHERE lead_id = $1 AND account_id IS NULL")
            .bind(lead_id)
            .bind(account_id)
            .bind(now)
    )?;
    Ok(set == 1)
}
