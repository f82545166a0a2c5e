//! The renewal cycle's reads and writes (`crate::app::renewals` runs the
//! cycle and `crate::domain::renewal` decides each step): subscriptions due
//! a notice, at their period's end or in grace; a renewal record and its
//! invoice; the notice's invoice and record; rolling into the next period;
//! and the renewal book.

use crate::domain::ids::{InvoiceId, PersonId, PlanId, SubscriptionId};
use chrono::{DateTime, NaiveDate, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, on_pool, on_tx,
};
use tiejun_proto::billing::v1::{InvoiceStatus, RenewalOutcome, SubscriptionState};

use super::subscriptions::{SUB, SubscriptionRow};

/// A renewal record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RenewalRow {
    /// Subscription.
    pub subscription_id: SubscriptionId,
    /// The term ending (0-based).
    pub period_index: i32,
    /// The rep credited.
    pub sold_by_person_id: PersonId,
    /// Plan.
    pub plan_id: PlanId,
    /// Prior price.
    pub prior_price_minor: i64,
    /// Quoted price.
    pub quoted_price_minor: i64,
    /// Quoted plan version.
    pub quoted_version: i32,
    /// Outcome.
    pub outcome: Named<RenewalOutcome>,
    /// Renewal invoice.
    pub invoice_id: InvoiceId,
}

/// The day an active subscription's periods are counted from.
pub fn anchor(s: &SubscriptionRow) -> Result<NaiveDate, Error> {
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

/// The renewal record of a subscription's term, and its invoice's status.
pub async fn renewal(
    tx: &mut Tx,
    id: &SubscriptionId,
    index: i32,
) -> Result<Option<(RenewalRow, Named<InvoiceStatus>)>, Error> {
    let row: Option<RenewalRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT subscription_id, period_index, sold_by_person_id, plan_id, prior_price_minor, quoted_price_minor, \
         quoted_version, outcome, invoice_id FROM renewals WHERE subscription_id = $1 AND period_index = $2"
    )
    .bind(id)
    .bind(index)
    .fetch_optional(c)
    .await?);
    let Some(row) = row else { return Ok(None) };
    let status: Named<InvoiceStatus> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM invoices WHERE invoice_id = $1"
    )
    .bind(&row.invoice_id)
    .fetch_one(c)
    .await?);
    Ok(Some((row, status)))
}

/// Sets a subscription's state (and when its grace ends).
pub async fn set_state(
    tx: &mut Tx,
    id: &SubscriptionId,
    state: SubscriptionState,
    grace_ends_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE subscriptions SET state = $2, grace_ends_at = $3 WHERE subscription_id = $1")
            .bind(id)
            .bind(Named(state))
            .bind(grace_ends_at)
    )?;
    Ok(())
}

/// Voids an invoice that is still open.
pub async fn void(tx: &mut Tx, invoice_id: &InvoiceId) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE invoices SET status = 'VOID' WHERE invoice_id = $1 AND status = 'OPEN'").bind(invoice_id)
    )?;
    Ok(())
}

/// Decides a pending renewal record of the subscription's current term.
pub async fn settle(tx: &mut Tx, s: &SubscriptionRow, outcome: RenewalOutcome, reason: &str) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE renewals SET outcome = $3, reason = $4 \
             WHERE subscription_id = $1 AND period_index = $2 AND outcome = 'PENDING'"
        )
        .bind(&s.subscription_id)
        .bind(s.period_index)
        .bind(Named(outcome))
        .bind(reason)
    )?;
    Ok(())
}

/// Moves a subscription into its next period, `[start, end)`, at the quoted
/// price (a waiting downgrade takes effect) and settles the term RENEWED.
pub async fn roll(
    tx: &mut Tx,
    s: &SubscriptionRow,
    r: &RenewalRow,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE subscriptions SET state = 'ACTIVE', period_index = $2, period_start = $3, period_end = $4, \
             price_minor = $5, plan_version = $6, grace_ends_at = NULL, plan_id = COALESCE(pending_plan_id, plan_id), \
             pending_plan_id = NULL WHERE subscription_id = $1"
        )
        .bind(&s.subscription_id)
        .bind(s.period_index + 1)
        .bind(start)
        .bind(end)
        .bind(r.quoted_price_minor)
        .bind(r.quoted_version)
    )?;
    settle(tx, s, RenewalOutcome::Renewed, "").await
}

/// ACTIVE subscriptions not cancelled whose period ends by `until` and whose
/// current term has no renewal record yet.
pub async fn due_for_notice(tx: &mut Tx, until: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, Error> {
    subs(
        tx,
        "s.state = 'ACTIVE' AND NOT s.cancel_at_period_end AND s.period_end <= $1 AND NOT EXISTS \
         (SELECT 1 FROM renewals r WHERE r.subscription_id = s.subscription_id AND r.period_index = s.period_index)",
        until,
    )
    .await
}

/// ACTIVE subscriptions whose period has ended by `now`.
pub async fn ended(tx: &mut Tx, now: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, Error> {
    subs(tx, "s.state = 'ACTIVE' AND s.period_end <= $1", now).await
}

/// PAST_DUE subscriptions whose grace has ended by `now` or whose renewal is
/// paid.
pub async fn settling(tx: &mut Tx, now: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, Error> {
    subs(
        tx,
        "s.state = 'PAST_DUE' AND (s.grace_ends_at <= $1 OR EXISTS (SELECT 1 FROM renewals r \
         JOIN invoices i ON i.invoice_id = r.invoice_id WHERE r.subscription_id = s.subscription_id \
         AND r.period_index = s.period_index AND i.status = 'PAID'))",
        now,
    )
    .await
}

/// A renewal notice as written: the next term's invoice and the record.
#[derive(Debug)]
pub struct Notice<'a> {
    /// The subscription.
    pub subscription: &'a SubscriptionRow,
    /// The new invoice's id.
    pub invoice_id: &'a InvoiceId,
    /// The quoted price.
    pub price_minor: i64,
    /// Currency.
    pub currency: &'a str,
    /// The quoted plan version.
    pub version: i32,
    /// The next term, `[start, end)`.
    pub next: (DateTime<Utc>, DateTime<Utc>),
    /// When it is issued.
    pub now: DateTime<Utc>,
}

/// Issues a renewal notice: the next term's open invoice, due at the period's
/// end, and a PENDING renewal record. False when another cycle issued it.
pub async fn issue(tx: &mut Tx, n: &Notice<'_>) -> Result<bool, Error> {
    let s = n.subscription;
    let issued = execute!(
        tx,
        sqlx::query(
            "INSERT INTO invoices (invoice_id, subscription_id, account_id, kind, status, amount_minor, currency, \
             period_index, period_start, period_end, issued_at, due_at) \
             VALUES ($1, $2, $3, 'RENEWAL', 'OPEN', $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (subscription_id, period_index) WHERE kind IN ('INITIAL', 'RENEWAL') DO NOTHING"
        )
        .bind(n.invoice_id)
        .bind(&s.subscription_id)
        .bind(&s.account_id)
        .bind(n.price_minor)
        .bind(n.currency)
        .bind(s.period_index + 1)
        .bind(n.next.0)
        .bind(n.next.1)
        .bind(n.now)
        .bind(s.period_end)
    )?;
    if issued == 0 {
        return Ok(false);
    }
    execute!(
        tx,
        sqlx::query(
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
        .bind(n.price_minor)
        .bind(n.version)
        .bind(n.currency)
        .bind(n.invoice_id)
    )?;
    Ok(true)
}

/// Renewal records whose term ended in `[from, to)`: (rep, plan, prior, quoted, outcome).
pub async fn book(
    db: &Database,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, String, i64, i64, Named<RenewalOutcome>)>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT sold_by_person_id, plan_id, prior_price_minor, quoted_price_minor, outcome FROM renewals \
         WHERE period_end >= $1 AND period_end < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await?))
}
