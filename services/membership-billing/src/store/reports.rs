//! Reads for listings and reports.

use crate::domain::ids::{AccountId, InvoiceId, PersonId, PlanId, SubscriptionId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{db::Database, error::Error, on_pool, paging::Page};
use tiejun_proto::billing::v1::RenewalOutcome;

use super::subscriptions::{INV, InvoiceRow, SUB, SubscriptionRow};

/// Subscriptions filtered by account, plan, state and seller ('' for any).
pub async fn subscriptions(db: &Database, f: [&str; 4], page: &Page) -> Result<Vec<SubscriptionRow>, Error> {
    let sql = format!(
        "SELECT {SUB} FROM subscriptions WHERE ($1 = '' OR account_id = $1) AND ($2 = '' OR plan_id = $2) \
         AND ($3 = '' OR state = $3) AND ($4 = '' OR sold_by_person_id = $4) ORDER BY created_at, subscription_id \
         LIMIT $5 OFFSET $6"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(f[0])
        .bind(f[1])
        .bind(f[2])
        .bind(f[3])
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// Invoices filtered by account, subscription and status ('' for any).
pub async fn invoices(db: &Database, f: [&str; 4], page: &Page) -> Result<Vec<InvoiceRow>, Error> {
    let sql = format!(
        "SELECT {INV} FROM invoices WHERE ($1 = '' OR account_id = $1) AND ($2 = '' OR subscription_id = $2) \
         AND ($3 = '' OR status = $3) AND ($6 = '' OR kind = $6) ORDER BY issued_at, invoice_id LIMIT $4 OFFSET $5"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(f[0])
        .bind(f[1])
        .bind(f[2])
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .bind(f[3])
        .fetch_all(p)
        .await?))
}

/// A renewal record with what the listing shows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RenewalListRow {
    /// Subscription.
    pub subscription_id: SubscriptionId,
    /// Account.
    pub account_id: AccountId,
    /// Rep.
    pub sold_by_person_id: PersonId,
    /// Plan.
    pub plan_id: PlanId,
    /// End of the term.
    pub period_end: DateTime<Utc>,
    /// Prior price.
    pub prior_price_minor: i64,
    /// Quoted price.
    pub quoted_price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Outcome.
    pub outcome: Named<RenewalOutcome>,
    /// Reason.
    pub reason: String,
    /// Invoice.
    pub invoice_id: InvoiceId,
}

/// Renewal records with terms ending in `[from, to)`, optionally for one rep.
pub async fn renewals(
    db: &Database,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rep: &str,
    page: &Page,
) -> Result<Vec<RenewalListRow>, Error> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT subscription_id, account_id, sold_by_person_id, plan_id, period_end, prior_price_minor, quoted_price_minor, \
         currency, outcome, reason, invoice_id FROM renewals WHERE period_end >= $1 AND period_end < $2 \
         AND ($3 = '' OR sold_by_person_id = $3) ORDER BY period_end, subscription_id LIMIT $4 OFFSET $5"
    )
    .bind(from)
    .bind(to)
    .bind(rep)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?
    }))
}

/// Accounts that signed up in `[from, to)`, and how many of them have paid.
pub async fn conversion(db: &Database, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(i64, i64), Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT count(*), COALESCE(SUM(CASE WHEN first_paid_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM accounts \
         WHERE created_at >= $1 AND created_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await?))
}

/// Per currency: subscriptions in a paid period at `at`, and their prices normalised to a year.
pub async fn arr(db: &Database, at: DateTime<Utc>) -> Result<Vec<(String, i64, i64)>, Error> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT currency, count(*), CAST(COALESCE(SUM(price_minor * (12 / period_months)), 0) AS BIGINT) FROM subscriptions \
         WHERE state IN ('ACTIVE', 'CANCELED') AND period_start <= $1 AND period_end > $1 GROUP BY currency ORDER BY currency"
    )
    .bind(at)
    .fetch_all(p)
    .await?
    }))
}
