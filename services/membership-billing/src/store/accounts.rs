//! Member accounts.

use crate::domain::ids::{AccountId, LeadId, PersonId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, on_pool, on_tx,
    paging::Page,
};

use crate::domain::account::MemberDetails;

/// A row of `accounts`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    /// Id.
    pub account_id: AccountId,
    /// Company, contact, phone, e-mail, city and zone.
    #[sqlx(flatten)]
    pub details: MemberDetails,
    /// The converted lead, if any.
    pub lead_id: Option<LeadId>,
    /// The rep who sold it, if any.
    pub sold_by_person_id: Option<PersonId>,
    /// The contact's learner id.
    pub contact_person_id: PersonId,
    /// First paid period (None: a free member).
    pub first_paid_at: Option<DateTime<Utc>>,
    /// Signed up.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "account_id, company_name, contact_name, phone, email, city, time_zone, lead_id, sold_by_person_id, \
                       contact_person_id, first_paid_at, created_at";

/// Creates an account; with a lead, only once per lead (a repeat inserts nothing).
pub async fn insert(
    tx: &mut Tx,
    id: &AccountId,
    d: &MemberDetails,
    lead_id: Option<&LeadId>,
    sold_by: Option<&PersonId>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let n = execute!(
        tx,
        sqlx::query(
            "INSERT INTO accounts (account_id, company_name, contact_name, phone, email, city, time_zone, lead_id, \
             sold_by_person_id, contact_person_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (lead_id) WHERE lead_id IS NOT NULL DO NOTHING"
        )
        .bind(id)
        .bind(&d.company_name)
        .bind(&d.contact_name)
        .bind(&d.phone)
        .bind(&d.email)
        .bind(&d.city)
        .bind(&d.time_zone)
        .bind(lead_id)
        .bind(sold_by)
        .bind(format!("contact-{id}"))
        .bind(now)
    )?;
    Ok(n == 1)
}

/// The account made from a lead, inside a transaction.
pub async fn by_lead(tx: &mut Tx, lead_id: &LeadId) -> Result<Option<AccountRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE lead_id = $1");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(lead_id)
        .fetch_optional(c)
        .await?))
}

/// One account, inside a transaction.
pub async fn get_in(tx: &mut Tx, id: &AccountId) -> Result<Option<AccountRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE account_id = $1");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?))
}

/// One account.
pub async fn get(db: &Database, id: &AccountId) -> Result<Option<AccountRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE account_id = $1");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await?))
}

/// Accounts by signup, filtered by kind (`USER`, `CUSTOMER`, '') and seller, one page plus one row.
pub async fn list(db: &Database, filter: &AccountFilter<'_>, page: &Page) -> Result<Vec<AccountRow>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE ($1 = '' OR ($1 = 'CUSTOMER') = (first_paid_at IS NOT NULL)) \
         AND ($2 = '' OR sold_by_person_id = $2) AND ($5 = '' OR lead_id = $5) \
         ORDER BY created_at, account_id LIMIT $3 OFFSET $4"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(filter.kind)
        .bind(filter.sold_by)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .bind(filter.lead_id)
        .fetch_all(p)
        .await?))
}

/// What `ListAccounts` narrows by; an empty field does not narrow.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountFilter<'a> {
    /// `USER`, `CUSTOMER`.
    pub kind: &'a str,
    /// The rep who sold it.
    pub sold_by: &'a str,
    /// The converted lead it was opened for.
    pub lead_id: &'a str,
}
