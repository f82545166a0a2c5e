//! The renewal cycle, one transaction under a job lock (replicas take turns
//! on PostgreSQL; SQLite serialises writers): notices 45 days ahead (a
//! renewal invoice at the quoted price, a renewal record, RenewalDue),
//! period ends (renewed if paid, else PAST_DUE, or CANCELED), and grace ends
//! (EXPIRED, churned).

use chrono::{DateTime, NaiveDate, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    clock::to_proto,
    db::{Database, Tx},
    error::Error,
    on_pool, on_tx, outbox,
};
use tiejun_proto::billing::v1::RenewalOutcome;
use tiejun_proto::events::v1::{RenewalDue, event_envelope::Payload};

use super::{
    accounts, catalog,
    subscriptions::{SUB, SubscriptionRow},
};
use crate::domain::{
    period,
    renewal::{GRACE, NOTICE},
};

/// What a cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Renewal invoices issued.
    pub notices: i32,
    /// Rolled into a new paid period.
    pub renewed: i32,
    /// Moved to PAST_DUE.
    pub past_due: i32,
    /// Expired after grace.
    pub expired: i32,
    /// Ended by cancellation.
    pub canceled: i32,
}

/// A renewal record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RenewalRow {
    /// Subscription.
    pub subscription_id: String,
    /// The term ending (0-based).
    pub period_index: i32,
    /// The rep credited.
    pub sold_by_person_id: String,
    /// Plan.
    pub plan_id: String,
    /// Prior price.
    pub prior_price_minor: i64,
    /// Quoted price.
    pub quoted_price_minor: i64,
    /// Quoted plan version.
    pub quoted_version: i32,
    /// Outcome.
    pub outcome: Named<RenewalOutcome>,
    /// Renewal invoice.
    pub invoice_id: String,
}

fn anchor(s: &SubscriptionRow) -> Result<NaiveDate, Error> {
    s.anchor_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| Error::internal(format!("active subscription {} without an anchor", s.subscription_id)))
}

async fn subs(tx: &mut Tx, filter: &'static str, at: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, Error> {
    let sql = format!("SELECT {SUB} FROM subscriptions s WHERE {filter} ORDER BY subscription_id");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(at)
        .fetch_all(c)
        .await?))
}

async fn renewal(tx: &mut Tx, id: &str, index: i32) -> Result<Option<(RenewalRow, String)>, Error> {
    let row: Option<RenewalRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT subscription_id, period_index, sold_by_person_id, plan_id, prior_price_minor, quoted_price_minor, \
         quoted_version, outcome, invoice_id FROM renewals WHERE subscription_id = $1 AND period_index = $2"
    )
    .bind(id)
    .bind(index)
    .fetch_optional(c)
    .await?);
    let Some(row) = row else { return Ok(None) };
    let status: String = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM invoices WHERE invoice_id = $1"
    )
    .bind(&row.invoice_id)
    .fetch_one(c)
    .await?);
    Ok(Some((row, status)))
}

async fn set_state(tx: &mut Tx, id: &str, state: &str, grace_ends_at: Option<DateTime<Utc>>) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE subscriptions SET state = $2, grace_ends_at = $3 WHERE subscription_id = $1"
    )
    .bind(id)
    .bind(state)
    .bind(grace_ends_at)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

async fn void(tx: &mut Tx, invoice_id: &str) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE invoices SET status = 'VOID' WHERE invoice_id = $1 AND status = 'OPEN'"
    )
    .bind(invoice_id)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

async fn settle(tx: &mut Tx, s: &SubscriptionRow, outcome: &str, reason: &str) -> Result<(), Error> {
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE renewals SET outcome = $3, reason = $4 WHERE subscription_id = $1 AND period_index = $2 AND outcome = 'PENDING'"
    )
    .bind(&s.subscription_id)
    .bind(s.period_index)
    .bind(outcome)
    .bind(reason)
    .execute(c)
    .await
    .map(drop)
    })?;
    Ok(())
}

/// Moves a subscription into its next period at the quoted price.
async fn roll(tx: &mut Tx, s: &SubscriptionRow, r: &RenewalRow) -> Result<(), Error> {
    let account = accounts::get_in(tx, &s.account_id)
        .await?
        .ok_or_else(|| Error::not_found("account", &s.account_id))?;
    let next = s.period_index + 1;
    let (start, end) = period::instants(
        anchor(s)?,
        s.period_months as u32,
        next as u32,
        crate::domain::account::zone(&account.account_id, &account.time_zone)?,
    );
    on_tx!(tx, |c| sqlx::query(
        "UPDATE subscriptions SET state = 'ACTIVE', period_index = $2, period_start = $3, period_end = $4, \
         price_minor = $5, plan_version = $6, grace_ends_at = NULL, plan_id = COALESCE(pending_plan_id, plan_id), \
         pending_plan_id = NULL WHERE subscription_id = $1"
    )
    .bind(&s.subscription_id)
    .bind(next)
    .bind(start)
    .bind(end)
    .bind(r.quoted_price_minor)
    .bind(r.quoted_version)
    .execute(c)
    .await
    .map(drop))?;
    settle(tx, s, "RENEWED", "").await
}

/// Runs one renewal cycle at `now`.
pub async fn run_cycle(tx: &mut Tx, now: DateTime<Utc>) -> Result<CycleOutcome, Error> {
    tx.job_lock(tiejun_platform::db::JobKey::Renewal).await?;
    let mut out = CycleOutcome::default();

    // Notices: a renewal invoice 45 days before the end, at the plan's current price.
    let noticed = subs(
        tx,
        "s.state = 'ACTIVE' AND NOT s.cancel_at_period_end AND s.period_end <= $1 AND NOT EXISTS \
         (SELECT 1 FROM renewals r WHERE r.subscription_id = s.subscription_id AND r.period_index = s.period_index)",
        now + NOTICE,
    )
    .await?;
    for s in &noticed {
        // A downgrade waiting for the period end is what gets quoted.
        let quoted_plan = s.pending_plan_id.clone().unwrap_or_else(|| s.plan_id.clone());
        let quote = catalog::latest_in(tx, &quoted_plan)
            .await?
            .ok_or_else(|| Error::not_found("plan", &quoted_plan))?;
        let account = accounts::get_in(tx, &s.account_id)
            .await?
            .ok_or_else(|| Error::not_found("account", &s.account_id))?;
        let (start, end) = period::instants(
            anchor(s)?,
            s.period_months as u32,
            (s.period_index + 1) as u32,
            crate::domain::account::zone(&account.account_id, &account.time_zone)?,
        );
        let invoice_id = uuid::Uuid::now_v7().to_string();
        let issued = on_tx!(tx, |c| sqlx::query(
            "INSERT INTO invoices (invoice_id, subscription_id, account_id, kind, status, amount_minor, currency, \
             period_index, period_start, period_end, issued_at, due_at) \
             VALUES ($1, $2, $3, 'RENEWAL', 'OPEN', $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (subscription_id, period_index) WHERE kind IN ('INITIAL', 'RENEWAL') DO NOTHING"
        )
        .bind(&invoice_id)
        .bind(&s.subscription_id)
        .bind(&s.account_id)
        .bind(quote.price_minor)
        .bind(&quote.currency)
        .bind(s.period_index + 1)
        .bind(start)
        .bind(end)
        .bind(now)
        .bind(s.period_end)
        .execute(c)
        .await?
        .rows_affected());
        if issued == 0 {
            continue; // another cycle issued it
        }
        on_tx!(tx, |c| sqlx::query(
            "INSERT INTO renewals (subscription_id, period_index, account_id, sold_by_person_id, plan_id, period_end, \
             prior_price_minor, quoted_price_minor, quoted_version, currency, outcome, invoice_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PENDING', $11)"
        )
        .bind(&s.subscription_id)
        .bind(s.period_index)
        .bind(&s.account_id)
        .bind(s.sold_by_person_id.clone().unwrap_or_default())
        .bind(&s.plan_id)
        .bind(s.period_end)
        .bind(s.price_minor)
        .bind(quote.price_minor)
        .bind(quote.version)
        .bind(&quote.currency)
        .bind(&invoice_id)
        .execute(c)
        .await
        .map(drop))?;
        let event = RenewalDue {
            subscription_id: s.subscription_id.clone(),
            account_id: s.account_id.clone(),
            sold_by_person_id: s.sold_by_person_id.clone().unwrap_or_default(),
            company_name: account.company_name.clone(),
            contact_name: account.contact_name.clone(),
            phone: account.phone.clone(),
            city: account.city.clone(),
            period_end: s.period_end.map(to_proto),
            quoted_amount_minor: quote.price_minor,
            currency: quote.currency.clone(),
        };
        outbox::append(tx, "billing", &s.account_id, Payload::RenewalDue(event), now).await?;
        out.notices += 1;
    }

    // Period ends: renewed if paid, cancelled if asked, else PAST_DUE with grace.
    for s in subs(tx, "s.state = 'ACTIVE' AND s.period_end <= $1", now).await? {
        match renewal(tx, &s.subscription_id, s.period_index).await? {
            Some((r, status)) if status == "PAID" => {
                roll(tx, &s, &r).await?;
                out.renewed += 1;
            }
            _ if s.cancel_at_period_end => {
                set_state(tx, &s.subscription_id, "CANCELED", None).await?;
                settle(tx, &s, "CHURNED", "cancelled").await?;
                out.canceled += 1;
            }
            _ => {
                let grace = s.period_end.map(|e| e + GRACE);
                set_state(tx, &s.subscription_id, "PAST_DUE", grace).await?;
                out.past_due += 1;
            }
        }
    }

    // Grace: paid late → renewed; grace over → expired, back to free features only.
    let settling = "s.state = 'PAST_DUE' AND (s.grace_ends_at <= $1 OR EXISTS (SELECT 1 FROM renewals r \
                    JOIN invoices i ON i.invoice_id = r.invoice_id WHERE r.subscription_id = s.subscription_id \
                    AND r.period_index = s.period_index AND i.status = 'PAID'))";
    for s in subs(tx, settling, now).await? {
        match renewal(tx, &s.subscription_id, s.period_index).await? {
            Some((r, status)) if status == "PAID" => {
                roll(tx, &s, &r).await?;
                out.renewed += 1;
            }
            found if s.grace_ends_at.is_some_and(|g| g <= now) => {
                set_state(tx, &s.subscription_id, "EXPIRED", s.grace_ends_at).await?;
                if let Some((r, _)) = found {
                    void(tx, &r.invoice_id).await?;
                }
                settle(tx, &s, "CHURNED", "not paid by the end of grace").await?;
                out.expired += 1;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Renewal records whose term ended in `[from, to)`: (rep, plan, prior, quoted, outcome).
pub async fn book(
    db: &Database,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, String, i64, i64, String)>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT sold_by_person_id, plan_id, prior_price_minor, quoted_price_minor, outcome FROM renewals \
         WHERE period_end >= $1 AND period_end < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await?))
}
